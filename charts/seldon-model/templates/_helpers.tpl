{{/*
seldon-model helpers. Names, labels, images, security contexts and GPU placement come from ml-common;
this file only turns the chart's values into SeldonDeployment pieces.
*/}}

{{/*
seldon-model.prepackaged: implementations served by a prepackaged server image (operator predictor_servers):
upstream's six, then the custom ones declared under implementations. Takes the root context.
*/}}
{{- define "seldon-model.prepackaged" -}}
{{- $custom := list -}}
{{- if kindIs "map" .Values.implementations }}{{ $custom = keys .Values.implementations | sortAlpha }}{{ end -}}
{{- concat (list "SKLEARN_SERVER" "XGBOOST_SERVER" "TENSORFLOW_SERVER" "MLFLOW_SERVER" "TRITON_SERVER" "HUGGINGFACE_SERVER") $custom | uniq | toJson -}}
{{- end -}}

{{/*
seldon-model.serverSpec: what the chart knows of a prepackaged server (JSON {protocols, modelUri}): upstream's
six as the v1.17.1 webhook and servers define them, a declared one from implementations.
Usage: {{ include "seldon-model.serverSpec" (dict "context" $ "implementation" "SKLEARN_SERVER") | fromJson }}
*/}}
{{- define "seldon-model.serverSpec" -}}
{{- $builtin := dict
      "SKLEARN_SERVER" (dict "protocols" (list "seldon" "v2" "kfserving") "modelUri" true)
      "XGBOOST_SERVER" (dict "protocols" (list "seldon" "v2" "kfserving") "modelUri" true)
      "MLFLOW_SERVER" (dict "protocols" (list "seldon" "v2" "kfserving") "modelUri" true)
      "TENSORFLOW_SERVER" (dict "protocols" (list "seldon" "tensorflow") "modelUri" true)
      "TRITON_SERVER" (dict "protocols" (list "v2" "kfserving") "modelUri" true)
      "HUGGINGFACE_SERVER" (dict "protocols" (list "v2" "kfserving") "modelUri" false) -}}
{{- $declared := dict -}}
{{- if kindIs "map" .context.Values.implementations }}{{ $declared = get .context.Values.implementations .implementation | default dict }}{{ end -}}
{{- if $declared -}}
{{- toJson (dict "protocols" ($declared.protocols | default list) "modelUri" (ne (toString $declared.modelUri) "false")) -}}
{{- else -}}
{{- toJson (get $builtin .implementation | default dict) -}}
{{- end -}}
{{- end -}}

{{/* seldon-model.builtin: implementations the executor runs itself (no container). */}}
{{- define "seldon-model.builtin" -}}
{{- list "SIMPLE_MODEL" "SIMPLE_ROUTER" "RANDOM_ABTEST" "AVERAGE_COMBINER" | toJson -}}
{{- end -}}

{{/*
seldon-model.kind: what runs a graph node: "custom" (no implementation, or UNKNOWN_IMPLEMENTATION: the
component's image), "prepackaged" (upstream's or declared under implementations), "builtin" (one of the
executor's) or "unknown".
Usage: {{ include "seldon-model.kind" (dict "context" $ "node" $node) }}
*/}}
{{- define "seldon-model.kind" -}}
{{- $impl := .node.implementation | default "" -}}
{{- if or (not $impl) (eq $impl "UNKNOWN_IMPLEMENTATION") -}}custom
{{- else if has $impl (include "seldon-model.prepackaged" .context | fromJsonArray) -}}prepackaged
{{- else if has $impl (include "seldon-model.builtin" . | fromJsonArray) -}}builtin
{{- else -}}unknown
{{- end -}}
{{- end -}}

