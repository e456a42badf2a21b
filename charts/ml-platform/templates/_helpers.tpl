{{/*
ml-platform.subchartFullname: the fullname a component subchart gives its objects, computed with
ml-common's own helper from that subchart's values, so the umbrella's test finds them by name.
Usage: {{ include "ml-platform.subchartFullname" (dict "context" $ "chart" "seldon-operator") }}
*/}}
{{- define "ml-platform.subchartFullname" -}}
{{- $values := index .context.Values .chart | default dict -}}
{{- include "ml-common.names.fullname" (dict "Values" $values "Chart" (dict "Name" .chart) "Release" .context.Release) -}}
{{- end -}}
