{{/*
Pools: the ONE place that resolves `pools` (each merged over `poolDefaults` with ml-common.values.merge)
into what every provider renders:
identity labels, taints, the extended resources a node advertises and the `gpu:` or `accelerator:` block a
workload needs (NVIDIA GPUs come from `gpu`; TPUs, AWS Neuron and AMD GPUs from `accelerator`, whose kinds,
taints and TPU shapes are ml-common's).
Provider templates only translate this into their own objects.
*/}}

{{/* gpu-node-pool.poolLabelKey: the node label that names a pool, from ml-common (never retyped here). */}}
{{- define "gpu-node-pool.poolLabelKey" -}}
{{- include "ml-common.gpu.defaultPoolLabel" . -}}
{{- end -}}

{{/* gpu-node-pool.computeClassLabel: the label GKE puts on every node of a ComputeClass. */}}
{{- define "gpu-node-pool.computeClassLabel" -}}cloud.google.com/compute-class{{- end -}}

{{/*
gpu-node-pool.pools: every pool resolved, as JSON {"pools": [...]}. Each pool has its values plus:
  isGpu (NVIDIA), kind (nvidia|tpu|neuron|amd, "" for CPU), isAccelerator, configName, config, taints,
  resources (name -> per-node count), labels (identity node labels), sharing (none|time-slicing|mps), replicas,
  tpuShape (tpu), workloadGpu / workloadAccelerator (the block a workload uses to land on it) and placement
  (ml-common's placement block of that workload block).
Usage: {{- $pools := (include "gpu-node-pool.pools" . | fromJson).pools }}
*/}}
{{- define "gpu-node-pool.pools" -}}
{{- $root := . -}}
{{- $poolKey := include "gpu-node-pool.poolLabelKey" . -}}
{{- $defaultTaints := include "ml-common.gpu.defaultTaints" . | fromYamlArray -}}
{{- $out := list -}}
{{- range $index, $raw := .Values.pools -}}
{{- $pool := include "ml-common.values.merge" (list $root.Values.poolDefaults $raw) | fromJson -}}
{{- $_ := set $pool "index" $index -}}
{{- $path := printf "pools[%d]" $index -}}
{{- $count := int $pool.gpu.count -}}
{{- $isGpu := gt $count 0 -}}
{{- $_ := set $pool "isGpu" $isGpu -}}
{{- /* The accelerator kind: nvidia from `gpu`, tpu, neuron or amd from `accelerator` (ml-common's kinds). */ -}}
{{- $acc := $pool.accelerator | default dict -}}
{{- $kind := ternary "nvidia" (toString ($acc.kind | default "")) $isGpu -}}
{{- if and $isGpu $acc.kind -}}
{{- fail (printf "%s sets gpu.count (%d) and accelerator.kind (%s): a pool holds one kind of accelerator; describe NVIDIA GPUs with gpu, anything else with accelerator" $path $count $acc.kind) -}}
{{- end -}}
{{- if and $acc.kind (not (has (toString $acc.kind) (list "tpu" "neuron" "amd"))) -}}
{{- fail (printf "%s.accelerator.kind is %q: use tpu, neuron or amd (NVIDIA pools are described by gpu: {count, product})" $path (toString $acc.kind)) -}}
{{- end -}}
{{- $_ := set $pool "kind" $kind -}}
{{- $_ := set $pool "isAccelerator" (ne $kind "") -}}
{{- $configName := $pool.devicePluginConfig | default $root.Values.devicePlugin.defaultConfig -}}
{{- $config := index $root.Values.devicePlugin.configs $configName | default dict -}}
{{- if eq $root.Values.provider "gke" -}}
{{- /* GKE runs its own device plugin: whole GPUs, no config label. */ -}}
{{- $config = dict "migStrategy" "none" -}}
{{- $configName = "" -}}
{{- end -}}
{{- $_ := set $pool "configName" $configName -}}
{{- $_ := set $pool "config" $config -}}
{{- /* Taints: the pool's own when it sets the key (even []), else ml-common's default for its accelerator kind. */ -}}
{{- $taints := list -}}
{{- if and (hasKey $raw "taints") (kindIs "slice" $raw.taints) -}}
{{- $taints = $raw.taints -}}
{{- else if kindIs "slice" $root.Values.poolDefaults.taints -}}
{{- $taints = $root.Values.poolDefaults.taints -}}
{{- else if $kind -}}
{{- $taints = include "ml-common.accelerator.defaultTaints" $kind | fromYamlArray -}}
{{- end -}}
{{- $_ := set $pool "taints" $taints -}}
{{- /* Extended resources one node advertises: MIG strategy, then sharing (replicas, renameByDefault). */ -}}
{{- $resources := dict -}}
{{- $sharing := "none" -}}
{{- $replicas := 1 -}}
{{- $rename := false -}}
{{- if $isGpu -}}
{{- $strategy := $config.migStrategy | default "none" -}}
{{- $base := dict -}}
{{- if eq $strategy "none" -}}
{{- $_ := set $base "nvidia.com/gpu" $count -}}
{{- else if eq $strategy "single" -}}
{{- range $profile, $perGpu := $pool.mig.profiles -}}
{{- $_ := set $base "nvidia.com/gpu" (mul $count (int $perGpu)) -}}
{{- end -}}
{{- else -}}
{{- range $profile, $perGpu := $pool.mig.profiles -}}
{{- $_ := set $base (printf "nvidia.com/mig-%s" $profile) (mul $count (int $perGpu)) -}}
{{- end -}}
{{- end -}}
{{- with $config.timeSlicing -}}
{{- $sharing = "time-slicing" -}}{{- $replicas = int .replicas -}}{{- $rename = .renameByDefault | default false -}}
{{- end -}}
{{- with $config.mps -}}
{{- $sharing = "mps" -}}{{- $replicas = int .replicas -}}{{- $rename = .renameByDefault | default false -}}
{{- end -}}
{{- range $name, $n := $base -}}
{{- $_ := set $resources (ternary (printf "%s.shared" $name) $name $rename) (mul $n $replicas) -}}
{{- end -}}
{{- end -}}
{{- if eq $kind "tpu" -}}
{{- /* One node is one TPU host: its chips follow from the type and topology (ml-common's table). */ -}}
{{- $shape := include "ml-common.accelerator.tpuShape" (dict "tpu" $acc.tpu "path" (printf "%s.accelerator.tpu" $path)) | fromJson -}}
{{- if not $shape.singleHost -}}
{{- fail (printf "%s.accelerator.tpu.topology %s of %s is a multi-host slice (%d hosts of %d chips): the pools of this chart serve models, whose pods each run on one host; use a single-host topology (2x2 or 2x4 for v5e and v6e, 2x2x1 for v4 and v5p), and give multi-host slices (JobSet, LeaderWorkerSet) a node pool of their own" $path $acc.tpu.topology $acc.tpu.type (int $shape.hosts) (int $shape.chipsPerHost)) -}}
{{- end -}}
{{- if and $acc.count (ne (int $acc.count) (int $shape.chipsPerHost)) -}}
{{- fail (printf "%s.accelerator.count is %d but a %s host of topology %s has %d chips: set it to %d or leave it 0" $path (int $acc.count) $acc.tpu.type $acc.tpu.topology (int $shape.chipsPerHost) (int $shape.chipsPerHost)) -}}
{{- end -}}
{{- $_ := set $pool "tpuShape" $shape -}}
{{- $_ := set $resources "google.com/tpu" (int $shape.chipsPerHost) -}}
{{- else if has $kind (list "neuron" "amd") -}}
{{- if lt (int $acc.count) 1 -}}
{{- fail (printf "%s.accelerator.count is %d: set the %s per node (e.g. %s)" $path (int $acc.count) (ternary "Neuron devices" "AMD GPUs" (eq $kind "neuron")) (ternary "inf2.xlarge 1, inf2.24xlarge 6, inf2.48xlarge 12, trn1.32xlarge 16" "g4ad.xlarge 1, MI300X servers 8" (eq $kind "neuron"))) -}}
{{- end -}}
{{- $kinds := include "ml-common.accelerator.kinds" . | fromYaml -}}
{{- $_ := set $resources (get $kinds $kind).resource (int $acc.count) -}}
{{- if eq $kind "neuron" -}}
{{- $_ := set $resources "aws.amazon.com/neuroncore" (mul (int $acc.count) (int $acc.neuron.coresPerDevice)) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $pool "resources" $resources -}}
{{- $_ := set $pool "sharing" $sharing -}}
{{- $_ := set $pool "replicas" $replicas -}}
{{- /* Identity labels: what every node of the pool carries, whatever the provider. */ -}}
{{- $labels := dict $poolKey $pool.name -}}
{{- if $isGpu -}}
{{- if ne $root.Values.provider "gke" -}}
{{- $_ := set $labels "nvidia.com/gpu.present" "true" -}}
{{- $_ := set $labels "nvidia.com/device-plugin.config" $configName -}}
{{- end -}}
{{- with $pool.gpu.product }}{{ $_ := set $labels "nvidia.com/gpu.product" . }}{{ end -}}
{{- with $pool.mig.config }}{{ $_ := set $labels "nvidia.com/mig.config" . }}{{ end -}}
{{- else if eq $kind "tpu" -}}
{{- /* GKE's labels of a TPU node (set by GKE itself on gke; written here for simulated and self-made pools). */ -}}
{{- $_ := set $labels "cloud.google.com/gke-tpu-accelerator" (toString $acc.tpu.type) -}}
{{- $_ := set $labels "cloud.google.com/gke-tpu-topology" (toString $acc.tpu.topology) -}}
{{- end -}}
{{- /* The identity labels win over the same keys in the pool's own labels. */ -}}
{{- $_ := set $pool "labels" (include "ml-common.values.merge" (list $pool.labels $labels) | fromJson) -}}
{{- /* The `gpu:` block of a workload (ml-common) that lands on this pool: one device of its first resource. */ -}}
{{- $workload := dict -}}
{{- if and $isGpu $resources -}}
{{- $first := first (keys $resources | sortAlpha) -}}
{{- $_ := set $workload "count" 1 -}}
{{- if hasPrefix "nvidia.com/mig-" $first -}}
{{- $_ := set $workload "migProfile" (trimPrefix "nvidia.com/mig-" $first) -}}
{{- if $rename }}{{ $_ := set $workload "resource" $first }}{{ $_ := unset $workload "migProfile" }}{{ end -}}
{{- else if ne $first "nvidia.com/gpu" -}}
{{- $_ := set $workload "resource" $first -}}
{{- end -}}
{{- $_ := set $workload "pool" (include "gpu-node-pool.workloadPool" (dict "context" $root "pool" $pool "defaultTaints" $defaultTaints) | fromJson) -}}
{{- end -}}
{{- $_ := set $pool "workloadGpu" $workload -}}
{{- /* Other kinds: the `accelerator:` block of a workload that lands on this pool (one device, or the TPU host). */ -}}
{{- $workloadAcc := dict -}}
{{- if and $kind (not $isGpu) -}}
{{- $_ := set $workloadAcc "kind" $kind -}}
{{- if eq $kind "tpu" -}}
{{- $_ := set $workloadAcc "tpu" (dict "type" (toString $acc.tpu.type) "topology" (toString $acc.tpu.topology)) -}}
{{- end -}}
{{- $_ := set $workloadAcc "pool" (include "gpu-node-pool.workloadPool" (dict "context" $root "pool" $pool "defaultTaints" (include "ml-common.accelerator.defaultTaints" $kind | fromYamlArray)) | fromJson) -}}
{{- end -}}
{{- $_ := set $pool "workloadAccelerator" $workloadAcc -}}
{{- /* The placement block (ml-common) of either: what headroom placeholders and helm tests use. */ -}}
{{- $_ := set $pool "placement" (include "ml-common.accelerator.placement" (dict "gpu" $workload "accelerator" $workloadAcc "path" (printf "%s (its workload block)" $path)) | fromJson) -}}
{{- $out = append $out $pool -}}
{{- end -}}
{{- toJson (dict "pools" $out) -}}
{{- end -}}

