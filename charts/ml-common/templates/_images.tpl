{{/*
ml-common.images.image: "registry/repository:tag" or "registry/repository@digest" (a digest wins over a
tag; global.imageRegistry wins over the image's own registry; an empty registry is left out).
Usage: {{ include "ml-common.images.image" (dict "image" .Values.image "global" .Values.global "defaultTag" .Chart.AppVersion) }}
*/}}
{{- define "ml-common.images.image" -}}
{{- $global := .global | default dict -}}
{{- $registry := $global.imageRegistry | default .image.registry | default "" -}}
{{- $repository := required "image.repository is required: set it to the image name, e.g. seldonio/seldon-core-operator" .image.repository -}}
{{- $ref := $repository -}}
{{- if $registry }}{{ $ref = printf "%s/%s" $registry $repository }}{{ end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $ref .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (toString (.image.tag | default .defaultTag | required "image.tag is required: set image.tag or image.digest")) -}}
{{- end -}}
{{- end -}}

{{/*
ml-common.images.pullSecrets: imagePullSecrets from global.imagePullSecrets and the given list, as
[{name: ...}]; accepts names or {name: ...} entries. Renders nothing when both are empty.
Usage: {{- with include "ml-common.images.pullSecrets" (dict "secrets" .Values.imagePullSecrets "global" .Values.global) }}{{ . | nindent 6 }}{{ end }}
*/}}
{{- define "ml-common.images.pullSecrets" -}}
{{- $names := list -}}
{{- $global := .global | default dict -}}
{{- range (concat ($global.imagePullSecrets | default list) (.secrets | default list)) -}}
{{- if kindIs "map" . -}}
{{- $names = append $names .name -}}
{{- else -}}
{{- $names = append $names . -}}
{{- end -}}
{{- end -}}
{{- with ($names | uniq) -}}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}
