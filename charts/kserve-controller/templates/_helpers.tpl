{{/*
kserve-controller.clusterName: name of a cluster-scoped object (ClusterRole, webhook configurations): the
namespace is part of it, so two releases of one name in different namespaces never collide.
*/}}
{{- define "kserve-controller.clusterName" -}}
{{- printf "%s-%s-%s" (include "ml-common.names.fullname" .context) .context.Release.Namespace .component | trunc 253 | trimSuffix "-" -}}
{{- end -}}

{{/* kserve-controller.webhook.serviceName: the Service the API server calls for admission. */}}
{{- define "kserve-controller.webhook.serviceName" -}}
{{- include "ml-common.names.component" (dict "context" . "component" "webhook") -}}
{{- end -}}

{{/* kserve-controller.webhook.secretName: the Secret of the webhook's serving certificate (cert-manager's has its own name). */}}
{{- define "kserve-controller.webhook.secretName" -}}
{{- include "ml-common.names.component" (dict "context" . "component" (ternary "webhook-cert-manager-tls" "webhook-tls" .Values.certManager.enabled)) -}}
{{- end -}}

{{/* kserve-controller.webhook.tls: CA and serving certificate, kept across upgrades (ml-common.webhook.tls). Call once per render. */}}
{{- define "kserve-controller.webhook.tls" -}}
{{- include "ml-common.webhook.tls" (dict "context" . "secretName" (include "kserve-controller.webhook.secretName" .) "service" (include "kserve-controller.webhook.serviceName" .) "validityDays" .Values.webhook.certificate.validityDays "rotationId" .Values.webhook.certificate.rotationId) -}}
{{- end -}}

{{/* kserve-controller.image: an image block of this chart's values as a fully qualified reference. */}}
{{- define "kserve-controller.image" -}}
{{- include "ml-common.images.image" (dict "image" .image "global" .context.Values.global "defaultTag" .context.Chart.AppVersion) -}}
{{- end -}}

{{/*
kserve-controller.runtimes: the ClusterServingRuntimes to install: name -> values, the enabled ones only. An
enabled runtime without an image fails the render, naming the value to set.
*/}}
{{- define "kserve-controller.runtimes" -}}
{{- $out := dict -}}
{{- range $name, $runtime := .Values.runtimes -}}
{{- if $runtime.enabled -}}
{{- if not ($runtime.image.repository | default "") -}}
{{- fail (printf "runtimes.%s.enabled is true but runtimes.%s.image.repository is empty: this suite builds no %s image; set runtimes.%s.image.repository (and tag or digest) to an image you provide, or leave runtimes.%s.enabled=false" $name $name $name $name $name) -}}
{{- end -}}
{{- $_ := set $out $name $runtime -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
kserve-controller.config: the inferenceservice-config ConfigMap's data, one JSON document per key, as the
controller reads them (pkg/apis/serving/v1beta1/configmap.go and friends).
*/}}
{{- define "kserve-controller.config" -}}
{{- $c := .Values.config -}}
{{- $si := $c.storageInitializer -}}
{{- $agent := $c.agent -}}
{{- $agentImage := "" -}}
{{- if $agent.image.repository -}}
{{- $agentImage = include "kserve-controller.image" (dict "image" $agent.image "context" .) -}}
{{- end -}}
{{- $agentResources := dict "memoryRequest" $agent.memoryRequest "memoryLimit" $agent.memoryLimit "cpuRequest" $agent.cpuRequest "cpuLimit" $agent.cpuLimit -}}
{{- $explainers := dict -}}
{{- range $name, $e := $c.explainers -}}
{{- if $e.image -}}
{{- $_ := set $explainers $name (dict "image" (include "ml-common.images.qualify" (dict "ref" $e.image "registry" ($.Values.global.imageRegistry | default ""))) "defaultImageVersion" $e.defaultImageVersion) -}}
{{- end -}}
{{- end -}}
deploy: {{ dict "defaultDeploymentMode" $c.deploy.defaultDeploymentMode | toJson | quote }}
ingress: {{ $c.ingress | toJson | quote }}
storageInitializer: {{ dict "image" (include "kserve-controller.image" (dict "image" $si.image "context" .)) "cpuRequest" $si.cpuRequest "cpuLimit" $si.cpuLimit "memoryRequest" $si.memoryRequest "memoryLimit" $si.memoryLimit "caBundleConfigMapName" $si.caBundleConfigMapName "caBundleVolumeMountPath" $si.caBundleVolumeMountPath "enableModelcar" $si.enableModelcar | toJson | quote }}
credentials: {{ $c.credentials | toJson | quote }}
router: {{ dict "image" (include "kserve-controller.image" (dict "image" $c.router.image "context" .)) "imagePullPolicy" $c.router.imagePullPolicy "cpuRequest" $c.router.cpuRequest "cpuLimit" $c.router.cpuLimit "memoryRequest" $c.router.memoryRequest "memoryLimit" $c.router.memoryLimit "headers" $c.router.headers | toJson | quote }}
agent: {{ merge (dict "image" $agentImage) $agentResources | toJson | quote }}
logger: {{ merge (dict "image" $agentImage "defaultUrl" $agent.loggerDefaultUrl) $agentResources | toJson | quote }}
batcher: {{ merge (dict "image" $agentImage "maxBatchSize" $agent.batcherMaxBatchSize "maxLatency" $agent.batcherMaxLatency) $agentResources | toJson | quote }}
explainers: {{ $explainers | toJson | quote }}
security: {{ $c.security | toJson | quote }}
metricsAggregator: {{ $c.metricsAggregator | toJson | quote }}
inferenceService: {{ $c.inferenceService | toJson | quote }}
autoscaler: {{ $c.autoscaler | toJson | quote }}
localModel: {{ dict "enabled" false | toJson | quote }}
{{- end -}}

