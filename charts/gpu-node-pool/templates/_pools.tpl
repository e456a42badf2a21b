{{/*
Pools: the ONE place that resolves `pools` (each merged over `poolDefaults` with ml-common.values.merge)
into what every provider renders:
identity labels, taints, the extended resources a node advertises and the `gpu:` block a workload needs.
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
  isGpu, configName, config, taints, resources (name -> per-node count), labels (identity node labels),
  sharing (none|time-slicing|mps), replicas, workloadGpu (the `gpu:` block a workload uses to land on it).
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
{{- $count := int $pool.gpu.count -}}
{{- $isGpu := gt $count 0 -}}
{{- $_ := set $pool "isGpu" $isGpu -}}
{{- $configName := $pool.devicePluginConfig | default $root.Values.devicePlugin.defaultConfig -}}
{{- $config := index $root.Values.devicePlugin.configs $configName | default dict -}}
{{- if eq $root.Values.provider "gke" -}}
{{- /* GKE runs its own device plugin: whole GPUs, no config label. */ -}}
{{- $config = dict "migStrategy" "none" -}}
{{- $configName = "" -}}
{{- end -}}
{{- $_ := set $pool "configName" $configName -}}
{{- $_ := set $pool "config" $config -}}
{{- /* Taints: the pool's own when it sets the key (even []), else ml-common's default for GPU pools. */ -}}
{{- $taints := list -}}
{{- if and (hasKey $raw "taints") (kindIs "slice" $raw.taints) -}}
{{- $taints = $raw.taints -}}
{{- else if kindIs "slice" $root.Values.poolDefaults.taints -}}
{{- $taints = $root.Values.poolDefaults.taints -}}
{{- else if $isGpu -}}
{{- $taints = $defaultTaints -}}
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
{{- $selector := dict "name" $pool.name -}}
{{- $tolerate := $taints -}}
{{- if eq $root.Values.provider "gke" -}}
{{- /* Pods pick a ComputeClass by its node label; its auto-created nodes are tainted with it. */ -}}
{{- $_ := set $selector "labelKey" (include "gpu-node-pool.computeClassLabel" .) -}}
{{- $tolerate = concat $taints (list (dict "key" (include "gpu-node-pool.computeClassLabel" .) "effect" "NoSchedule")) -}}
{{- end -}}
{{- if ne (toJson $tolerate) (toJson $defaultTaints) -}}
{{- $_ := set $selector "taints" $tolerate -}}
{{- end -}}
{{- $_ := set $workload "pool" $selector -}}
{{- end -}}
{{- $_ := set $pool "workloadGpu" $workload -}}
{{- $out = append $out $pool -}}
{{- end -}}
{{- toJson (dict "pools" $out) -}}
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
