{{/*
seldon-model.validate: the rules values.schema.json cannot express. Each failure names the value, the
problem and the fix. Mirrors the checks of the v1.17.1 operator's admission webhook (so a bad graph fails
at `helm template`, not at install time) plus a few that the webhook misses.
Usage: {{- include "seldon-model.validate" . }}
*/}}
{{- define "seldon-model.validate" -}}
{{- $values := .Values -}}
{{- $fullname := include "ml-common.names.fullname" . -}}
{{- $prepackaged := include "seldon-model.prepackaged" . | fromJsonArray -}}
{{- $dns := "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" -}}
{{- range $name, $_ := ($values.implementations | default dict) -}}
{{- if not (regexMatch "^[A-Z][A-Z0-9_]*$" $name) -}}
{{- fail (printf "implementations.%s: the key must be an implementation name in upper case, as the operator's predictor_servers config spells it (e.g. LIGHTGBM_SERVER): rename the key" $name) -}}
{{- end -}}
{{- end -}}
{{- if and (eq ($values.serverType | default "") "kafka") -}}
{{- range $i, $p := ($values.predictors | default list) -}}
{{- $names := list -}}
{{- range (include "seldon-model.kafkaEnv" $p.kafka | fromJsonArray) }}{{ $names = append $names .name }}{{ end -}}
{{- range (($p.svcOrch | default dict).env | default list) }}{{ $names = append $names .name }}{{ end -}}
{{- range $need := list "KAFKA_BROKER" "KAFKA_INPUT_TOPIC" "KAFKA_OUTPUT_TOPIC" -}}
{{- if not (has $need $names) -}}
{{- fail (printf "predictors[%d].kafka: serverType is kafka but %s is not set: set predictors[%d].kafka.broker, .inputTopic and .outputTopic (the executor reads them from its environment), or set serverType: rpc" $i $need $i) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $builtin := include "seldon-model.builtin" . | fromJsonArray -}}
{{- $predictors := $values.predictors | default list -}}
{{- if not $predictors -}}
{{- fail "predictors is empty: describe at least one predictor with a graph" -}}
{{- end -}}

{{- /* traffic and shadows (operator: checkTraffic, validateShadow) */ -}}
{{- $names := list -}}
{{- $shadows := list -}}
{{- $split := list -}}
{{- $sum := 0 -}}
{{- range $i, $p := $predictors -}}
{{- if has $p.name $names -}}
{{- fail (printf "predictors[%d].name %q is used by another predictor: predictor names must be unique" $i $p.name) -}}
{{- end -}}
{{- $names = append $names $p.name -}}
{{- if $p.shadow -}}
{{- $shadows = append $shadows $p.name -}}
{{- else -}}
{{- $split = append $split (printf "%s=%d" $p.name (int ($p.traffic | default 0))) -}}
{{- $sum = add $sum (int ($p.traffic | default 0)) -}}
{{- end -}}
{{- end -}}
{{- if gt (len $shadows) 1 -}}
{{- fail (printf "predictors: %d predictors are shadows (%s) but Seldon allows at most one: set shadow: false on all but one" (len $shadows) (join ", " $shadows)) -}}
{{- end -}}
{{- if and (eq (len $predictors) 1) (first $predictors).shadow -}}
{{- fail (printf "predictors[0] (%s) is a shadow but the only predictor: a shadow mirrors the traffic of another predictor; add the predictor it shadows, or set predictors[0].shadow: false" (first $predictors).name) -}}
{{- end -}}
{{- if and (gt (len $split) 1) (ne (int $sum) 100) -}}
{{- fail (printf "predictors[].traffic of the predictors that are not shadows sums to %d (%s): it must be 100; adjust predictors[].traffic (shadows are not counted)" (int $sum) (join ", " $split)) -}}
{{- end -}}
{{- if eq (len $predictors) 1 -}}
{{- $t := int ((first $predictors).traffic | default 0) -}}
{{- if and (gt $t 0) (lt $t 100) -}}
{{- fail (printf "predictors[0].traffic is %d but a single predictor receives all traffic: remove predictors[0].traffic or set it to 100" $t) -}}
{{- end -}}
{{- end -}}