{{/*
seldon-model.collect: appends {node, path} for a node and all its descendants (pre-order, the order
the executor and the operator walk the graph) to .acc.nodes.
Usage: {{- $acc := dict "nodes" list }}{{- include "seldon-model.collect" (dict "node" $p.graph "path" "predictors[0].graph" "acc" $acc) }}
*/}}
{{- define "seldon-model.collect" -}}
{{- $_ := set .acc "nodes" (append .acc.nodes (dict "node" .node "path" .path)) -}}
{{- $children := list -}}
{{- if and (kindIs "map" .node) (kindIs "slice" .node.children) }}{{ $children = .node.children }}{{ end -}}
{{- range $i, $child := $children -}}
{{- include "seldon-model.collect" (dict "node" $child "path" (printf "%s.children[%d]" $.path $i) "acc" $.acc) -}}
{{- end -}}
{{- end -}}

{{/*
seldon-model.parameterValue: a graph parameter's value as the string the CRD wants (INT without an
exponent, JSON structures as JSON).
Usage: {{ include "seldon-model.parameterValue" $param }}
*/}}
{{- define "seldon-model.parameterValue" -}}
{{- $v := .value -}}
{{- if kindIs "string" $v -}}{{ $v }}
{{- else if or (kindIs "map" $v) (kindIs "slice" $v) -}}{{ toJson $v }}
{{- else if and (eq .type "INT") (kindIs "float64" $v) (eq $v (float64 (int64 $v))) -}}{{ int64 $v }}
{{- else -}}{{ toString $v }}
{{- end -}}
{{- end -}}

{{/*
seldon-model.graph: a graph node and its children as the CRD's PredictiveUnit (JSON); a storageInitializerImage
is fully qualified, through global.imageRegistry when set.
Usage: {{ include "seldon-model.graph" (dict "node" $p.graph "registry" .Values.global.imageRegistry) | fromJson | toYaml }}
*/}}
{{- define "seldon-model.graph" -}}
{{- $node := .node -}}
{{- $registry := .registry | default "" -}}
{{- $out := dict "name" ($node.name | default "") -}}
{{- range $key := list "type" "implementation" "modelUri" "envSecretRefName" "serviceAccountName" "storageInitializerImage" "methods" "endpoint" "logger" -}}
{{- with get $node $key }}{{ $_ := set $out $key . }}{{ end -}}
{{- end -}}
{{- with $node.storageInitializerImage }}{{ $_ := set $out "storageInitializerImage" (include "ml-common.images.qualify" (dict "ref" . "registry" $registry)) }}{{ end -}}
{{- with $node.parameters -}}
{{- $params := list -}}
{{- range . -}}
{{- $params = append $params (dict "name" .name "type" .type "value" (include "seldon-model.parameterValue" .)) -}}
{{- end -}}
{{- $_ := set $out "parameters" $params -}}
{{- end -}}
{{- with $node.children -}}
{{- $children := list -}}
{{- range . }}{{ $children = append $children (include "seldon-model.graph" (dict "node" . "registry" $registry) | fromJson) }}{{ end -}}
{{- $_ := set $out "children" $children -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
seldon-model.imageSet: true when a component names an image (a repository).
Usage: {{ if include "seldon-model.imageSet" $component }}
*/}}
{{- define "seldon-model.imageSet" -}}
{{- if and . (kindIs "map" .) (or (and (kindIs "map" .image) .image.repository) (and (kindIs "string" .image) .image)) -}}true{{- end -}}
{{- end -}}

