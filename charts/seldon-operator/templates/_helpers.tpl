{{/*
seldon-operator.clusterName: name of a cluster-scoped object. Two releases may share a release name in
different namespaces (single-namespace mode), so the namespace is part of the name.
Usage: {{ include "seldon-operator.clusterName" (dict "context" $ "component" "manager") }}
*/}}
{{- define "seldon-operator.clusterName" -}}
{{- printf "%s-%s-%s" (include "ml-common.names.fullname" .context) .context.Release.Namespace .component | trunc 253 | trimSuffix "-" -}}
{{- end -}}

{{/* seldon-operator.webhook.serviceName: the Service the API server calls for validation. */}}
{{- define "seldon-operator.webhook.serviceName" -}}
{{- include "ml-common.names.component" (dict "context" . "component" "webhook") -}}
{{- end -}}

{{/*
seldon-operator.webhook.secretName: the Secret holding the webhook's serving certificate. cert-manager's
Secret has its own name, so switching certManager.enabled never makes Helm and cert-manager fight over one.
*/}}
{{- define "seldon-operator.webhook.secretName" -}}
{{- include "ml-common.names.component" (dict "context" . "component" (ternary "webhook-cert-manager-tls" "webhook-tls" .Values.certManager.enabled)) -}}
{{- end -}}

{{/* seldon-operator.webhook.dnsNames: the names the serving certificate must cover (YAML list). */}}
{{- define "seldon-operator.webhook.dnsNames" -}}
{{- include "ml-common.webhook.dnsNames" (dict "service" (include "seldon-operator.webhook.serviceName" .) "namespace" .Release.Namespace) -}}
{{- end -}}

{{/* seldon-operator.webhook.rotationId: webhook.certificate.rotationId as a string. */}}
{{- define "seldon-operator.webhook.rotationId" -}}
{{- include "ml-common.webhook.rotationId" .Values.webhook.certificate.rotationId -}}
{{- end -}}

{{/*
seldon-operator.webhook.tls: the webhook's CA and serving certificate, kept across upgrades; a new rotationId
rotates them over two upgrades without a window where the API server distrusts the served certificate
(ml-common.webhook.phasedTLS says how). Call it once per render.
*/}}
{{- define "seldon-operator.webhook.tls" -}}
{{- include "ml-common.webhook.phasedTLS" (dict "context" . "secretName" (include "seldon-operator.webhook.secretName" .) "service" (include "seldon-operator.webhook.serviceName" .) "validityDays" .Values.webhook.certificate.validityDays "rotationId" .Values.webhook.certificate.rotationId "minStepSeconds" .Values.webhook.certificate.rotationStepSeconds) -}}
{{- end -}}

{{/*
seldon-operator.managerEnv: the manager's environment derived from values (YAML list). Names here may not
be repeated in extraEnv (Helm 4's server-side apply rejects duplicate env names).
*/}}
{{- define "seldon-operator.managerEnv" -}}
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: WATCH_NAMESPACE
  value: {{ ternary .Release.Namespace "" .Values.singleNamespace | quote }}
- name: CONTROLLER_ID
  value: {{ .Values.controllerId | quote }}
- name: MANAGER_CREATE_RESOURCES
  value: "false"
- name: DEFAULT_USER_ID
  value: {{ .Values.defaultUserId | toString | quote }}
- name: USE_EXECUTOR
  value: {{ .Values.executor.enabled | quote }}
- name: EXECUTOR_CONTAINER_IMAGE_AND_VERSION
  value: {{ include "ml-common.images.image" (dict "image" .Values.executor.image "global" .Values.global "defaultTag" .Chart.AppVersion) | quote }}
- name: EXECUTOR_CONTAINER_IMAGE_PULL_POLICY
  value: {{ .Values.executor.image.pullPolicy | quote }}
- name: EXECUTOR_SERVER_PORT
  value: {{ .Values.executor.port | quote }}
- name: EXECUTOR_SERVER_METRICS_PORT_NAME
  value: {{ .Values.executor.metricsPortName | quote }}
- name: EXECUTOR_PROMETHEUS_PATH
  value: {{ .Values.executor.prometheusPath | quote }}
- name: EXECUTOR_CONTAINER_USER
  value: {{ .Values.executor.user | quote }}
- name: EXECUTOR_CONTAINER_SERVICE_ACCOUNT_NAME
  value: {{ .Values.executor.serviceAccountName | quote }}
- name: EXECUTOR_FULL_HEALTH_CHECKS
  value: {{ .Values.executor.fullHealthChecks | quote }}
- name: EXECUTOR_SHUTDOWN_DELAY
  value: {{ .Values.executor.shutdownDelay | quote }}
- name: EXECUTOR_DEFAULT_CPU_REQUEST
  value: {{ .Values.executor.resources.requests.cpu | quote }}
