{{/*
gpu-node-pool.validate: the rules values.schema.json cannot express. Each message names the value,
the problem and the fix. Called once from validate.yaml, so every render checks them.
*/}}
{{- define "gpu-node-pool.validate" -}}
{{- $v := .Values -}}
{{- $providers := list "aws" "azure" "gke" "capi" "simulated" "none" -}}
{{- if not (has $v.provider $providers) -}}
{{- fail (printf "provider is %q: use one of %s" (toString $v.provider) (join ", " $providers)) -}}
{{- end -}}
{{- if and (eq $v.provider "none") $v.pools -}}
{{- fail (printf "pools has %d entries but provider is none: set provider to aws, azure, gke, capi or simulated, or remove the pools" (len $v.pools)) -}}
{{- end -}}
{{- /* Device plugin configs. */ -}}
{{- if not (hasKey $v.devicePlugin.configs $v.devicePlugin.defaultConfig) -}}
{{- fail (printf "devicePlugin.defaultConfig is %q but devicePlugin.configs has no such key (it has: %s): add the config or pick one of them" $v.devicePlugin.defaultConfig (join ", " (keys $v.devicePlugin.configs | sortAlpha))) -}}
{{- end -}}
{{- range $name, $config := $v.devicePlugin.configs -}}
{{- $path := printf "devicePlugin.configs.%s" $name -}}
{{- if and $config.timeSlicing $config.mps -}}
{{- fail (printf "%s sets both timeSlicing and mps: the device plugin can share a GPU one way only; keep one of them" $path) -}}
{{- end -}}
{{- with $config.timeSlicing -}}
{{- if lt (int .replicas) 2 -}}
{{- fail (printf "%s.timeSlicing.replicas is %d: time-slicing needs 2 or more replicas per GPU (use timeSlicing: {} to turn it off)" $path (int .replicas)) -}}
{{- end -}}
{{- if eq ($config.migStrategy | default "none") "mixed" -}}
{{- fail (printf "%s combines timeSlicing with migStrategy mixed: this chart shares whole GPUs or single-strategy MIG slices only; use migStrategy single or drop timeSlicing" $path) -}}
{{- end -}}
{{- end -}}
{{- with $config.mps -}}
{{- if lt (int .replicas) 2 -}}
{{- fail (printf "%s.mps.replicas is %d: MPS needs 2 or more replicas per GPU (use mps: {} to turn it off)" $path (int .replicas)) -}}
{{- end -}}
{{- if ne ($config.migStrategy | default "none") "none" -}}
{{- fail (printf "%s combines mps with migStrategy %s: MPS does not work with MIG; set migStrategy none or drop mps" $path $config.migStrategy) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* Provider-wide settings. */ -}}
{{- if eq $v.provider "aws" -}}
{{- if not $v.aws.role -}}
{{- fail "aws.role is empty: set it to the IAM role of the nodes (e.g. KarpenterNodeRole-<cluster>); Karpenter's EC2NodeClass needs it to launch instances" -}}
{{- end -}}
{{- if not $v.aws.discoveryTags -}}
{{- fail "aws.discoveryTags is empty: set the tags of the subnets and security groups the nodes use (e.g. {karpenter.sh/discovery: <cluster>}); without them Karpenter finds no subnet" -}}
{{- end -}}
{{- range $key, $value := $v.aws.discoveryTags -}}
{{- if not $value -}}
{{- fail (printf "aws.discoveryTags.%s is empty: give the tag a value (usually the cluster name); an empty selector tag matches nothing" $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if eq $v.provider "capi" -}}
{{- if not $v.capi.clusterName -}}
{{- fail "capi.clusterName is empty: set it to the Cluster API Cluster the pools belong to" -}}
{{- end -}}
{{- if not $v.capi.kubernetesVersion -}}
{{- fail "capi.kubernetesVersion is empty: set the kubelet version of the machines (e.g. v1.34.4)" -}}
{{- end -}}
{{- end -}}
{{- /* Pools. */ -}}
{{- $pools := (include "gpu-node-pool.pools" . | fromJson).pools -}}
{{- $raws := $v.pools -}}
{{- $names := list -}}
{{- range $pools -}}
{{- $path := printf "pools[%d]" (int .index) -}}
{{- if has .name $names -}}
{{- fail (printf "%s.name %q is used twice: pool names are cluster-wide node labels and object names; give each pool its own" $path .name) -}}
{{- end -}}
{{- $names = append $names .name -}}
{{- if and .isGpu (ne $v.provider "gke") (not (hasKey $v.devicePlugin.configs .configName)) -}}
{{- fail (printf "%s.devicePluginConfig is %q but devicePlugin.configs has no such key (it has: %s): add the config or pick one of them" $path .configName (join ", " (keys $v.devicePlugin.configs | sortAlpha))) -}}
{{- end -}}
{{- $strategy := .config.migStrategy | default "none" -}}
{{- $profiles := .mig.profiles | default dict -}}
{{- if and .isGpu (ne $strategy "none") (not $profiles) -}}
{{- fail (printf "%s uses device plugin config %q with MIG strategy %s but %s.mig.profiles is empty: name the MIG profiles of its GPUs and how many per GPU, e.g. mig.profiles: {\"1g.5gb\": 7}" $path .configName $strategy $path) -}}
{{- end -}}
{{- if and .isGpu (eq $strategy "single") (gt (len $profiles) 1) -}}
{{- fail (printf "%s.mig.profiles has %d profiles but MIG strategy single needs exactly one (every slice is advertised as nvidia.com/gpu); use one profile or migStrategy mixed" $path (len $profiles)) -}}
{{- end -}}
{{- if and .isGpu (eq $strategy "none") $profiles (ne $v.provider "gke") -}}
{{- fail (printf "%s.mig.profiles is set but device plugin config %q has migStrategy none, so its nodes would advertise whole GPUs: set devicePluginConfig to a config with migStrategy single or mixed, or drop mig.profiles" $path .configName) -}}
{{- end -}}
{{- if and .isAccelerator (not .isGpu) -}}
{{- $where := get (include "gpu-node-pool.acceleratorProviders" $ | fromYaml) .kind -}}
{{- if not (has $v.provider $where.providers) -}}
{{- fail (printf "%s.accelerator.kind is %s but provider is %s: %s; use provider %s" $path .kind $v.provider $where.why (join " or " $where.providers)) -}}
{{- end -}}
{{- if or (index $raws (int .index)).devicePluginConfig .mig.profiles .mig.config .gpu.product -}}
{{- fail (printf "%s sets devicePluginConfig, mig or gpu.product, which describe NVIDIA GPU pools, but its accelerator.kind is %s: remove them (an accelerator pool is described by accelerator: kind, count, product, tpu)" $path .kind) -}}
{{- end -}}
{{- if and (eq $v.provider "gke") .gke.gpuType -}}
{{- fail (printf "%s.gke.gpuType is %q but the pool's accelerator.kind is %s: gpuType is for NVIDIA pools; a TPU pool is described by accelerator.tpu.type and topology" $path .gke.gpuType .kind) -}}
{{- end -}}
{{- end -}}
{{- if and (eq $v.provider "gke") .isGpu (not .gke.gpuType) -}}
{{- fail (printf "%s.gke.gpuType is empty: set the GKE accelerator type of the pool (e.g. nvidia-l4, nvidia-tesla-a100)" $path) -}}
{{- end -}}
{{- if and (eq $v.provider "capi") (not .capi.infrastructureRef) -}}
{{- fail (printf "%s.capi.infrastructureRef is empty: set the machine template of the pool ({apiVersion, kind, name})" $path) -}}
{{- end -}}
{{- if and (eq $v.provider "capi") (not (or .capi.bootstrapConfigRef $v.capi.bootstrapConfigRef)) -}}
{{- fail (printf "%s.capi.bootstrapConfigRef and capi.bootstrapConfigRef are empty: set the bootstrap config template ({apiVersion, kind, name}) whose kubelet gets the pool's node labels and taints" $path) -}}
{{- end -}}
{{- if and (eq $v.provider "simulated") (lt (int .simulated.nodes) 1) -}}
{{- fail (printf "%s.simulated.nodes is %d: a simulated pool needs at least one fake node" $path (int .simulated.nodes)) -}}
{{- end -}}
{{- if gt (int .minNodes) (int .maxNodes) -}}
{{- fail (printf "%s.minNodes (%d) is above maxNodes (%d): raise maxNodes or lower minNodes" $path (int .minNodes) (int .maxNodes)) -}}
{{- end -}}
{{- end -}}
{{- /* Headroom points at accelerator pools, the GPU test at NVIDIA pools. */ -}}
{{- if $v.headroom.enabled -}}
{{- range $i, $p := $v.headroom.placeholders -}}
{{- $found := dict -}}
{{- range $pools }}{{ if and (eq .name $p.pool) .isAccelerator }}{{ $found = . }}{{ end }}{{ end -}}
{{- if not $found -}}
{{- fail (printf "headroom.placeholders[%d].pool is %q, which is not an accelerator pool of this release (accelerator pools: %s): name one of them" $i $p.pool (include "gpu-node-pool.acceleratorPoolNames" $pools)) -}}
{{- end -}}
{{- if and (eq $found.kind "tpu") $p.gpus (ne (int $p.gpus) (int $found.tpuShape.chipsPerHost)) -}}
{{- fail (printf "headroom.placeholders[%d].gpus is %d but a node of TPU pool %s has %d chips and GKE gives a pod all of them: set gpus to %d or leave it out" $i (int $p.gpus) $p.pool (int $found.tpuShape.chipsPerHost) (int $found.tpuShape.chipsPerHost)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $v.tests.gpu.enabled -}}
{{- if not (include "gpu-node-pool.testPool" $) -}}
{{- fail (printf "tests.gpu.enabled is true but tests.gpu.pool %q is not a GPU pool of this release (GPU pools: %s): set tests.gpu.pool to one of them or turn the GPU test off" $v.tests.gpu.pool (include "gpu-node-pool.gpuPoolNames" $pools)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* gpu-node-pool.acceleratorPoolNames: "a, b" or "none" (pools of any accelerator kind). */}}
{{- define "gpu-node-pool.acceleratorPoolNames" -}}
{{- $names := list -}}
{{- range . }}{{ if .isAccelerator }}{{ $names = append $names .name }}{{ end }}{{ end -}}
{{- $names | join ", " | default "none" -}}
{{- end -}}

{{/*
gpu-node-pool.acceleratorProviders: the providers that can make pools of each non-NVIDIA kind, and why not
the others (YAML).
*/}}
{{- define "gpu-node-pool.acceleratorProviders" -}}
tpu:
  providers: [gke, simulated]
  why: TPUs exist only on Google Cloud, as GKE TPU node pools
neuron:
  providers: [aws, simulated]
  why: Inferentia and Trainium exist only on AWS (this chart provisions them with Karpenter)
amd:
  providers: [aws, capi, simulated]
  why: this chart provisions AMD GPUs with Karpenter on AWS or with Cluster API (GKE has none, and the labels Karpenter on Azure gives AMD SKUs are not modelled here)
{{- end -}}

{{/* gpu-node-pool.gpuPoolNames: "a, b" or "none" (NVIDIA GPU pools). */}}
{{- define "gpu-node-pool.gpuPoolNames" -}}
{{- $names := list -}}
{{- range . }}{{ if .isGpu }}{{ $names = append $names .name }}{{ end }}{{ end -}}
{{- $names | join ", " | default "none" -}}
{{- end -}}

{{/* gpu-node-pool.testPool: the GPU pool the GPU helm test uses, as JSON ("" when none). */}}
{{- define "gpu-node-pool.testPool" -}}
{{- $want := .Values.tests.gpu.pool -}}
{{- $found := "" -}}
{{- range (include "gpu-node-pool.pools" . | fromJson).pools -}}
{{- if and .isGpu (not $found) (or (not $want) (eq .name $want)) -}}
{{- $found = toJson . -}}
{{- end -}}
{{- end -}}
{{- $found -}}
{{- end -}}