{{/*
seldon-model.pods: the pods of a predictor as JSON: the main pod (componentSpecs[0], where the
executor lives) then predictors[].pods in order. Each: {name (metadata.name, empty for none), key (the
handle components use: "" for the main pod), path, podSpec (defaults, predictor and pod settings merged),
scaling (replicas, hpa, keda, pdb), nodes: [{node, path, component, componentPath}]}.
A node gets a container when it has a component, or is a prepackaged server and
defaults.prepackagedServerContainers is on; built-in implementations never do. A component's versions
add more containers of the same node to other pods.
Usage: {{- $pods := include "seldon-model.pods" (dict "context" $ "predictor" $p "index" $i) | fromJsonArray }}
*/}}
{{- define "seldon-model.pods" -}}
{{- $ctx := .context -}}
{{- $p := .predictor -}}
{{- $ppath := printf "predictors[%d]" .index -}}
{{- $base := include "ml-common.values.merge" (list $ctx.Values.defaults.podSpec $p.podSpec) | fromJson -}}
{{- $pods := list (dict "name" ($p.mainPodName | default "") "key" "" "path" $ppath "predictor" $p.name "podSpec" $base "scaling" (dict "replicas" $p.mainPodReplicas "hpa" $p.hpa "keda" $p.keda "pdb" $p.pdb) "nodes" list) -}}
{{- range $j, $extra := ($p.pods | default list) -}}
{{- $pods = append $pods (dict "name" ((eq (toString $extra.anonymous) "true") | ternary "" $extra.name) "key" $extra.name "path" (printf "%s.pods[%d]" $ppath $j) "predictor" $p.name "podSpec" (include "ml-common.values.merge" (list $base $extra.podSpec) | fromJson) "scaling" (dict "replicas" $extra.replicas "hpa" $extra.hpa "keda" $extra.keda "pdb" $extra.pdb) "nodes" list) -}}
{{- end -}}
{{- $acc := dict "nodes" list -}}
{{- include "seldon-model.collect" (dict "node" $p.graph "path" (printf "%s.graph" $ppath) "acc" $acc) -}}
{{- $components := $p.components | default dict -}}
{{- range $entry := $acc.nodes -}}
{{- $kind := include "seldon-model.kind" (dict "context" $ctx "node" $entry.node) -}}
{{- $component := get $components ($entry.node.name | default "") | default dict -}}
{{- if and (has $kind (list "custom" "prepackaged")) (or $component (eq $kind "custom") $ctx.Values.defaults.prepackagedServerContainers) -}}
{{- $cpath := printf "%s.components.%s" $ppath $entry.node.name -}}
{{- $placements := list (dict "pod" ($component.pod | default "") "component" (omit $component "versions") "componentPath" $cpath) -}}
{{- range $v, $version := ($component.versions | default list) -}}
{{- $placements = append $placements (dict "pod" ($version.pod | default "") "component" (include "ml-common.values.merge" (list (omit $component "versions" "pod") $version) | fromJson) "componentPath" (printf "%s.versions[%d]" $cpath $v)) -}}
{{- end -}}
{{- range $placement := $placements -}}
{{- range $pods -}}
{{- if eq .key $placement.pod -}}
{{- $_ := set . "nodes" (append .nodes (dict "node" $entry.node "path" $entry.path "component" $placement.component "componentPath" $placement.componentPath)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $pods -}}
{{- end -}}

{{/*
seldon-model.container: a container as JSON. Graph-node containers are named exactly like their node
(Seldon matches them by name); prepackaged servers without an image get an image-less container (the
operator fills in image, args, ports and probes and keeps what is set here). Every Kubernetes Container
field the values give passes through; the chart adds the restricted securityContext (or the privileged
profile a component asks for), the default resources (unless defaults.resources is null) with GPU
requests, and the /tmp mount. `image` is the chart's image object, or a plain string (sidecars).
imagePullPolicy is written only when set.
Usage: {{ include "seldon-model.container" (dict "context" $ "name" "classifier" "component" $c "where" "predictors[0].components.classifier" "writableTmp" true) | fromJson }}
*/}}
{{- define "seldon-model.container" -}}
{{- $values := .context.Values -}}
{{- $c := .component | default dict -}}
{{- include "seldon-model.credentials.refuseLiterals" (dict "env" $c.env "path" (printf "%s.env" .where)) -}}
{{- $own := list "name" "image" "resources" "gpu" "accelerator" "pod" "versions" "securityProfile" "securityProfileReason" "securityContext" "volumeMounts" -}}
{{- $out := dict -}}
{{- range $key, $value := $c -}}
{{- if and (not (has $key $own)) (not (kindIs "invalid" $value)) }}{{ $_ := set $out $key $value }}{{ end -}}
{{- end -}}
{{- $_ := set $out "name" .name -}}
{{- if and (kindIs "string" $c.image) $c.image -}}
{{- $_ := set $out "image" (include "ml-common.images.qualify" (dict "ref" $c.image "registry" (($values.global | default dict).imageRegistry | default ""))) -}}
{{- else if include "seldon-model.imageSet" $c -}}
{{- $image := include "ml-common.values.merge" (list $values.defaults.image $c.image) | fromJson -}}
{{- $_ := set $out "image" (include "ml-common.images.image" (dict "image" $image "global" $values.global "defaultTag" "")) -}}
{{- with $image.pullPolicy }}{{ $_ := set $out "imagePullPolicy" . }}{{ end -}}
{{- end -}}
{{- $profile := $c.securityProfile | default "restricted" -}}
{{- $sc := include "ml-common.security.containerSecurityContext" (dict "securityContext" (include "ml-common.values.merge" (list $values.defaults.securityContext $c.securityContext) | fromJson) "path" (printf "%s.securityContext (merged over defaults.securityContext)" .where) "profile" $profile) | fromYaml -}}
{{- $_ := set $out "securityContext" $sc.securityContext -}}
{{- $resources := include "ml-common.values.merge" (list ($values.defaults.resources | default dict) $c.resources) | fromJson -}}
{{- $placement := include "ml-common.accelerator.placement" (dict "gpu" $c.gpu "accelerator" $c.accelerator "path" .where) | fromJson -}}
{{- $resources = include "ml-common.gpu.resources" (dict "gpu" $placement "resources" $resources) | fromYaml -}}
{{- if $resources }}{{ $_ := set $out "resources" $resources }}{{ end -}}
{{- $mounts := $c.volumeMounts | default list -}}
{{- if .writableTmp -}}
{{- $mounts = prepend $mounts (dict "name" "tmp" "mountPath" "/tmp") -}}
{{- end -}}
{{- with $mounts }}{{ $_ := set $out "volumeMounts" . }}{{ end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
seldon-model.serviceAccountName: the service account of a pod: its podSpec's, else the chart's
(serviceAccount.create or serviceAccount.name), else none (the namespace default).
Usage: {{ include "seldon-model.serviceAccountName" (dict "context" $ "podSpec" $podSpec) }}
*/}}
{{- define "seldon-model.serviceAccountName" -}}
{{- $sa := .context.Values.serviceAccount | default dict -}}
{{- if .podSpec.serviceAccountName -}}
{{- .podSpec.serviceAccountName -}}
{{- else if or $sa.create $sa.name -}}
{{- include "ml-common.names.serviceAccount" (dict "context" .context "serviceAccount" $sa) -}}
{{- end -}}
{{- end -}}

{{/* seldon-model.podSpecHandled: podSpec keys the chart writes itself; every other PodSpec field passes through. */}}
{{- define "seldon-model.podSpecHandled" -}}
{{- list "securityContext" "serviceAccountName" "automountServiceAccountToken" "imagePullSecrets" "nodeSelector" "affinity" "tolerations" "topologySpreadConstraints" "priorityClassName" "runtimeClassName" "terminationGracePeriodSeconds" "volumes" "annotations" "labels" "containers" "initContainers" | toJson -}}
{{- end -}}

{{/*
seldon-model.componentSpec: one componentSpecs[] entry (a pod of the predictor) as YAML list item.
Accelerator placement: every gpu or accelerator block of the pod's components goes through ml-common
(tolerations for each pool's taints, node affinity for the pool; the validation guarantees one pool per pod).
Usage: {{ include "seldon-model.componentSpec" (dict "context" $ "pod" $pod) }}
*/}}
{{- define "seldon-model.componentSpec" -}}
{{- $ctx := .context -}}
{{- $pod := .pod -}}
{{- $spec := $pod.podSpec -}}
{{- $tolerations := tpl (toYaml ($spec.tolerations | default list)) $ctx | fromYamlArray -}}
{{- $affinity := tpl (toYaml ($spec.affinity | default dict)) $ctx | fromYaml -}}
{{- $gpuDone := false -}}
{{- range $pod.nodes -}}
{{- $placement := include "ml-common.accelerator.placement" (dict "gpu" .component.gpu "accelerator" .component.accelerator "path" .componentPath) | fromJson -}}
{{- if $placement -}}
{{- $tolerations = include "ml-common.gpu.tolerations" (dict "gpu" $placement "tolerations" $tolerations) | fromYamlArray -}}
{{- if not $gpuDone -}}
{{- $affinity = include "ml-common.gpu.affinity" (dict "gpu" $placement "affinity" $affinity) | fromYaml -}}
{{- $gpuDone = true -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $writableTmp := and $ctx.Values.defaults.writableTmp (or $pod.nodes $spec.containers $spec.initContainers) -}}
{{- $containers := list -}}
{{- range $pod.nodes -}}
{{- $containers = append $containers (include "seldon-model.container" (dict "context" $ctx "name" .node.name "component" .component "where" .componentPath "writableTmp" $writableTmp) | fromJson) -}}
{{- end -}}
{{- range $k, $c := ($spec.containers | default list) -}}
{{- $containers = append $containers (include "seldon-model.container" (dict "context" $ctx "name" $c.name "component" $c "where" (printf "%s.podSpec.containers[%d]" $pod.path $k) "writableTmp" $writableTmp) | fromJson) -}}
{{- end -}}
{{- $initContainers := list -}}
{{- range $k, $c := ($spec.initContainers | default list) -}}
{{- $initContainers = append $initContainers (include "seldon-model.container" (dict "context" $ctx "name" $c.name "component" $c "where" (printf "%s.podSpec.initContainers[%d]" $pod.path $k) "writableTmp" $writableTmp) | fromJson) -}}
{{- end -}}
{{- $handled := include "seldon-model.podSpecHandled" . | fromJsonArray -}}
- metadata:
    {{- with $pod.name }}
    name: {{ . }}
    {{- end }}
    labels:
      {{- include "ml-common.values.merge" (list ($spec.labels | default dict) (include "ml-common.labels.selector" (dict "context" $ctx) | fromYaml)) | fromJson | toYaml | nindent 6 }}
    {{- with $spec.annotations }}
    annotations:
      {{- toYaml . | nindent 6 }}
    {{- end }}
  spec:
    {{- with include "seldon-model.serviceAccountName" (dict "context" $ctx "podSpec" $spec) }}
    serviceAccountName: {{ . }}
    {{- end }}
    automountServiceAccountToken: {{ $spec.automountServiceAccountToken | default false }}
    {{- with include "ml-common.images.pullSecrets" (dict "secrets" $spec.imagePullSecrets "global" $ctx.Values.global) }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- include "ml-common.security.podSecurityContext" (dict "securityContext" $spec.securityContext "path" (printf "%s.podSpec.securityContext (merged over defaults.podSpec.securityContext)" $pod.path)) | nindent 4 }}
    {{- with $spec.priorityClassName }}
    priorityClassName: {{ . }}
    {{- end }}
    {{- with $spec.runtimeClassName }}
    runtimeClassName: {{ . }}
    {{- end }}
    {{- if not (kindIs "invalid" $spec.terminationGracePeriodSeconds) }}
    terminationGracePeriodSeconds: {{ int64 $spec.terminationGracePeriodSeconds }}
    {{- end }}
    {{- with $spec.nodeSelector }}
    nodeSelector:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $affinity }}
    affinity:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $tolerations }}
    tolerations:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $spec.topologySpreadConstraints }}
    topologySpreadConstraints:
      {{- tpl (toYaml .) $ctx | nindent 6 }}
    {{- end }}
    {{- range $key, $value := $spec }}
    {{- if and (not (has $key $handled)) (not (kindIs "invalid" $value)) }}
    {{ $key }}: {{ toJson $value }}
    {{- end }}
    {{- end }}
    {{- $volumes := $spec.volumes | default list }}
    {{- if $writableTmp }}
    {{- $volumes = prepend $volumes (dict "name" "tmp" "emptyDir" dict) }}
    {{- end }}
    {{- with $volumes }}
    volumes:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $initContainers }}
    initContainers:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    containers:
    {{- with $containers }}
      {{- toYaml . | nindent 6 }}
    {{- else }} []
    {{- end }}
  {{- with $pod.scaling }}
  {{- if not (kindIs "invalid" .replicas) }}
  replicas: {{ int64 .replicas }}
  {{- end }}
  {{- if include "seldon-model.on" .keda }}
  kedaSpec:
    {{- include "seldon-model.kedaSpec" (dict "context" $ctx "keda" .keda "predictor" $pod.predictor) | trim | nindent 4 }}
  {{- else if include "seldon-model.on" .hpa }}
  hpaSpec:
    {{- include "seldon-model.hpaSpec" .hpa | nindent 4 }}
  {{- end }}
  {{- if include "seldon-model.on" .pdb }}
  pdbSpec:
    {{- range $key := list "minAvailable" "maxUnavailable" }}
    {{- $value := index $.pod.scaling.pdb $key }}
    {{- if kindIs "string" $value }}
    {{ $key }}: {{ quote $value }}
    {{- else if not (kindIs "invalid" $value) }}
    {{ $key }}: {{ int64 $value }}
    {{- end }}
    {{- end }}
  {{- end }}
  {{- end }}
{{- end -}}

