{{/*
seldon-model helpers. Names, labels, images, security contexts and GPU placement come from ml-common;
this file only turns the chart's values into SeldonDeployment pieces.
*/}}

{{/* seldon-model.v0.prepackaged: implementations served by a prepackaged server image (operator predictor_servers). */}}
{{- define "seldon-model.v0.prepackaged" -}}
{{- list "SKLEARN_SERVER" "XGBOOST_SERVER" "TENSORFLOW_SERVER" "MLFLOW_SERVER" "TRITON_SERVER" "HUGGINGFACE_SERVER" | toJson -}}
{{- end -}}

{{/* seldon-model.v0.builtin: implementations the executor runs itself (no container). */}}
{{- define "seldon-model.v0.builtin" -}}
{{- list "SIMPLE_MODEL" "SIMPLE_ROUTER" "RANDOM_ABTEST" "AVERAGE_COMBINER" | toJson -}}
{{- end -}}

{{/*
seldon-model.v0.kind: what runs a graph node: "custom" (no implementation: the component's image),
"prepackaged" or "builtin".
Usage: {{ include "seldon-model.v0.kind" $node }}
*/}}
{{- define "seldon-model.v0.kind" -}}
{{- if not .implementation -}}custom
{{- else if has .implementation (include "seldon-model.v0.prepackaged" . | fromJsonArray) -}}prepackaged
{{- else -}}builtin
{{- end -}}
{{- end -}}

{{/*
seldon-model.v0.collect: appends {node, path} for a node and all its descendants (pre-order, the order
the executor and the operator walk the graph) to .acc.nodes.
Usage: {{- $acc := dict "nodes" list }}{{- include "seldon-model.v0.collect" (dict "node" $p.graph "path" "predictors[0].graph" "acc" $acc) }}
*/}}
{{- define "seldon-model.v0.collect" -}}
{{- $_ := set .acc "nodes" (append .acc.nodes (dict "node" .node "path" .path)) -}}
{{- range $i, $child := (.node.children | default list) -}}
{{- include "seldon-model.v0.collect" (dict "node" $child "path" (printf "%s.children[%d]" $.path $i) "acc" $.acc) -}}
{{- end -}}
{{- end -}}

{{/*
seldon-model.v0.parameterValue: a graph parameter's value as the string the CRD wants (INT without an
exponent, JSON structures as JSON).
Usage: {{ include "seldon-model.v0.parameterValue" $param }}
*/}}
{{- define "seldon-model.v0.parameterValue" -}}
{{- $v := .value -}}
{{- if kindIs "string" $v -}}{{ $v }}
{{- else if or (kindIs "map" $v) (kindIs "slice" $v) -}}{{ toJson $v }}
{{- else if and (eq .type "INT") (kindIs "float64" $v) (eq $v (float64 (int64 $v))) -}}{{ int64 $v }}
{{- else -}}{{ toString $v }}
{{- end -}}
{{- end -}}

{{/*
seldon-model.v0.graph: a graph node and its children as the CRD's PredictiveUnit (JSON).
Usage: {{ include "seldon-model.v0.graph" $p.graph | fromJson | toYaml }}
*/}}
{{- define "seldon-model.v0.graph" -}}
{{- $out := dict "name" .name -}}
{{- range $key := list "type" "implementation" "modelUri" "envSecretRefName" "serviceAccountName" "storageInitializerImage" "methods" "endpoint" "logger" -}}
{{- with get $ $key }}{{ $_ := set $out $key . }}{{ end -}}
{{- end -}}
{{- with .parameters -}}
{{- $params := list -}}
{{- range . -}}
{{- $params = append $params (dict "name" .name "type" .type "value" (include "seldon-model.v0.parameterValue" .)) -}}
{{- end -}}
{{- $_ := set $out "parameters" $params -}}
{{- end -}}
{{- with .children -}}
{{- $children := list -}}
{{- range . }}{{ $children = append $children (include "seldon-model.v0.graph" . | fromJson) }}{{ end -}}
{{- $_ := set $out "children" $children -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
seldon-model.v0.imageSet: true when a component names an image (a repository).
Usage: {{ if include "seldon-model.v0.imageSet" $component }}
*/}}
{{- define "seldon-model.v0.imageSet" -}}
{{- if and . .image .image.repository -}}true{{- end -}}
{{- end -}}