- name: EXECUTOR_DEFAULT_MEMORY_REQUEST
  value: {{ .Values.executor.resources.requests.memory | quote }}
- name: EXECUTOR_DEFAULT_CPU_LIMIT
  value: {{ .Values.executor.resources.limits.cpu | quote }}
- name: EXECUTOR_DEFAULT_MEMORY_LIMIT
  value: {{ .Values.executor.resources.limits.memory | quote }}
- name: EXECUTOR_REQUEST_LOGGER_DEFAULT_ENDPOINT
  value: {{ .Values.executor.requestLogger.defaultEndpoint | quote }}
- name: EXECUTOR_REQUEST_LOGGER_WORK_QUEUE_SIZE
  value: {{ .Values.executor.requestLogger.workQueueSize | quote }}
- name: EXECUTOR_REQUEST_LOGGER_WRITE_TIMEOUT_MS
  value: {{ .Values.executor.requestLogger.writeTimeoutMs | quote }}
- name: PREDICTIVE_UNIT_HTTP_SERVICE_PORT
  value: {{ .Values.predictiveUnit.httpPort | quote }}
- name: PREDICTIVE_UNIT_GRPC_SERVICE_PORT
  value: {{ .Values.predictiveUnit.grpcPort | quote }}
- name: PREDICTIVE_UNIT_METRICS_PORT_NAME
  value: {{ .Values.predictiveUnit.metricsPortName | quote }}
- name: PREDICTIVE_UNIT_DEFAULT_ENV_SECRET_REF_NAME
  value: {{ .Values.predictiveUnit.defaultEnvSecretRefName | quote }}
- name: ISTIO_ENABLED
  value: {{ .Values.istio.enabled | quote }}
- name: ISTIO_GATEWAY
  value: {{ .Values.istio.gateway | quote }}
- name: ISTIO_TLS_MODE
  value: {{ .Values.istio.tlsMode | quote }}
- name: AMBASSADOR_ENABLED
  value: {{ .Values.ambassador.enabled | quote }}
{{- /* v1 (Service annotations) as upstream's manager config sets it: unset, main.go registers no v2 scheme (its
default is v1) while SetupWithManager watches v2 Mappings (its default is v2), and the manager exits at start */}}
- name: AMBASSADOR_VERSION
  value: "v1"
- name: AMBASSADOR_SINGLE_NAMESPACE
  value: {{ .Values.ambassador.singleNamespace | quote }}
- name: KEDA_ENABLED
  value: {{ .Values.keda.enabled | quote }}
{{- end -}}

{{/*
seldon-operator.validate: fails the render, naming the value and the fix, for combinations the schema
cannot express.
*/}}
{{- define "seldon-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) -}}
{{- fail (printf "replicaCount is %d but leaderElection.enabled is false: every replica would reconcile the same SeldonDeployments and fight over their Deployments; set leaderElection.enabled=true or replicaCount=1" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if .Values.pdb.enabled -}}
{{- $min := toString .Values.pdb.minAvailable -}}
{{- $max := toString .Values.pdb.maxUnavailable -}}
{{- if eq (empty $min) (empty $max) -}}
{{- fail (printf "pdb sets minAvailable (%q) and maxUnavailable (%q): a PodDisruptionBudget takes exactly one; set the other to \"\"" $min $max) -}}
{{- end -}}
{{- if and $min (regexMatch "^[0-9]+$" $min) (ge (atoi $min) (int .Values.replicaCount)) -}}
{{- fail (printf "pdb.minAvailable is %s with replicaCount %d: no operator pod could ever be evicted, so node drains would hang; raise replicaCount (e.g. 2) or lower pdb.minAvailable" $min (int .Values.replicaCount)) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.certManager.enabled .Values.webhook.certificate.rotationId -}}
{{- fail (printf "webhook.certificate.rotationId is %q but certManager.enabled is true: cert-manager renews its certificate itself (or on demand with `cmctl renew`); set webhook.certificate.rotationId=\"\"" (include "seldon-operator.webhook.rotationId" .)) -}}
{{- end -}}
{{- $own := list -}}
{{- range (include "seldon-operator.managerEnv" . | fromYamlArray) -}}
{{- $own = append $own .name -}}
{{- end -}}
{{- range .Values.extraEnv -}}
{{- if eq .name "LEADER_ELECTION_ID" -}}
{{- fail "extraEnv sets LEADER_ELECTION_ID: the chart's Role grants the leader-election lock by its name; set leaderElection.id instead" -}}
{{- end -}}
{{- if has .name $own -}}
{{- fail (printf "extraEnv sets %s, which the chart already sets from its values: use the value documented for %s in the README instead of extraEnv" .name .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