{{/*
seldon-model.on: "true" when an optional block (hpa, keda, pdb, explainer) is present and not
switched off with enabled: false.
Usage: {{ if include "seldon-model.on" $p.hpa }}
*/}}
{{- define "seldon-model.on" -}}
{{- if and . (kindIs "map" .) (ne (toString .enabled) "false") -}}true{{- end -}}
{{- end -}}

{{/*
seldon-model.hpaSpec: hpaSpec with autoscaling/v2 metrics (metricsv2): CPU and memory targets, then
the custom metrics as given.
Usage: {{ include "seldon-model.hpaSpec" $hpa }}
*/}}
{{- define "seldon-model.hpaSpec" -}}
{{- $metrics := list -}}
{{- with .targetCPUUtilization -}}
{{- $metrics = append $metrics (dict "type" "Resource" "resource" (dict "name" "cpu" "target" (dict "type" "Utilization" "averageUtilization" (int64 .)))) -}}
{{- end -}}
{{- with .targetMemoryUtilization -}}
{{- $metrics = append $metrics (dict "type" "Resource" "resource" (dict "name" "memory" "target" (dict "type" "Utilization" "averageUtilization" (int64 .)))) -}}
{{- end -}}
{{- with .targetMemoryAverageValue -}}
{{- $metrics = append $metrics (dict "type" "Resource" "resource" (dict "name" "memory" "target" (dict "type" "AverageValue" "averageValue" (toString .)))) -}}
{{- end -}}
minReplicas: {{ int64 (.minReplicas | default 1) }}
maxReplicas: {{ int64 .maxReplicas }}
{{- with .metricsV2beta1 }}
metrics:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with concat $metrics (.metrics | default list) }}
metricsv2:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
seldon-model.kedaSpec: kedaSpec with a Prometheus trigger on the executor's request rate for this
deployment and predictor (unless prometheus.enabled is false), plus any extra triggers.
Usage: {{ include "seldon-model.kedaSpec" (dict "context" $ "keda" $keda "predictor" "default") }}
*/}}
{{- define "seldon-model.kedaSpec" -}}
{{- $k := .keda -}}
{{- $prom := $k.prometheus | default dict -}}
{{- $triggers := list -}}
{{- if ne (toString $prom.enabled) "false" -}}
{{- $query := $prom.query | default (printf "sum(rate(seldon_api_executor_server_requests_seconds_count{namespace=%q,deployment_name=%q,predictor_name=%q}[1m]))" .context.Release.Namespace (include "ml-common.names.fullname" .context) .predictor) -}}
{{- $metadata := dict "serverAddress" $prom.serverAddress "query" $query "threshold" (toString $prom.threshold) -}}
{{- with $prom.activationThreshold }}{{ $_ := set $metadata "activationThreshold" (toString .) }}{{ end -}}
{{- $triggers = append $triggers (dict "type" "prometheus" "name" "seldon-requests" "metadata" $metadata) -}}
{{- end -}}
{{- range $key := list "pollingInterval" "cooldownPeriod" "minReplicaCount" "maxReplicaCount" }}
{{- if not (kindIs "invalid" (index $k $key)) }}
{{ $key }}: {{ int64 (index $k $key) }}
{{- end }}
{{- end }}
{{- with $k.advanced }}
advanced:
  {{- toYaml . | nindent 2 }}
{{- end }}
triggers:
  {{- toYaml (concat $triggers ($k.triggers | default list)) | nindent 2 }}
{{- end -}}

