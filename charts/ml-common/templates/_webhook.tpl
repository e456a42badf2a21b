{{/*
Admission webhooks served by a controller of this suite (seldon-operator, kserve-controller): the serving
certificate Helm makes when cert-manager is not used, kept across upgrades.

ml-common.webhook.dnsNames: the names a webhook Service's certificate must cover (YAML list).
Usage: {{ include "ml-common.webhook.dnsNames" (dict "service" $svc "namespace" .Release.Namespace) }}
*/}}
{{- define "ml-common.webhook.dnsNames" -}}
- {{ .service }}
- {{ .service }}.{{ .namespace }}
- {{ .service }}.{{ .namespace }}.svc
- {{ .service }}.{{ .namespace }}.svc.cluster.local
{{- end -}}

{{/* ml-common.webhook.rotationAnnotation: where the webhook Secret remembers the last rotationId. */}}
{{- define "ml-common.webhook.rotationAnnotation" -}}ml-serving-charts.io/rotation-id{{- end -}}

{{/* ml-common.webhook.rotationId: a rotationId value as a string (YAML integers arrive as float64). */}}
{{- define "ml-common.webhook.rotationId" -}}
{{- if kindIs "float64" . }}{{ printf "%.0f" . }}{{ else }}{{ toString (. | default "") }}{{ end -}}
{{- end -}}

{{/*
ml-common.webhook.tls: a webhook's CA and serving certificate as JSON {"data": {"ca.crt","tls.crt","tls.key"}
(base64, as Secret data), "rotationId": ...}. The existing Secret `secretName` is reused, so the certificate and
the webhook configurations' caBundle stay the same across `helm upgrade` (upstream charts regenerate them on
every render: SeldonIO/seldon-core#2101, #3366). A new CA and certificate are generated only when there is no
usable Secret (first install, or `helm template`, where lookup sees no cluster) or when `rotationId` is set and
differs from the id the Secret remembers (ml-common.webhook.rotationAnnotation). Remembering the id makes a
rotation happen once, although Helm reuses the last values on upgrades that pass none.
Call it once per render: every call without a Secret generates new keys.
Usage: {{ include "ml-common.webhook.tls" (dict "context" $ "secretName" $secret "service" $svc
          "validityDays" .Values.webhook.certificate.validityDays "rotationId" .Values.webhook.certificate.rotationId) | fromJson }}
*/}}
{{- define "ml-common.webhook.tls" -}}
{{- $ctx := .context -}}
{{- $existing := lookup "v1" "Secret" $ctx.Release.Namespace .secretName | default dict -}}
{{- $data := $existing.data | default dict -}}
{{- $remembered := index (($existing.metadata | default dict).annotations | default dict) (include "ml-common.webhook.rotationAnnotation" .) | default "" -}}
{{- $wanted := include "ml-common.webhook.rotationId" .rotationId -}}
{{- $rotate := and $wanted (ne $wanted $remembered) -}}
{{- if and (index $data "ca.crt") (index $data "tls.crt") (index $data "tls.key") (not $rotate) -}}
{{- dict "data" (pick $data "ca.crt" "tls.crt" "tls.key") "rotationId" $remembered | toJson -}}
{{- else -}}
{{- $days := int .validityDays -}}
{{- $ca := genCA (printf "%s-webhook-ca" (include "ml-common.names.fullname" $ctx)) $days -}}
{{- $dnsNames := include "ml-common.webhook.dnsNames" (dict "service" .service "namespace" $ctx.Release.Namespace) | fromYamlArray -}}
{{- $cert := genSignedCert (printf "%s.%s.svc" .service $ctx.Release.Namespace) nil $dnsNames $days $ca -}}
{{- dict "data" (dict "ca.crt" ($ca.Cert | b64enc) "tls.crt" ($cert.Cert | b64enc) "tls.key" ($cert.Key | b64enc)) "rotationId" $wanted | toJson -}}
{{- end -}}
{{- end -}}