{{/*
seldon-model.v0.pods: the pods of a predictor as JSON: the main pod (componentSpecs[0], where the
executor lives) then predictors[].pods in order. Each: {name, path, podSpec (defaults, predictor and pod
settings merged), scaling (replicas, hpa, keda, pdb and their values path), nodes: [{node, path, component}]}.
A node gets a container when it has a component, or is a prepackaged server and
defaults.prepackagedServerContainers is on; built-in implementations never do.
Usage: {{- $pods := include "seldon-model.v0.pods" (dict "context" $ "predictor" $p "index" $i) | fromJsonArray }}
*/}}
{{- define "seldon-model.v0.pods" -}}
{{- $ctx := .context -}}
{{- $p := .predictor -}}
{{- $ppath := printf "predictors[%d]" .index -}}
{{- $base := mergeOverwrite (deepCopy $ctx.Values.defaults.podSpec) (deepCopy ($p.podSpec | default dict)) -}}
{{- $pods := list (dict "name" "" "path" $ppath "predictor" $p.name "podSpec" $base "scaling" (dict "hpa" $p.hpa "keda" $p.keda "pdb" $p.pdb) "nodes" list) -}}
{{- range $j, $extra := ($p.pods | default list) -}}
{{- $pods = append $pods (dict "name" $extra.name "path" (printf "%s.pods[%d]" $ppath $j) "predictor" $p.name "podSpec" (mergeOverwrite (deepCopy $base) (deepCopy ($extra.podSpec | default dict))) "scaling" (dict "replicas" $extra.replicas "hpa" $extra.hpa "keda" $extra.keda "pdb" $extra.pdb) "nodes" list) -}}
{{- end -}}
{{- $acc := dict "nodes" list -}}
{{- include "seldon-model.v0.collect" (dict "node" $p.graph "path" (printf "%s.graph" $ppath) "acc" $acc) -}}
{{- $components := $p.components | default dict -}}
{{- range $entry := $acc.nodes -}}
{{- $kind := include "seldon-model.v0.kind" $entry.node -}}
{{- $component := get $components $entry.node.name | default dict -}}
{{- if and (ne $kind "builtin") (or $component (eq $kind "custom") $ctx.Values.defaults.prepackagedServerContainers) -}}
{{- range $pods -}}
{{- if eq .name ($component.pod | default "") -}}
{{- $_ := set . "nodes" (append .nodes (dict "node" $entry.node "path" $entry.path "component" $component)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $pods -}}
{{- end -}}

{{/*
seldon-model.v0.container: the container of a graph node, named exactly like the node (Seldon matches
them by name). Prepackaged servers without an image get an image-less container: the operator fills in
image, args, ports and probes and keeps what is set here.
Usage: {{ include "seldon-model.v0.container" (dict "context" $ "node" $node "component" $component) }}
*/}}
{{- define "seldon-model.v0.container" -}}
{{- $values := .context.Values -}}
{{- $c := .component | default dict -}}
- name: {{ .node.name }}
  {{- if include "seldon-model.v0.imageSet" $c }}
  {{- $image := mergeOverwrite (deepCopy $values.defaults.image) (deepCopy $c.image) }}
  image: {{ include "ml-common.images.image" (dict "image" $image "global" $values.global "defaultTag" "") }}
  imagePullPolicy: {{ $image.pullPolicy }}
  {{- end }}
  {{- range $key := list "command" "args" "ports" "env" "envFrom" }}
  {{- with get $c $key }}
  {{ $key }}:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- end }}
  {{- range $key := list "readinessProbe" "livenessProbe" "startupProbe" }}
  {{- with get $c $key }}
  {{ $key }}:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- end }}
  {{- include "ml-common.security.containerSecurityContext" (mergeOverwrite (deepCopy ($values.defaults.securityContext | default dict)) (deepCopy ($c.securityContext | default dict))) | nindent 2 }}
  resources:
    {{- include "ml-common.gpu.resources" (dict "gpu" $c.gpu "resources" (mergeOverwrite (deepCopy $values.defaults.resources) (deepCopy ($c.resources | default dict)))) | nindent 4 }}
  {{- $mounts := $c.volumeMounts | default list }}
  {{- if $values.defaults.writableTmp }}
  {{- $mounts = prepend $mounts (dict "name" "tmp" "mountPath" "/tmp") }}
  {{- end }}
  {{- with $mounts }}
  volumeMounts:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/*
seldon-model.v0.serviceAccountName: the service account of a pod: its podSpec's, else the chart's
(serviceAccount.create or serviceAccount.name), else none (the namespace default).
Usage: {{ include "seldon-model.v0.serviceAccountName" (dict "context" $ "podSpec" $podSpec) }}
*/}}
{{- define "seldon-model.v0.serviceAccountName" -}}
{{- $sa := .context.Values.serviceAccount -}}
{{- if .podSpec.serviceAccountName -}}
{{- .podSpec.serviceAccountName -}}
{{- else if or $sa.create $sa.name -}}
{{- include "ml-common.names.serviceAccount" (dict "context" .context "serviceAccount" $sa) -}}
{{- end -}}
{{- end -}}