{{/*
seldon-model.explainer: the predictor's explainer (JSON). Its containerSpec is carried whole: every Container
field given passes through, plus the restricted securityContext and the resources (seldon-model.container);
its name (required by upstream's CRD) is explainer.name or the operator's own choice,
<fullname>-<predictor>-explainer. With no image the operator uses its configured alibi explainer image.
Usage: {{ include "seldon-model.explainer" (dict "context" $ "explainer" $p.explainer "predictor" $p.name "path" "predictors[0].explainer") | fromJson | toYaml }}
*/}}
{{- define "seldon-model.explainer" -}}
{{- $e := .explainer -}}
{{- $out := dict -}}
{{- with $e.type }}{{ $_ := set $out "type" . }}{{ end -}}
{{- $spec := list "enabled" "type" "modelUri" "serviceAccountName" "envSecretRefName" "storageInitializerImage" "config" "endpoint" "replicas" "initParameters" -}}
{{- range $key := list "modelUri" "serviceAccountName" "envSecretRefName" "storageInitializerImage" "config" "endpoint" -}}
{{- with get $e $key }}{{ $_ := set $out $key . }}{{ end -}}
{{- end -}}
{{- with $e.storageInitializerImage }}{{ $_ := set $out "storageInitializerImage" (include "ml-common.images.qualify" (dict "ref" . "registry" (($.context.Values.global | default dict).imageRegistry | default ""))) }}{{ end -}}
{{- if not (kindIs "invalid" $e.replicas) }}{{ $_ := set $out "replicas" (int64 $e.replicas) }}{{ end -}}
{{- with $e.initParameters }}{{ $_ := set $out "initParameters" (kindIs "string" . | ternary . (toJson .)) }}{{ end -}}
{{- $name := $e.name | default (printf "%s-%s-explainer" (include "ml-common.names.fullname" .context) .predictor | trunc 63 | trimSuffix "-") -}}
{{- $fields := dict -}}
{{- range $key, $value := $e }}{{ if not (has $key $spec) }}{{ $_ := set $fields $key $value }}{{ end }}{{ end -}}
{{- $container := include "seldon-model.container" (dict "context" .context "name" $name "component" $fields "where" .path "writableTmp" false) | fromJson -}}
{{- $_ := set $out "containerSpec" $container -}}
{{- toJson $out -}}
{{- end -}}

