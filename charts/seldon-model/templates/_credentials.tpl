{{/*
seldon-model.credentials.pattern: env names that hold credentials (*_SECRET*, *_TOKEN, *PASSWORD*, *_KEY, any case).
*/}}
{{- define "seldon-model.credentials.pattern" -}}(?i)^(.*_SECRET.*|.*_TOKEN|.*PASSWORD.*|.*_KEY)${{- end -}}

{{/*
seldon-model.credentials.refuseLiterals: fails the render when an env entry named like a credential has a
literal value. Values end up in the SeldonDeployment and in the Helm release (a Secret in the release
namespace), so such a value is readable by whoever may read either; a valueFrom reference is not.
Usage: {{- include "seldon-model.credentials.refuseLiterals" (dict "env" $c.env "path" "predictors[0].components.classifier.env") }}
*/}}
{{- define "seldon-model.credentials.refuseLiterals" -}}
{{- $pattern := include "seldon-model.credentials.pattern" . -}}
{{- range $i, $var := (kindIs "slice" .env | ternary .env list) -}}
{{- if and (kindIs "map" $var) (regexMatch $pattern (toString ($var.name | default ""))) (not (kindIs "invalid" $var.value)) (ne (toString $var.value) "") -}}
{{- fail (printf "%s[%d] sets %s to a literal value: a credential in values is stored in the SeldonDeployment and the Helm release, readable by anyone who can read either. Take it from a Secret instead: {name: %s, valueFrom: {secretKeyRef: {name: <secret>, key: <key>}}}; for model storage credentials, put them in a Secret and name it in the graph node's (or explainer's) envSecretRefName (values/seldon-model/s3-secret.yaml). Not a secret? Take it from a ConfigMap (valueFrom.configMapKeyRef)" $.path $i $var.name $var.name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