{{/*
seldon-model.v0.componentSpec: one componentSpecs[] entry (a pod of the predictor) as YAML list item.
GPU placement: every GPU block of the pod's components goes through ml-common (tolerations for each
pool's taints, node affinity for the pool; the validation guarantees one pool per pod).
Usage: {{ include "seldon-model.v0.componentSpec" (dict "context" $ "pod" $pod) }}
*/}}
{{- define "seldon-model.v0.componentSpec" -}}
{{- $ctx := .context -}}
{{- $pod := .pod -}}
{{- $spec := $pod.podSpec -}}
{{- $tolerations := tpl (toYaml ($spec.tolerations | default list)) $ctx | fromYamlArray -}}
{{- $affinity := tpl (toYaml ($spec.affinity | default dict)) $ctx | fromYaml -}}
{{- $gpuDone := false -}}
{{- range $pod.nodes -}}
{{- if gt (int (include "ml-common.gpu.count" .component.gpu)) 0 -}}
{{- $tolerations = include "ml-common.gpu.tolerations" (dict "gpu" .component.gpu "tolerations" $tolerations) | fromYamlArray -}}
{{- if not $gpuDone -}}
{{- $affinity = include "ml-common.gpu.affinity" (dict "gpu" .component.gpu "affinity" $affinity) | fromYaml -}}
{{- $gpuDone = true -}}
{{- end -}}
{{- end -}}
{{- end -}}
- metadata:
    {{- with $pod.name }}
    name: {{ . }}
    {{- end }}
    labels:
      {{- include "ml-common.labels.selector" (dict "context" $ctx) | nindent 6 }}
    {{- with $spec.annotations }}
    annotations:
      {{- toYaml . | nindent 6 }}
    {{- end }}
  spec:
    {{- with include "seldon-model.v0.serviceAccountName" (dict "context" $ctx "podSpec" $spec) }}
    serviceAccountName: {{ . }}
    {{- end }}
    automountServiceAccountToken: {{ $spec.automountServiceAccountToken | default false }}
    {{- with include "ml-common.images.pullSecrets" (dict "secrets" $spec.imagePullSecrets "global" $ctx.Values.global) }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- include "ml-common.security.podSecurityContext" $spec.securityContext | nindent 4 }}
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
    {{- $volumes := $spec.volumes | default list }}
    {{- if and $ctx.Values.defaults.writableTmp $pod.nodes }}
    {{- $volumes = prepend $volumes (dict "name" "tmp" "emptyDir" dict) }}
    {{- end }}
    {{- with $volumes }}
    volumes:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    containers:
    {{- range $pod.nodes }}
      {{- include "seldon-model.v0.container" (dict "context" $ctx "node" .node "component" .component) | nindent 6 }}
    {{- else }} []
    {{- end }}
  {{- with $pod.scaling }}
  {{- if not (kindIs "invalid" .replicas) }}
  replicas: {{ int64 .replicas }}
  {{- end }}
  {{- if include "seldon-model.v0.on" .keda }}
  kedaSpec:
    {{- include "seldon-model.v0.kedaSpec" (dict "context" $ctx "keda" .keda "predictor" $pod.predictor) | trim | nindent 4 }}
  {{- else if include "seldon-model.v0.on" .hpa }}
  hpaSpec:
    {{- include "seldon-model.v0.hpaSpec" .hpa | nindent 4 }}
  {{- end }}
  {{- if include "seldon-model.v0.on" .pdb }}
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
seldon-model.v0.on: "true" when an optional block (hpa, keda, pdb, explainer) is present and not
switched off with enabled: false.
Usage: {{ if include "seldon-model.v0.on" $p.hpa }}
*/}}
{{- define "seldon-model.v0.on" -}}
{{- if and . (kindIs "map" .) (ne (toString .enabled) "false") -}}true{{- end -}}
{{- end -}}