{{/*
seldon-model.serviceName: the Service the operator creates for a predictor: seldon.io/svc-name
(predictor svcName) or "<deployment>-<predictor>".
Usage: {{ include "seldon-model.serviceName" (dict "context" $ "predictor" $p) }}
*/}}
{{- define "seldon-model.serviceName" -}}
{{- .predictor.svcName | default (printf "%s-%s" (include "ml-common.names.fullname" .context) .predictor.name) -}}
{{- end -}}

{{/*
seldon-model.testPredictor: the predictor the helm test and NOTES call (JSON): test.predictor, else
the first predictor that is not a shadow. The validation guarantees it exists.
Usage: {{- $p := include "seldon-model.testPredictor" $ | fromJson }}
*/}}
{{- define "seldon-model.testPredictor" -}}
{{- $found := dict -}}
{{- range .Values.predictors -}}
{{- if and (not $found) (or (eq .name $.Values.test.predictor) (and (not $.Values.test.predictor) (not .shadow))) -}}
{{- $found = . -}}
{{- end -}}
{{- end -}}
{{- toJson $found -}}
{{- end -}}

{{/*
seldon-model.monitoringLabels: the extra labels of the PodMonitor and PrometheusRule (JSON): monitoring.labels,
and `release: <monitoring.release>` (kube-prometheus-stack selects by it), which wins over monitoring.labels.
Usage: {{ include "ml-common.labels.standard" (dict "context" $ "component" "monitoring" "customLabels" (include "seldon-model.monitoringLabels" . | fromJson)) }}
*/}}
{{- define "seldon-model.monitoringLabels" -}}
{{- $release := dict -}}
{{- with .Values.monitoring.release }}{{ $_ := set $release "release" . }}{{ end -}}
{{- include "ml-common.values.merge" (list .Values.monitoring.labels $release) -}}
{{- end -}}

