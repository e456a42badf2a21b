{{/*
ml-common.labels.standard: every label of an object as ONE map (YAML), so no key is ever written twice:
the recommended app.kubernetes.io/* labels and helm.sh/chart, then commonLabels from values, then the
object's own customLabels (e.g. a monitor's `release`, a chart value such as podLabels). A later source
wins on a shared key (customLabels over commonLabels over the standard labels), except for the selector
labels (app.kubernetes.io/name, instance and component): they always keep the chart's value, because the
object's selectors and Services match on them. "component" and "customLabels" are optional.
Usage: {{ include "ml-common.labels.standard" (dict "context" $ "component" "controller" "customLabels" .Values.podLabels) }}
*/}}
{{- define "ml-common.labels.standard" -}}
{{- $context := .context -}}
{{- $selector := include "ml-common.labels.selector" . | fromYaml -}}
{{- $standard := dict
      "app.kubernetes.io/version" ($context.Chart.AppVersion | default $context.Chart.Version | replace "+" "_" | trunc 63)
      "app.kubernetes.io/part-of" "ml-serving-charts"
      "app.kubernetes.io/managed-by" $context.Release.Service
      "helm.sh/chart" (include "ml-common.names.chart" $context) -}}
{{- $labels := include "ml-common.values.merge" (list $standard $context.Values.commonLabels .customLabels $selector) | fromJson -}}
{{- $lines := list -}}
{{- range $key, $value := $labels -}}
{{- $lines = append $lines (printf "%s: %s" $key (toString $value | quote)) -}}
{{- end -}}
{{- join "\n" $lines -}}
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