{{/*
seldon-model.v0.hpaSpec: hpaSpec with autoscaling/v2 metrics (metricsv2): CPU and memory targets, then
the custom metrics as given.
Usage: {{ include "seldon-model.v0.hpaSpec" $hpa }}
*/}}
{{- define "seldon-model.v0.hpaSpec" -}}
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
{{- with concat $metrics (.metrics | default list) }}
metricsv2:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
seldon-model.v0.kedaSpec: kedaSpec with a Prometheus trigger on the executor's request rate for this
deployment and predictor (unless prometheus.enabled is false), plus any extra triggers.
Usage: {{ include "seldon-model.v0.kedaSpec" (dict "context" $ "keda" $keda "predictor" "default") }}
*/}}
{{- define "seldon-model.v0.kedaSpec" -}}
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
seldon-model.v0.explainer: the predictor's explainer (JSON). containerSpec carries the restricted
securityContext and resources; with no image the operator uses its configured alibi explainer image.
Usage: {{ include "seldon-model.v0.explainer" (dict "context" $ "explainer" $p.explainer) | fromJson | toYaml }}
*/}}
{{- define "seldon-model.v0.explainer" -}}
{{- $values := .context.Values -}}
{{- $e := .explainer -}}
{{- $out := dict "type" $e.type -}}
{{- range $key := list "modelUri" "serviceAccountName" "envSecretRefName" "storageInitializerImage" "config" "endpoint" -}}
{{- with get $e $key }}{{ $_ := set $out $key . }}{{ end -}}
{{- end -}}
{{- if not (kindIs "invalid" $e.replicas) }}{{ $_ := set $out "replicas" (int64 $e.replicas) }}{{ end -}}
{{- with $e.initParameters }}{{ $_ := set $out "initParameters" (kindIs "string" . | ternary . (toJson .)) }}{{ end -}}
{{- $container := include "ml-common.security.containerSecurityContext" (mergeOverwrite (deepCopy ($values.defaults.securityContext | default dict)) (deepCopy ($e.securityContext | default dict))) | fromYaml -}}
{{- $_ := set $container "resources" (mergeOverwrite (deepCopy $values.defaults.resources) (deepCopy ($e.resources | default dict))) -}}
{{- if include "seldon-model.v0.imageSet" $e -}}
{{- $image := mergeOverwrite (deepCopy $values.defaults.image) (deepCopy $e.image) -}}
{{- $_ := set $container "image" (include "ml-common.images.image" (dict "image" $image "global" $values.global "defaultTag" "")) -}}
{{- $_ := set $container "imagePullPolicy" $image.pullPolicy -}}
{{- end -}}
{{- with $e.env }}{{ $_ := set $container "env" . }}{{ end -}}
{{- $_ := set $out "containerSpec" $container -}}
{{- toJson $out -}}
{{- end -}}

{{/*
seldon-model.v0.serviceName: the Service the operator creates for a predictor: seldon.io/svc-name
(predictor svcName) or "<deployment>-<predictor>".
Usage: {{ include "seldon-model.v0.serviceName" (dict "context" $ "predictor" $p) }}
*/}}
{{- define "seldon-model.v0.serviceName" -}}
{{- .predictor.svcName | default (printf "%s-%s" (include "ml-common.names.fullname" .context) .predictor.name) -}}
{{- end -}}

{{/*
seldon-model.v0.testPredictor: the predictor the helm test and NOTES call (JSON): test.predictor, else
the first predictor that is not a shadow. The validation guarantees it exists.
Usage: {{- $p := include "seldon-model.v0.testPredictor" $ | fromJson }}
*/}}
{{- define "seldon-model.v0.testPredictor" -}}
{{- $found := dict -}}
{{- range .Values.predictors -}}
{{- if and (not $found) (or (eq .name $.Values.test.predictor) (and (not $.Values.test.predictor) (not .shadow))) -}}
{{- $found = . -}}
{{- end -}}
{{- end -}}
{{- toJson $found -}}
{{- end -}}
