{{/*
ml-common.webhook.phasedTLS: ml-common.webhook.tls with a rotation that never leaves a window where the API server
distrusts the certificate the webhook serves (issue 18, point 5). Returned as JSON:
  {"data": <Secret data>, "annotations": <Secret annotations>, "caBundle": <base64 PEM bundle>,
   "notAfter": <unix seconds the served certificate expires at, 0 when unknown>, "phase": "", "trusting" or "switched"}

A new rotationId does not swap the certificate at once (the API server would distrust the old one the
moment the caBundle changes, while the kubelet takes up to a minute or two to put the new files into the pod).
It takes one upgrade per phase, each remembered in the Secret's annotations:
  1. trusting  a new CA and serving certificate are made and kept beside the current ones (next-*); the caBundle
               holds both CAs; the webhook still serves the current certificate.
  2. switched  (the next render, at least minStepSeconds later) the new certificate is the served one; the caBundle
               still holds the old CA (previous-ca.crt) for pods that have not reloaded their files yet.
  3. done      (any later render, at least minStepSeconds after the switch) the old CA leaves the caBundle.
A render sooner than minStepSeconds after the last step keeps the phase. The served certificate's expiry is
kept in the annotation ml-serving-charts.io/not-after (unix seconds), for the expiry alert.
Call it once per render. Usage:
  {{ include "ml-common.webhook.phasedTLS" (dict "context" $ "secretName" $secret "service" $svc
       "validityDays" 3650 "rotationId" .Values.webhook.certificate.rotationId "minStepSeconds" 120) | fromJson }}
*/}}
{{- define "ml-common.webhook.phasedTLS" -}}
{{- $ctx := .context -}}
{{- $existing := lookup "v1" "Secret" $ctx.Release.Namespace .secretName | default dict -}}
{{- $data := $existing.data | default dict -}}
{{- $ann := ($existing.metadata | default dict).annotations | default dict -}}
{{- $idKey := include "ml-common.webhook.rotationAnnotation" . -}}
{{- $phaseKey := "ml-serving-charts.io/rotation-phase" -}}
{{- $sinceKey := "ml-serving-charts.io/rotation-phase-since" -}}
{{- $notAfterKey := "ml-serving-charts.io/not-after" -}}
{{- $nextNotAfterKey := "ml-serving-charts.io/next-not-after" -}}
{{- $remembered := index $ann $idKey | default "" -}}
{{- $phase := index $ann $phaseKey | default "" -}}
{{- $since := index $ann $sinceKey | default "0" | int64 -}}
{{- $now := now | unixEpoch | int64 -}}
{{- $step := 120 -}}
{{- if not (kindIs "invalid" .minStepSeconds) }}{{ $step = .minStepSeconds }}{{ end -}}
{{- $ripe := ge (sub $now $since) (int64 $step) -}}
{{- $wanted := include "ml-common.webhook.rotationId" .rotationId -}}
{{- $days := int .validityDays -}}
{{- $dnsNames := include "ml-common.webhook.dnsNames" (dict "service" .service "namespace" $ctx.Release.Namespace) | fromYamlArray -}}
{{- $cn := printf "%s.%s.svc" .service $ctx.Release.Namespace -}}
{{- $caName := printf "%s-webhook-ca" (include "ml-common.names.fullname" $ctx) -}}
{{- $out := dict "data" (dict) "annotations" (dict) -}}
{{- if not (and (index $data "ca.crt") (index $data "tls.crt") (index $data "tls.key")) -}}
{{- /* first install (or helm template): a CA and certificate of its own, trusted alone */ -}}
{{- $ca := genCA $caName $days -}}
{{- $cert := genSignedCert $cn nil $dnsNames $days $ca -}}
{{- $_ := set $out "data" (dict "ca.crt" ($ca.Cert | b64enc) "tls.crt" ($cert.Cert | b64enc) "tls.key" ($cert.Key | b64enc)) -}}
{{- $_ := set $out "annotations" (dict $idKey $wanted $notAfterKey (toString (add $now (mul $days 86400)))) -}}
{{- $_ := set $out "phase" "" -}}
{{- else if and (eq $phase "trusting") $ripe (index $data "next-ca.crt") -}}
{{- /* 2. switch: the new certificate is served, the old CA stays trusted */ -}}
{{- $_ := set $out "data" (dict "ca.crt" (index $data "next-ca.crt") "tls.crt" (index $data "next-tls.crt") "tls.key" (index $data "next-tls.key") "previous-ca.crt" (index $data "ca.crt")) -}}
{{- $_ := set $out "annotations" (dict $idKey $remembered $phaseKey "switched" $sinceKey (toString $now) $notAfterKey (index $ann $nextNotAfterKey | default "0")) -}}
{{- $_ := set $out "phase" "switched" -}}
{{- else if and (eq $phase "switched") $ripe -}}
{{- /* 3. done: the old CA leaves the bundle */ -}}
{{- $_ := set $out "data" (pick $data "ca.crt" "tls.crt" "tls.key") -}}
{{- $_ := set $out "annotations" (dict $idKey $remembered $notAfterKey (index $ann $notAfterKey | default "0")) -}}
{{- $_ := set $out "phase" "" -}}
{{- else if and (eq $phase "") $wanted (ne $wanted $remembered) -}}
{{- /* 1. trusting: a new CA and certificate beside the current ones, both CAs in the bundle */ -}}
{{- $ca := genCA $caName $days -}}
{{- $cert := genSignedCert $cn nil $dnsNames $days $ca -}}
{{- $_ := set $out "data" (merge (dict "next-ca.crt" ($ca.Cert | b64enc) "next-tls.crt" ($cert.Cert | b64enc) "next-tls.key" ($cert.Key | b64enc)) (pick $data "ca.crt" "tls.crt" "tls.key")) -}}
{{- $_ := set $out "annotations" (dict $idKey $wanted $phaseKey "trusting" $sinceKey (toString $now) $notAfterKey (index $ann $notAfterKey | default "0") $nextNotAfterKey (toString (add $now (mul $days 86400)))) -}}
{{- $_ := set $out "phase" "trusting" -}}
{{- else -}}
{{- /* nothing to do, or a step asked for too soon: everything as it is */ -}}
{{- $_ := set $out "data" $data -}}
{{- $_ := set $out "annotations" (omit $ann "meta.helm.sh/release-name" "meta.helm.sh/release-namespace") -}}
{{- $_ := set $out "phase" $phase -}}
{{- end -}}
{{- $bundle := list (index $out.data "ca.crt" | b64dec) -}}
{{- range $k := list "next-ca.crt" "previous-ca.crt" -}}
{{- with index $out.data $k }}{{ $bundle = append $bundle (b64dec .) }}{{ end -}}
{{- end -}}
{{- $_ := set $out "caBundle" (join "" $bundle | b64enc) -}}
{{- $_ := set $out "notAfter" (index $out.annotations $notAfterKey | default "0" | int64) -}}
{{- $_ := set $out "rotationId" (index $out.annotations $idKey | default "") -}}
{{- $out | toJson -}}
{{- end -}}