{{- /* per predictor */ -}}
{{- $svcNames := list -}}
{{- range $i, $p := $predictors -}}
{{- $ppath := printf "predictors[%d]" $i -}}
{{- $svc := include "seldon-model.serviceName" (dict "context" $ "predictor" $p) -}}
{{- if gt (len $svc) 63 -}}
{{- fail (printf "%s: the predictor Service name %q is longer than 63 characters and the operator would hash it: shorten fullnameOverride or %s.name, or set %s.svcName" $ppath $svc $ppath $ppath) -}}
{{- end -}}
{{- if has $svc $svcNames -}}
{{- fail (printf "%s.svcName %q is already the Service of another predictor: Service names must be unique" $ppath $svc) -}}
{{- end -}}
{{- $svcNames = append $svcNames $svc -}}

{{- $acc := dict "nodes" list -}}
{{- include "seldon-model.collect" (dict "node" $p.graph "path" (printf "%s.graph" $ppath) "acc" $acc) -}}
{{- $nodeNames := list -}}
{{- range $acc.nodes -}}
{{- if has .node.name $nodeNames -}}
{{- fail (printf "%s.name %q is used by another node of %s.graph: node names must be unique in a predictor (each becomes a container name)" .path .node.name $ppath) -}}
{{- end -}}
{{- $nodeNames = append $nodeNames .node.name -}}
{{- end -}}
{{- if and $p.noEngine (gt (len $nodeNames) 1) -}}
{{- fail (printf "%s.noEngine is true but its graph has %d nodes: running without the executor only works for a single-node graph; set noEngine: false" $ppath (len $nodeNames)) -}}
{{- end -}}

{{- $podNames := list "" -}}
{{- range $j, $pod := ($p.pods | default list) -}}
{{- if has $pod.name $podNames -}}
{{- fail (printf "%s.pods[%d].name %q is used twice: extra pod names must be unique in a predictor" $ppath $j $pod.name) -}}
{{- end -}}
{{- $podNames = append $podNames $pod.name -}}
{{- end -}}

{{- range $name, $component := ($p.components | default dict) -}}
{{- $cpath := printf "%s.components.%s" $ppath $name -}}
{{- if or (not (regexMatch $dns $name)) (gt (len $name) 63) -}}
{{- fail (printf "%s: the key %q is not a graph node name (lowercase letters, digits and '-', at most 63 characters, as container names must be): rename the key and the node" $cpath $name) -}}
{{- end -}}
{{- if not (kindIs "map" $component) -}}
{{- fail (printf "%s is empty: give the node's container settings (at least image) or remove the key" $cpath) -}}
{{- end -}}
{{- if and (eq ($component.securityProfile | default "") "privileged") (not $component.securityProfileReason) -}}
{{- fail (printf "%s.securityProfile is privileged but %s.securityProfileReason is empty: say why the image must run outside the restricted Pod Security Standard" $cpath $cpath) -}}
{{- end -}}
{{- range $v, $version := ($component.versions | default list) -}}
{{- if not (has ($version.pod | default "") $podNames) -}}
{{- fail (printf "%s.versions[%d].pod is %q but %s.pods has no pod of that name: add it to %s.pods" $cpath $v ($version.pod | default "") $ppath $ppath) -}}
{{- end -}}
{{- if eq ($version.pod | default "") ($component.pod | default "") -}}
{{- fail (printf "%s.versions[%d].pod is the pod the node already runs in (%q): a pod holds one container per node name; choose another pod" $cpath $v ($version.pod | default "")) -}}
{{- end -}}
{{- end -}}
{{- if not (has $name $nodeNames) -}}
{{- fail (printf "%s: there is no graph node named %q in %s.graph (nodes: %s): components are keyed by node name; rename the key or add the node" $cpath $name $ppath (join ", " $nodeNames)) -}}
{{- end -}}
{{- if not (has ($component.pod | default "") $podNames) -}}
{{- fail (printf "%s.pod is %q but %s.pods has no pod of that name: add it to %s.pods or remove %s.pod to keep the node in the main pod" $cpath $component.pod $ppath $ppath $cpath) -}}
{{- end -}}
{{- if and (kindIs "map" $component.image) (not $component.image.repository) (or $component.image.tag $component.image.digest) -}}
{{- fail (printf "%s.image sets a tag or digest but no repository: set %s.image.repository" $cpath $cpath) -}}
{{- end -}}
{{- if and (kindIs "map" $component.image) (include "seldon-model.imageSet" $component) (not $component.image.tag) (not $component.image.digest) -}}
{{- fail (printf "%s.image.tag is empty: set %s.image.tag (or image.digest); component images have no default tag" $cpath $cpath) -}}
{{- end -}}
{{- $_ := include "ml-common.accelerator.placement" (dict "gpu" $component.gpu "accelerator" $component.accelerator "path" $cpath) -}}
{{- end -}}

