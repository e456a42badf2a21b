{{/*
ml-common.security.podSecurityContext: a pod securityContext that passes the "restricted" Pod Security
Standard (non-root, RuntimeDefault seccomp), merged under the user's overrides.
Usage: {{- include "ml-common.security.podSecurityContext" .Values.podSecurityContext | nindent 6 }}
*/}}
{{- define "ml-common.security.podSecurityContext" -}}
{{- $defaults := dict "runAsNonRoot" true "runAsUser" 65532 "runAsGroup" 65532 "fsGroup" 65532 "seccompProfile" (dict "type" "RuntimeDefault") -}}
securityContext:
{{- toYaml (mergeOverwrite $defaults (deepCopy (. | default dict))) | nindent 2 }}
{{- end -}}

{{/*
ml-common.security.containerSecurityContext: a container securityContext that passes "restricted":
no privilege escalation, every capability dropped, read-only root filesystem, non-root, RuntimeDefault
seccomp; the user's overrides are merged on top.
Usage: {{- include "ml-common.security.containerSecurityContext" .Values.securityContext | nindent 10 }}
*/}}
{{- define "ml-common.security.containerSecurityContext" -}}
{{- $defaults := dict "allowPrivilegeEscalation" false "readOnlyRootFilesystem" true "runAsNonRoot" true "capabilities" (dict "drop" (list "ALL")) "seccompProfile" (dict "type" "RuntimeDefault") -}}
securityContext:
{{- toYaml (mergeOverwrite $defaults (deepCopy (. | default dict))) | nindent 2 }}
{{- end -}}
