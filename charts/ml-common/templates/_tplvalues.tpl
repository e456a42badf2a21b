{{/*
ml-common.tplvalues.render: renders a value that may contain template expressions (string or structure).
Usage: {{ include "ml-common.tplvalues.render" (dict "value" .Values.podAnnotations "context" $) }}
*/}}
{{- define "ml-common.tplvalues.render" -}}
{{- $value := typeIs "string" .value | ternary .value (.value | toYaml) -}}
{{- if contains "{{" $value -}}
{{- tpl $value .context -}}
{{- else -}}
{{- $value -}}
{{- end -}}
{{- end -}}