{{- range $acc.nodes -}}
{{- $node := .node -}}
{{- $path := .path -}}
{{- $impl := $node.implementation | default "" -}}
{{- $component := get ($p.components | default dict) $node.name | default dict -}}
{{- $children := $node.children | default list -}}
{{- $kind := include "seldon-model.kind" (dict "context" $ "node" $node) -}}
{{- if eq $kind "unknown" -}}
{{- fail (printf "%s.implementation %q is unknown: use a prepackaged server (%s), a built-in (%s), declare it under implementations (as the operator's predictor_servers config names it, e.g. implementations: {%s: {protocols: [seldon]}}), or leave it empty to run your own image from components.%s" $path $impl (join ", " $prepackaged) (join ", " $builtin) $impl $node.name) -}}
{{- end -}}
{{- if and (eq ($node.type | default "") "UNKNOWN_TYPE") (not $node.methods) -}}
{{- fail (printf "%s (%s) has type UNKNOWN_TYPE but no methods: list the methods it implements (%s.methods, e.g. [TRANSFORM_INPUT]) or give it a known type" $path $node.name $path) -}}
{{- end -}}
{{- if and (eq $kind "custom") (not (include "seldon-model.imageSet" $component)) -}}
{{- fail (printf "%s (%s) has no implementation, so it runs your own image, but %s.components.%s.image.repository is not set: add the component with its image (the container is named after the node), or set %s.implementation to a prepackaged server" $path $node.name $ppath $node.name $path) -}}
{{- end -}}
{{- if and (eq $kind "builtin") $component -}}
{{- fail (printf "%s.components.%s is set but node %s uses the built-in %s, which runs inside the executor and has no container: remove %s.components.%s, or drop the implementation to run your own image" $ppath $node.name $node.name $impl $ppath $node.name) -}}
{{- end -}}
{{- if eq $kind "prepackaged" -}}
{{- $server := include "seldon-model.serverSpec" (dict "context" $ "implementation" $impl) | fromJson -}}
{{- if and (not $node.modelUri) $server.modelUri -}}
{{- fail (printf "%s.modelUri is empty but %s downloads its model from it: set %s.modelUri (e.g. gs://, s3://, pvc://)" $path $impl $path) -}}
{{- end -}}
{{- if not (has ($values.protocol | default "seldon") $server.protocols) -}}
{{- fail (printf "%s.implementation %s does not serve protocol %q: set protocol to one of %s, or use another server" $path $impl ($values.protocol | default "seldon") (join ", " $server.protocols)) -}}
{{- end -}}
{{- end -}}
{{- $expectedType := dict "SIMPLE_MODEL" "MODEL" "SIMPLE_ROUTER" "ROUTER" "RANDOM_ABTEST" "ROUTER" "AVERAGE_COMBINER" "COMBINER" -}}
{{- if and (eq $kind "builtin") $node.type (ne $node.type (get $expectedType $impl)) -}}
{{- fail (printf "%s.type is %s but the built-in %s is a %s: set %s.type: %s or remove it" $path $node.type $impl (get $expectedType $impl) $path (get $expectedType $impl)) -}}
{{- end -}}
{{- if and (eq $impl "RANDOM_ABTEST") $node.type -}}
{{- fail (printf "%s (%s) sets type %s with implementation RANDOM_ABTEST: the 1.17.1 executor then calls a router container this node does not have and crashes on every request (connection closed); remove %s.type, the executor runs RANDOM_ABTEST itself" $path $node.name $node.type $path) -}}
{{- end -}}
{{- $nodeType := $node.type | default (get $expectedType $impl) -}}
{{- if and (has $nodeType (list "ROUTER" "COMBINER")) (lt (len $children) 1) -}}
{{- fail (printf "%s (%s) is a %s without children: a %s sends each request to its children; add at least one or make it a MODEL" $path $node.name $nodeType $nodeType) -}}
{{- end -}}
{{- if and (eq $impl "RANDOM_ABTEST") (ne (len $children) 2) -}}
{{- fail (printf "%s (%s) uses RANDOM_ABTEST with %d children: the A/B router sends ratioA of the requests to the first child and the rest to the second, so it needs exactly two" $path $node.name (len $children)) -}}
{{- end -}}
{{- range $k, $param := ($node.parameters | default list) -}}
{{- $parpath := printf "%s.parameters[%d]" $path $k -}}
{{- $v := include "seldon-model.parameterValue" $param -}}
{{- if and (eq $param.type "INT") (not (regexMatch "^-?[0-9]+$" $v)) -}}
{{- fail (printf "%s (%s) has type INT but value %q: give a whole number or change the type" $parpath $param.name $v) -}}
{{- end -}}
{{- if and (has $param.type (list "FLOAT" "DOUBLE")) (not (regexMatch "^-?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?$" $v)) -}}
{{- fail (printf "%s (%s) has type %s but value %q: give a number or change the type" $parpath $param.name $param.type $v) -}}
{{- end -}}
{{- if and (eq $param.type "BOOL") (not (has (lower $v) (list "true" "false" "1" "0" "yes" "no" "y" "n" "t" "f" "on" "off"))) -}}
{{- fail (printf "%s (%s) has type BOOL but value %q: give true or false (or 1/0, yes/no, on/off, as Seldon's Python parses them) or change the type" $parpath $param.name $v) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* pods: GPU pools, the executor's home, scaling */ -}}
{{- $pods := include "seldon-model.pods" (dict "context" $ "predictor" $p "index" $i) | fromJsonArray -}}
{{- if and (not (first $pods).nodes) (not $p.noEngine) (not $values.seldonAnnotations.engineSeparatePod) -}}
{{- range (rest $pods) -}}
{{- if .nodes -}}
{{- fail (printf "%s: every node with a container is placed in an extra pod, so the executor has no pod to run in (it joins the main pod): keep at least one node in the main pod (remove its components.<node>.pod) or set seldonAnnotations.engineSeparatePod: true" $ppath) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $k, $pod := $pods -}}
{{- range $field := list "hostNetwork" "hostPID" "hostIPC" -}}
{{- if eq (toString (get $pod.podSpec $field)) "true" -}}
{{- fail (printf "%s.podSpec.%s is true, which the restricted Pod Security Standard forbids: remove it" $pod.path $field) -}}
{{- end -}}
{{- end -}}
{{- range ($pod.podSpec.volumes | default list) -}}
{{- if and (kindIs "map" .) .hostPath -}}
{{- fail (printf "%s.podSpec.volumes: volume %q is a hostPath, which the restricted Pod Security Standard forbids: use a PVC, emptyDir, configMap or secret" $pod.path .name) -}}
{{- end -}}
{{- end -}}
{{- $volumes := list -}}
{{- if and $values.defaults.writableTmp $pod.nodes }}{{ $volumes = append $volumes "tmp" }}{{ end -}}
{{- range ($pod.podSpec.volumes | default list) -}}
{{- if has .name $volumes -}}
{{- fail (printf "%s: the pod has two volumes named %q%s: rename one in podSpec.volumes" $pod.path .name ((eq .name "tmp") | ternary " (the chart mounts an emptyDir \"tmp\" at /tmp while defaults.writableTmp is true)" "")) -}}
{{- end -}}
{{- $volumes = append $volumes .name -}}
{{- end -}}
{{- range $pod.nodes -}}
{{- $npath := printf "%s.components.%s" $ppath .node.name -}}
{{- range $m, $mount := (.component.volumeMounts | default list) -}}
{{- if not (has $mount.name $volumes) -}}
{{- fail (printf "%s.volumeMounts[%d] mounts volume %q but its pod has no such volume: add it to the podSpec.volumes of %s (or of defaults)" $npath $m $mount.name $pod.path) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $pools := list -}}
{{- range $pod.nodes -}}
{{- $gpu := include "ml-common.accelerator.placement" (dict "gpu" .component.gpu "accelerator" .component.accelerator "path" .componentPath) | fromJson -}}
{{- if $gpu -}}
{{- $pool := $gpu.pool | default dict -}}
{{- $pools = append $pools (printf "%s=%s%s" ($pool.labelKey | default (include "ml-common.gpu.defaultPoolLabel" $)) (ternary "*" ($pool.name | default "") (eq (toString $gpu.anyPool) "true")) (include "seldon-model.hardwareLabels" $gpu)) -}}
{{- end -}}
{{- end -}}
{{- if gt (len (uniq $pools)) 1 -}}
{{- fail (printf "%s: the GPU components of one pod ask for different pools (%s) but a pod runs on one node: give them the same gpu.pool or accelerator.pool (and TPU type and topology), or move one to its own pod with components.<node>.pod" $pod.path (join ", " (uniq $pools))) -}}
{{- end -}}
{{- $s := $pod.scaling -}}
{{- $replicas := $s.replicas -}}
{{- $rpath := printf "%s.replicas" $pod.path -}}
{{- if and (eq $k 0) (not (kindIs "invalid" $p.mainPodReplicas)) -}}
{{- $rpath = printf "%s.mainPodReplicas" $ppath -}}
{{- else if and (eq $k 0) (kindIs "invalid" $p.replicas) -}}
{{- $replicas = $values.replicas -}}
{{- $rpath = "replicas" -}}
{{- else if eq $k 0 -}}
{{- $replicas = $p.replicas -}}
{{- end -}}
{{- $hpaOn := include "seldon-model.on" $s.hpa -}}
{{- $kedaOn := include "seldon-model.on" $s.keda -}}
{{- if and $hpaOn $kedaOn -}}
{{- fail (printf "%s sets both hpa and keda: the operator would silently ignore hpa; keep one (set hpa.enabled or keda.enabled to false)" $pod.path) -}}
{{- end -}}
{{- $min := 1 -}}
{{- $max := 0 -}}
{{- $scaler := "" -}}
{{- if $hpaOn -}}
{{- $scaler = "hpa" -}}
{{- $min = int ($s.hpa.minReplicas | default 1) -}}
{{- $max = int $s.hpa.maxReplicas -}}
{{- if gt $min $max -}}
{{- fail (printf "%s.hpa.minReplicas (%d) is greater than %s.hpa.maxReplicas (%d): make minReplicas <= maxReplicas" $pod.path $min $pod.path $max) -}}
{{- end -}}
{{- else if $kedaOn -}}
{{- $scaler = "keda" -}}
{{- $min = int ($s.keda.minReplicaCount | default 0) -}}
{{- $max = int ($s.keda.maxReplicaCount | default 100) -}}
{{- if gt $min $max -}}
{{- fail (printf "%s.keda.minReplicaCount (%d) is greater than %s.keda.maxReplicaCount (%d): make minReplicaCount <= maxReplicaCount" $pod.path $min $pod.path $max) -}}
{{- end -}}
{{- $prom := $s.keda.prometheus | default dict -}}
{{- if ne (toString $prom.enabled) "false" -}}
{{- if or (not $prom.serverAddress) (kindIs "invalid" $prom.threshold) -}}
{{- fail (printf "%s.keda.prometheus needs serverAddress and threshold for its trigger on seldon_api_executor_server_requests_seconds_count: set both (e.g. serverAddress: http://prometheus-operated.monitoring.svc:9090, threshold: 10) or set keda.prometheus.enabled: false and give keda.triggers" $pod.path) -}}
{{- end -}}
{{- /* at zero replicas no request reaches an executor: a trigger on the executor's own rate could never wake it */ -}}
{{- if and (eq $min 0) (not $prom.query) -}}
{{- fail (printf "%s.keda.minReplicaCount is 0 (KEDA's default when unset) with the trigger on the executor's request rate: at zero replicas no request reaches an executor, so that rate stays 0, the model never scales up again and every request fails. Set minReplicaCount: 1, or scale on demand measured in front of the model (keda.prometheus.query on an ingress or gateway metric, or keda.triggers such as a queue length)" $pod.path) -}}
{{- end -}}
{{- else if not $s.keda.triggers -}}
{{- fail (printf "%s.keda has no trigger: keep keda.prometheus enabled or add keda.triggers" $pod.path) -}}
{{- end -}}
{{- end -}}
{{- if and $scaler (not (kindIs "invalid" $replicas)) (or (lt (int $replicas) $min) (gt (int $replicas) $max)) -}}
{{- fail (printf "%s is %d but %s.%s allows %d to %d replicas: set replicas inside that range or remove it (the autoscaler owns the replica count)" $rpath (int $replicas) $pod.path $scaler $min $max) -}}
{{- end -}}
{{- if include "seldon-model.on" $s.pdb -}}
{{- $hasMin := not (kindIs "invalid" $s.pdb.minAvailable) -}}
{{- $hasMax := not (kindIs "invalid" $s.pdb.maxUnavailable) -}}
{{- if eq $hasMin $hasMax -}}
{{- fail (printf "%s.pdb must set exactly one of minAvailable and maxUnavailable (Kubernetes rejects both, and neither protects nothing): keep one" $pod.path) -}}
{{- end -}}
{{- $floor := $min -}}
{{- if not $scaler }}{{ $floor = (kindIs "invalid" $replicas) | ternary 1 (int $replicas) }}{{ end -}}
{{- if and $hasMin (not (kindIs "string" $s.pdb.minAvailable)) (ge (int $s.pdb.minAvailable) (int $floor)) (gt (int $floor) 0) -}}
{{- fail (printf "%s.pdb.minAvailable (%d) is not below the pod's minimum replica count (%d), so no pod could ever be evicted and node drains would hang: lower minAvailable, raise the replicas, or use maxUnavailable: 1" $pod.path (int $s.pdb.minAvailable) (int $floor)) -}}
{{- end -}}
{{- if and $hasMax (not (kindIs "string" $s.pdb.maxUnavailable)) (eq (int $s.pdb.maxUnavailable) 0) -}}
{{- fail (printf "%s.pdb.maxUnavailable is 0, so no pod could ever be evicted and node drains would hang: use at least 1 (or a percentage)" $pod.path) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- if and (include "seldon-model.on" $p.explainer) (not $p.explainer.type) -}}
{{- fail (printf "%s.explainer.type is empty: set the alibi explainer type (e.g. AnchorTabular) or set %s.explainer.enabled: false" $ppath $ppath) -}}
{{- end -}}
{{- if and (include "seldon-model.on" $p.explainer) (include "seldon-model.imageSet" $p.explainer) (not $p.explainer.image.tag) (not $p.explainer.image.digest) -}}
{{- fail (printf "%s.explainer.image.tag is empty: set it (or image.digest), or remove explainer.image to use the operator's explainer image" $ppath) -}}
{{- end -}}
{{- end -}}

{{- /* graph endpoint types (operator: collectTransports): one type across the graphs, agreeing with transport */ -}}
{{- $found := list -}}
{{- range $i, $p := $predictors -}}
{{- $acc := dict "nodes" list -}}
{{- include "seldon-model.collect" (dict "node" $p.graph "path" (printf "predictors[%d].graph" $i) "acc" $acc) -}}
{{- range $acc.nodes -}}
{{- $npath := .path -}}
{{- with (.node.endpoint | default dict).type -}}
{{- if and $found (not (has . $found)) -}}
{{- fail (printf "%s.endpoint.type is %s but another node's is %s: the operator allows one endpoint type per SeldonDeployment; use spec-wide transport instead" $npath . (first $found)) -}}
{{- end -}}
{{- $found = append $found . -}}
{{- if ne (lower .) ($values.transport | default "rest") -}}
{{- fail (printf "%s.endpoint.type is %s but transport is %s: the operator refuses mixed transports; set transport: %s or remove the node's endpoint.type" $npath . ($values.transport | default "rest") (lower .)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* the helm test's target */ -}}
{{- if $values.test.enabled -}}
{{- $target := include "seldon-model.testPredictor" . | fromJson -}}
{{- if not $target -}}
{{- if $values.test.predictor -}}
{{- fail (printf "test.predictor is %q but there is no predictor of that name (predictors: %s): set test.predictor to one of them or leave it empty" $values.test.predictor (join ", " $names)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* seldon-model.hardwareLabels: " (k=v, ...)" of a placement block's hardware labels (a TPU's type and topology), or "". */}}
{{- define "seldon-model.hardwareLabels" -}}
{{- with .nodeSelector -}}
{{- $pairs := list -}}
{{- range $k, $v := . }}{{ $pairs = append $pairs (printf "%s=%s" $k $v) }}{{ end -}}
{{- printf " (%s)" (join ", " ($pairs | sortAlpha)) -}}
{{- end -}}
{{- end -}}
