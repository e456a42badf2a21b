{{/*
ml-common.labels.standard: the recommended app.kubernetes.io/* labels plus helm.sh/chart, and
commonLabels from values. "component" is optional (it comes with the selector labels).
Usage: {{ include "ml-common.labels.standard" (dict "context" $ "component" "controller") }}
*/}}
{{- define "ml-common.labels.standard" -}}
{{ include "ml-common.labels.selector" . }}
app.kubernetes.io/version: {{ .context.Chart.AppVersion | default .context.Chart.Version | replace "+" "_" | trunc 63 | quote }}
app.kubernetes.io/part-of: ml-serving-charts
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
helm.sh/chart: {{ include "ml-common.names.chart" .context }}
{{- with .context.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
ml-common.labels.selector: name + instance (+ component when given) only. Selectors are immutable,
so nothing that can change between upgrades (versions, user labels) may ever appear here.
Usage: {{ include "ml-common.labels.selector" (dict "context" $ "component" "controller") }}
*/}}
{{- define "ml-common.labels.selector" -}}
app.kubernetes.io/name: {{ include "ml-common.names.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}