{{/*
gpu-node-pool.workloadPool: the `pool:` of a workload block (gpu or accelerator) that lands on a resolved pool,
as JSON: its name; on GKE the ComputeClass label and taint (pods pick a class by its node label, and its
auto-created nodes are tainted with it); the pool's taints when they differ from the kind's default ones.
Usage: {{ include "gpu-node-pool.workloadPool" (dict "context" $root "pool" $pool "defaultTaints" $taints) | fromJson }}
*/}}
{{- define "gpu-node-pool.workloadPool" -}}
{{- $selector := dict "name" .pool.name -}}
{{- $tolerate := .pool.taints | default list -}}
{{- if eq .context.Values.provider "gke" -}}
{{- $_ := set $selector "labelKey" (include "gpu-node-pool.computeClassLabel" .) -}}
{{- $tolerate = concat $tolerate (list (dict "key" (include "gpu-node-pool.computeClassLabel" .) "effect" "NoSchedule")) -}}
{{- end -}}
{{- if ne (toJson $tolerate) (toJson .defaultTaints) -}}
{{- $_ := set $selector "taints" $tolerate -}}
{{- end -}}
{{- toJson $selector -}}
{{- end -}}

{{/* gpu-node-pool.capiAccelerator: the cluster-api/accelerator label of an accelerator pool's machines. */}}
{{- define "gpu-node-pool.capiAccelerator" -}}
{{- .capi.accelerator | default .gpu.product | default .accelerator.product | default .name -}}
{{- end -}}

