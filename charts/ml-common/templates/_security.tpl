{{/*
Security contexts: the ONE place a chart's pod and container securityContexts are built. No chart writes
a securityContext of its own; each passes its values here.

Contract. Both helpers start from the same defaults:
  pod:       runAsNonRoot: true, runAsUser/runAsGroup/fsGroup: 65532, seccompProfile: RuntimeDefault
  container: runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities.drop: [ALL],
             readOnlyRootFilesystem: true, seccompProfile: RuntimeDefault
and merge the caller's overrides ("securityContext", from values) over them with ml-common.values.merge
(so an override of false or 0 takes effect). Then, by "profile":
- "restricted" (the default): the result is GUARANTEED to pass the restricted Pod Security Standard.
  Overrides may change what restricted leaves free (another non-root user, readOnlyRootFilesystem: false,
  a Localhost seccomp profile, adding NET_BIND_SERVICE); an override that breaks restricted
  (runAsNonRoot: false, runAsUser: 0, privileged, allowPrivilegeEscalation: true, capabilities.drop
  without ALL, any other added capability, seccomp Unconfined) fails the render, naming the value.
- "privileged": for node agents only (kubelet hostPath sockets, root), in a namespace labelled
  pod-security.kubernetes.io/enforce=privileged; their owner carries the annotations
  ml-serving-charts.io/pod-security: privileged and ml-serving-charts.io/pod-security-reason. Overrides
  may run as root and add capabilities; a container with privileged: true gets only privileged and the
  seccomp profile besides the overrides (Kubernetes rejects allowPrivilegeEscalation: false with
  privileged, and a privileged container has every capability anyway). The seccomp profile stays
  RuntimeDefault unless overridden with Localhost.
Arguments: (dict "securityContext" <overrides map or null> "path" "<their place in values, for messages>"
"profile" "restricted"|"privileged"); (dict) gives the restricted defaults.
*/}}

{{/*
ml-common.security.podSecurityContext: `securityContext:` of a pod spec (see the contract above).
Usage: {{- include "ml-common.security.podSecurityContext" (dict "securityContext" .Values.podSecurityContext "path" "podSecurityContext") | nindent 6 }}
*/}}
{{- define "ml-common.security.podSecurityContext" -}}
{{- $defaults := dict "runAsNonRoot" true "runAsUser" 65532 "runAsGroup" 65532 "fsGroup" 65532 "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- $sc := include "ml-common.values.merge" (list $defaults .securityContext) | fromJson -}}
{{- $path := .path | default "podSecurityContext" -}}
{{- include "ml-common.security.checkSeccomp" (dict "sc" $sc "path" $path) -}}
{{- if ne (include "ml-common.security.profile" .) "privileged" -}}
{{- include "ml-common.security.checkUser" (dict "sc" $sc "path" $path) -}}
{{- end -}}
securityContext:
{{- toYaml $sc | nindent 2 }}
{{- end -}}

{{/*
ml-common.security.containerSecurityContext: `securityContext:` of a container (see the contract above).
Usage: {{- include "ml-common.security.containerSecurityContext" (dict "securityContext" .Values.securityContext "path" "securityContext") | nindent 10 }}
*/}}
{{- define "ml-common.security.containerSecurityContext" -}}
{{- $defaults := dict "allowPrivilegeEscalation" false "readOnlyRootFilesystem" true "runAsNonRoot" true "capabilities" (dict "drop" (list "ALL")) "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- $overrides := .securityContext | default dict -}}
{{- $path := .path | default "securityContext" -}}
{{- $privileged := eq (include "ml-common.security.profile" .) "privileged" -}}
{{- if and $privileged $overrides.privileged -}}
{{- $defaults = dict "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- end -}}
{{- $sc := include "ml-common.values.merge" (list $defaults $overrides) | fromJson -}}
{{- include "ml-common.security.checkSeccomp" (dict "sc" $sc "path" $path) -}}
{{- if not $privileged -}}
{{- include "ml-common.security.checkUser" (dict "sc" $sc "path" $path) -}}
{{- if $sc.privileged -}}
{{- fail (printf "%s: privileged is true, which the restricted Pod Security Standard forbids: remove it" $path) -}}
{{- end -}}
{{- if ne (toString $sc.allowPrivilegeEscalation) "false" -}}
{{- fail (printf "%s: allowPrivilegeEscalation is %v, but the restricted Pod Security Standard requires false: remove allowPrivilegeEscalation from it" $path $sc.allowPrivilegeEscalation) -}}
{{- end -}}
{{- $capabilities := $sc.capabilities | default dict -}}
{{- if not (has "ALL" ($capabilities.drop | default list)) -}}
{{- fail (printf "%s: capabilities.drop is %s, but the restricted Pod Security Standard requires it to contain ALL: add ALL, or remove capabilities.drop from it" $path (toJson $capabilities.drop)) -}}
{{- end -}}
{{- range ($capabilities.add | default list) -}}
{{- if ne . "NET_BIND_SERVICE" -}}
{{- fail (printf "%s: capabilities.add has %s, but the restricted Pod Security Standard allows only NET_BIND_SERVICE: remove %s" $path . .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
securityContext:
{{- toYaml $sc | nindent 2 }}
{{- end -}}

{{/* ml-common.security.profile: "restricted" or "privileged" from the arguments; fails on anything else. */}}
{{- define "ml-common.security.profile" -}}
{{- $profile := .profile | default "restricted" -}}
{{- if not (has $profile (list "restricted" "privileged")) -}}
{{- fail (printf "ml-common security helpers: profile %q is not restricted or privileged" $profile) -}}
{{- end -}}
{{- $profile -}}
{{- end -}}

{{/* ml-common.security.checkUser: fails when a securityContext runs as root (restricted profile only). */}}
{{- define "ml-common.security.checkUser" -}}
{{- if and (hasKey .sc "runAsNonRoot") (ne (toString .sc.runAsNonRoot) "true") -}}
{{- fail (printf "%s: runAsNonRoot is %v, but the restricted Pod Security Standard requires true: remove runAsNonRoot from it" .path .sc.runAsNonRoot) -}}
{{- end -}}
{{- if and (hasKey .sc "runAsUser") (eq (toString .sc.runAsUser) "0") -}}
{{- fail (printf "%s: runAsUser is 0 (root), which the restricted Pod Security Standard forbids: set a non-zero user id" .path) -}}
{{- end -}}
{{- end -}}

{{/* ml-common.security.checkSeccomp: fails unless the seccomp profile is RuntimeDefault or Localhost (every profile). */}}
{{- define "ml-common.security.checkSeccomp" -}}
{{- $type := (.sc.seccompProfile | default dict).type | default "" -}}
{{- if not (has $type (list "RuntimeDefault" "Localhost")) -}}
{{- fail (printf "%s: seccompProfile.type is %q, but every pod of these charts needs RuntimeDefault or Localhost (restricted Pod Security Standard): remove seccompProfile from it, or set one of those" .path $type) -}}
{{- end -}}
{{- end -}}
