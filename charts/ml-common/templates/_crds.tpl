{{/*
ml-common.crds.render: the CustomResourceDefinitions a chart installs, rendered from its files/crds/*.yaml (put
there by scripts/place-crds from the pinned upstream source; never committed). A template and not the chart's
crds/ folder: Helm never upgrades crds/, and `install` must be able to skip them (a second release; CRDs managed
by GitOps). `keep`: uninstalling the chart must not delete the CRDs and with them every custom resource in the
cluster. Each CRD gets the ml-serving-charts.io/crd-source annotation from its <file>.source line, then
`annotations` merged over.
Usage: {{ include "ml-common.crds.render" (dict "context" $ "install" .Values.crd.install "keep" .Values.crd.keep
          "annotations" .Values.crd.annotations) }}
*/}}
{{- define "ml-common.crds.render" -}}
{{- $ctx := .context -}}
{{- if .install }}
{{- $files := $ctx.Files.Glob "files/crds/*.yaml" }}
{{- if not $files }}
{{- fail (printf "crd.install is true but the chart has no CRD in files/crds/: run scripts/place-crds %s before rendering or packaging a checkout (packaged charts contain it), or set crd.install=false and install the CRDs separately" $ctx.Chart.Name) }}
{{- end }}
{{- range $path, $_ := $files }}
{{- $crd := $ctx.Files.Get $path | fromYaml }}
{{- if or $crd.Error (ne ($crd.kind | default "") "CustomResourceDefinition") }}
{{- fail (printf "%s is not one CustomResourceDefinition document (%s): run scripts/place-crds %s again" $path ($crd.Error | default $crd.kind) $ctx.Chart.Name) }}
{{- end }}
{{- $annotations := deepCopy ($crd.metadata.annotations | default dict) }}
{{- with $ctx.Files.Get (printf "%s.source" $path) | trim }}
{{- $_ := set $annotations "ml-serving-charts.io/crd-source" . }}
{{- end }}
{{- if $.keep }}
{{- $_ := set $annotations "helm.sh/resource-policy" "keep" }}
{{- end }}
{{- $annotations = include "ml-common.values.merge" (list $annotations ($.annotations | default dict)) | fromJson }}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {{ $crd.metadata.name }}
  labels:
    {{- include "ml-common.labels.standard" (dict "context" $ctx "component" "crd") | nindent 4 }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- toYaml $crd.spec | nindent 2 }}
{{- end }}
{{- end }}
{{- end -}}