{{/*
kserve-controller.validate: fails the render, naming the value and the fix, for what the schema cannot express.
*/}}
{{- define "kserve-controller.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) -}}
{{- fail (printf "replicaCount is %d but leaderElection.enabled is false: every replica would reconcile the same InferenceServices and fight over their Deployments; set leaderElection.enabled=true or replicaCount=1" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if .Values.pdb.enabled -}}
{{- $min := toString .Values.pdb.minAvailable -}}
{{- $max := toString .Values.pdb.maxUnavailable -}}
{{- if eq (empty $min) (empty $max) -}}
{{- fail (printf "pdb sets minAvailable (%q) and maxUnavailable (%q): a PodDisruptionBudget takes exactly one; set the other to \"\"" $min $max) -}}
{{- end -}}
{{- if and $min (regexMatch "^[0-9]+$" $min) (ge (atoi $min) (int .Values.replicaCount)) -}}
{{- fail (printf "pdb.minAvailable is %s with replicaCount %d: no controller pod could ever be evicted, so node drains would hang; raise replicaCount (e.g. 2) or lower pdb.minAvailable" $min (int .Values.replicaCount)) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.certManager.enabled .Values.webhook.certificate.rotationId -}}
{{- fail (printf "webhook.certificate.rotationId is %q but certManager.enabled is true: cert-manager renews its certificate itself; set webhook.certificate.rotationId=\"\"" (include "ml-common.webhook.rotationId" .Values.webhook.certificate.rotationId)) -}}
{{- end -}}
{{- if and .Values.config.ingress.enableGatewayApi (not .Values.rbac.integrations.gatewayApi) .Values.rbac.create -}}
{{- fail "config.ingress.enableGatewayApi is true but rbac.integrations.gatewayApi is false: the controller could not create its HTTPRoutes; set rbac.integrations.gatewayApi=true" -}}
{{- end -}}
{{- if .Values.rbac.create -}}
{{- range $key, $crd := dict "keda" "scaledobjects.keda.sh" "gatewayApi" "httproutes.gateway.networking.k8s.io" "istio" "virtualservices.networking.istio.io" "knative" "services.serving.knative.dev" "openTelemetry" "opentelemetrycollectors.opentelemetry.io" -}}
{{- if and (not (index $.Values.rbac.integrations $key)) (lookup "apiextensions.k8s.io/v1" "CustomResourceDefinition" "" $crd) -}}
{{- fail (printf "the cluster has the CRD %s, which the KServe controller watches whenever it exists, but rbac.integrations.%s is false: without list/watch on it the controller's cache never syncs; set rbac.integrations.%s=true" $crd $key $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $own := list "POD_NAMESPACE" "SECRET_NAME" -}}
{{- range .Values.extraEnv -}}
{{- if has .name $own -}}
{{- fail (printf "extraEnv sets %s, which the chart sets itself: remove it from extraEnv" .name) -}}
{{- end -}}
{{- end -}}
{{- $_ := include "kserve-controller.runtimes" . -}}
{{- end -}}

{{/* kserve-controller.webhook.dnsNames: the names the serving certificate must cover (YAML list). */}}
{{- define "kserve-controller.webhook.dnsNames" -}}
{{- include "ml-common.webhook.dnsNames" (dict "service" (include "kserve-controller.webhook.serviceName" .) "namespace" .Release.Namespace) -}}
{{- end -}}