{{/* gpu-node-pool.taintString: "key=value:Effect" or "key:Effect" (Cluster API / kubelet format). */}}
{{- define "gpu-node-pool.taintString" -}}
{{- if .value -}}{{ .key }}={{ .value }}:{{ .effect | default "NoSchedule" }}{{- else -}}{{ .key }}:{{ .effect | default "NoSchedule" }}{{- end -}}
{{- end -}}

{{/* gpu-node-pool.labelString: "k1=v1,k2=v2" sorted (Cluster API capacity annotation / kubelet --node-labels). */}}
{{- define "gpu-node-pool.labelString" -}}
{{- $pairs := list -}}
{{- range $key, $value := . }}{{ $pairs = append $pairs (printf "%s=%s" $key (toString $value)) }}{{ end -}}
{{- join "," ($pairs | sortAlpha) -}}
{{- end -}}

{{/*
gpu-node-pool.daemonTolerations: the tolerations of the DaemonSets that run on GPU nodes (device plugin,
MPS daemon, DCGM exporter), as a YAML list: one `operator: Exists` toleration per distinct key and effect
among ml-common's default GPU taints and every pool's taints (so any taint value is tolerated), then
.extra (the DaemonSet's own tolerations value) appended as given.
Usage: {{- include "gpu-node-pool.daemonTolerations" (dict "context" $ "extra" .Values.devicePlugin.tolerations) | nindent 8 }}
*/}}
{{- define "gpu-node-pool.daemonTolerations" -}}
{{- $root := .context -}}
{{- $out := list -}}
{{- $keys := list -}}
{{- range (include "ml-common.gpu.defaultTaints" $root | fromYamlArray) -}}
{{- $keys = append $keys (dict "key" .key "effect" (.effect | default "NoSchedule")) -}}
{{- end -}}
{{- range (include "gpu-node-pool.pools" $root | fromJson).pools -}}
{{- range .taints }}{{ $keys = append $keys (dict "key" .key "effect" (.effect | default "NoSchedule")) }}{{ end -}}
{{- end -}}
{{- range ($keys | uniq) -}}
{{- $out = append $out (dict "key" .key "operator" "Exists" "effect" .effect) -}}
{{- end -}}
{{- toYaml (concat $out (.extra | default list)) -}}
{{- end -}}

{{/* gpu-node-pool.gpuNodeAffinity: GPU nodes only (the label every GPU pool and GFD set). */}}
{{- define "gpu-node-pool.gpuNodeAffinity" -}}
nodeAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    nodeSelectorTerms:
      - matchExpressions:
          - key: nvidia.com/gpu.present
            operator: In
            values: ["true"]
{{- end -}}
