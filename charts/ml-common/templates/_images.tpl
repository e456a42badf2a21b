{{/*
ml-common.images.image: "registry/repository:tag" or "registry/repository@digest", always fully qualified (a
digest wins over a tag). The registry is global.imageRegistry, else the image's own, else the one the
repository names, else docker.io (what a reference without one means to every runtime): written out, never left
for the node to guess (ml-common.images.qualify).
Usage: {{ include "ml-common.images.image" (dict "image" .Values.image "global" .Values.global "defaultTag" .Chart.AppVersion) }}
*/}}
{{- define "ml-common.images.image" -}}
{{- $global := .global | default dict -}}
{{- $repository := required "image.repository is required: set it to the image name, e.g. seldonio/seldon-core-operator" .image.repository -}}
{{- $ref := include "ml-common.images.qualify" (dict "ref" $repository "registry" ($global.imageRegistry | default .image.registry | default "")) -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $ref .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (toString (.image.tag | default .defaultTag | required "image.tag is required: set image.tag or image.digest")) -}}
{{- end -}}
{{- end -}}

{{/*
ml-common.images.qualify: an image reference as written ("seldonio/sklearnserver:1.17.1", "nvcr.io/nvidia/x",
"busybox") with its registry written out. Its first path component is a registry when it holds a "." or a ":"
or is "localhost" (Docker's rule). `registry`, when not empty, replaces the reference's own (a mirror keeps the
path: nvcr.io/nvidia/x -> <mirror>/nvidia/x), unless the reference already starts with `registry` (then it is kept
as written); with neither it is docker.io, and a single name gets library/.
Tag or digest are kept as written.
Usage: {{ include "ml-common.images.qualify" (dict "ref" "seldonio/sklearnserver:1.17.1" "registry" .Values.global.imageRegistry) }}
*/}}
{{- define "ml-common.images.qualify" -}}
{{- if and .registry (hasPrefix (printf "%s/" .registry) .ref) -}}
{{- /* the reference already names this registry (a mirror with a path): replacing its first component would
write the mirror's path twice (mirror.example.com/ml/ml/seldonio/x) */ -}}
{{- .ref -}}
{{- else -}}
{{- $parts := splitList "/" .ref -}}
{{- $own := "" -}}
{{- if and (gt (len $parts) 1) (or (contains "." (first $parts)) (contains ":" (first $parts)) (eq (first $parts) "localhost")) -}}
{{- $own = first $parts -}}
{{- $parts = rest $parts -}}
{{- end -}}
{{- $registry := .registry | default $own | default "docker.io" -}}
{{- if and (eq $registry "docker.io") (eq (len $parts) 1) -}}
{{- $parts = prepend $parts "library" -}}
{{- end -}}
{{- printf "%s/%s" $registry (join "/" $parts) -}}
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