{{/*
seldon-model.payload: the request body (JSON text) the helm test and NOTES send for a protocol:
test.payloads.<protocol>, or one row of the iris data set when that is empty. The defaults live here and
not in values.yaml, whose tooling (readme-generator) cannot read lists of lists.
Usage: {{ include "seldon-model.payload" (dict "context" $ "protocol" "seldon") }}
*/}}
{{- define "seldon-model.payload" -}}
{{- $iris := list 5.1 3.5 1.4 0.2 -}}
{{- $defaults := dict
      "seldon" (dict "data" (dict "ndarray" (list $iris)))
      "v2" (dict "inputs" (list (dict "name" "predict" "shape" (list 1 4) "datatype" "FP32" "data" $iris)))
      "tensorflow" (dict "instances" (list $iris)) -}}
{{- toJson (get .context.Values.test.payloads .protocol | default (get $defaults .protocol)) -}}
{{- end -}}

{{/*
seldon-model.kafkaEnv: the executor's Kafka settings (predictors[].kafka) as svcOrchSpec env entries (JSON list).
Usage: {{ include "seldon-model.kafkaEnv" $p.kafka | fromJsonArray }}
*/}}
{{- define "seldon-model.kafkaEnv" -}}
{{- $env := list -}}
{{- if kindIs "map" . -}}
{{- range $key, $name := dict "broker" "KAFKA_BROKER" "inputTopic" "KAFKA_INPUT_TOPIC" "outputTopic" "KAFKA_OUTPUT_TOPIC" "fullGraph" "KAFKA_FULL_GRAPH" "workers" "KAFKA_WORKERS" "autoCommit" "KAFKA_AUTO_COMMIT" -}}
{{- $value := get $ $key -}}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") -}}
{{- $env = append $env (dict "name" $name "value" ((kindIs "float64" $value) | ternary (toString (int64 $value)) (toString $value))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $env -}}
{{- end -}}

{{/*
seldon-model.privilegedComponents: "<values path>: <reason>" of every component (or version) with
securityProfile: privileged (JSON list), for the SeldonDeployment's annotation and NOTES.
Usage: {{ include "seldon-model.privilegedComponents" . | fromJsonArray }}
*/}}
{{- define "seldon-model.privilegedComponents" -}}
{{- $out := list -}}
{{- range $i, $p := (.Values.predictors | default list) -}}
{{- if kindIs "map" $p -}}
{{- range $name, $c := ($p.components | default dict) -}}
{{- if kindIs "map" $c -}}
{{- $entries := list (dict "c" $c "path" (printf "predictors[%d].components.%s" $i $name)) -}}
{{- range $v, $version := ($c.versions | default list) }}{{ $entries = append $entries (dict "c" (include "ml-common.values.merge" (list (omit $c "versions") $version) | fromJson) "path" (printf "predictors[%d].components.%s.versions[%d]" $i $name $v)) }}{{ end -}}
{{- range $entries -}}
{{- if eq (.c.securityProfile | default "") "privileged" -}}
{{- $out = append $out (printf "%s: %s" .path (.c.securityProfileReason | default "")) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}
