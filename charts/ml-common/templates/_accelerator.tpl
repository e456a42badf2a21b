{{/*
Accelerator placement: the `accelerator:` block, for any kind of accelerator, beside the `gpu:` block
(NVIDIA only, unchanged). ml-common.accelerator.placement turns either into ONE placement block, which
ml-common.gpu.resources, .tolerations and .affinity (_gpu.tpl) place:
  {kind, count, resource, anyPool, pool: {name, labelKey, nodeSelector, taints}, nodeSelector}
(`nodeSelector` at the top holds hardware labels required even with anyPool: a TPU's type and topology).
gpu-node-pool gives each pool the label and taint its kind has here, so a model and its pool cannot disagree.

The block (kind is required; everything else optional):
  accelerator:
    kind: tpu                 # nvidia | tpu | neuron | amd
    count: 4                  # per container: GPUs (nvidia, amd), TPU chips, Neuron devices (or cores, see resource);
                              # default 1, for tpu the chips of one host of the topology (GKE gives a pod the whole host)
    resource: ""              # another resource of the kind: nvidia.com/gpu.shared, aws.amazon.com/neuroncore ...
    migProfile: ""            # nvidia only: asks for nvidia.com/mig-<profile>
    tpu:                      # tpu only: GKE's node labels cloud.google.com/gke-tpu-accelerator and -topology
      type: tpu-v5-lite-podslice
      topology: 2x2
    anyPool: false            # true: no pool affinity (the tpu type and topology are still required)
    pool: {name, labelKey, nodeSelector, taints}   # as gpu.pool; taints default to the kind's taint
*/}}

{{/*
ml-common.accelerator.kinds: what each kind asks for and how its nodes are tainted, as YAML.
resource: the default extended resource; resourcePrefix: every resource of the kind starts with it;
taint: the taint its pools carry (GKE's own TPU taint has the value "present"); keyPrefixes: label and
taint keys that belong to this kind only (a block of another kind that names one is refused).
Sources: charts/gpu-node-pool/README.md ("Accelerators").
*/}}
{{- define "ml-common.accelerator.kinds" -}}
nvidia:
  resource: nvidia.com/gpu
  resourcePrefix: nvidia.com/
  taint: {key: nvidia.com/gpu, effect: NoSchedule}
  keyPrefixes: [nvidia.com/]
tpu:
  resource: google.com/tpu
  resourcePrefix: google.com/tpu
  taint: {key: google.com/tpu, value: present, effect: NoSchedule}
  keyPrefixes: [google.com/tpu, cloud.google.com/gke-tpu-]
neuron:
  resource: aws.amazon.com/neuron
  resourcePrefix: aws.amazon.com/neuron
  taint: {key: aws.amazon.com/neuron, effect: NoSchedule}
  keyPrefixes: [aws.amazon.com/neuron, karpenter.k8s.aws/instance-accelerator-]
amd:
  resource: amd.com/gpu
  resourcePrefix: amd.com/
  taint: {key: amd.com/gpu, effect: NoSchedule}
  keyPrefixes: [amd.com/]
{{- end -}}

{{/*
ml-common.accelerator.tpuTypes: GKE TPU types (the cloud.google.com/gke-tpu-accelerator value) with their
topologies. `hosts`: the single-host topologies, with the chips and machine type of that one host; any
other valid topology is a multi-host slice of `multiHostChips` chips per host. 2D types accept the listed
`topologies` only; 3D types any AxBxC whose chips split into whole hosts.
Source: https://cloud.google.com/kubernetes-engine/docs/concepts/plan-tpus (charts/gpu-node-pool/README.md).
*/}}
{{- define "ml-common.accelerator.tpuTypes" -}}
tpu-v4-podslice:
  version: v4
  dimensions: 3
  hosts: {"2x2x1": {chips: 4, machineType: ct4p-hightpu-4t}}
  multiHostChips: 4
  multiHostMachineType: ct4p-hightpu-4t
tpu-v5-lite-podslice:
  version: v5e
  dimensions: 2
  topologies: ["1x1", "2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16"]
  hosts: {"1x1": {chips: 1, machineType: ct5lp-hightpu-1t}, "2x2": {chips: 4, machineType: ct5lp-hightpu-4t}, "2x4": {chips: 8, machineType: ct5lp-hightpu-8t}}
  multiHostChips: 4
  multiHostMachineType: ct5lp-hightpu-4t
tpu-v5p-slice:
  version: v5p
  dimensions: 3
  hosts: {"2x2x1": {chips: 4, machineType: ct5p-hightpu-4t}}
  multiHostChips: 4
  multiHostMachineType: ct5p-hightpu-4t
tpu-v6e-slice:
  version: v6e
  dimensions: 2
  topologies: ["1x1", "2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16"]
  hosts: {"1x1": {chips: 1, machineType: ct6e-standard-1t}, "2x2": {chips: 4, machineType: ct6e-standard-4t}, "2x4": {chips: 8, machineType: ct6e-standard-8t}}
  multiHostChips: 4
  multiHostMachineType: ct6e-standard-4t
{{- end -}}

{{/*
ml-common.accelerator.tpuShape: a TPU type and topology checked against ml-common.accelerator.tpuTypes, as
JSON {chips, hosts, chipsPerHost, machineType, singleHost}. Fails, naming "<path>.type" or "<path>.topology"
and the fix, when the type is unknown or the topology does not fit it.
Usage: {{- $shape := include "ml-common.accelerator.tpuShape" (dict "tpu" .tpu "path" "model.accelerator.tpu") | fromJson }}
*/}}
{{- define "ml-common.accelerator.tpuShape" -}}
{{- $tpu := .tpu | default dict -}}
{{- $types := include "ml-common.accelerator.tpuTypes" . | fromYaml -}}
{{- $names := keys $types | sortAlpha | join ", " -}}
{{- if not $tpu.type -}}
{{- fail (printf "%s.type is empty: set the GKE TPU type (node label cloud.google.com/gke-tpu-accelerator), one of %s" .path $names) -}}
{{- end -}}
{{- $type := get $types (toString $tpu.type) -}}
{{- if not $type -}}
{{- fail (printf "%s.type is %q: not a GKE TPU type this chart knows; use one of %s" .path (toString $tpu.type) $names) -}}
{{- end -}}
{{- $topology := toString ($tpu.topology | default "") -}}
{{- $example := ternary "2x2x1" "2x2" (eq (int $type.dimensions) 3) -}}
{{- if not $topology -}}
{{- fail (printf "%s.topology is empty: set the slice topology (node label cloud.google.com/gke-tpu-topology), e.g. %s for %s" .path $example $tpu.type) -}}
{{- end -}}
{{- $dims := splitList "x" $topology -}}
{{- if or (not (regexMatch "^[1-9][0-9]*(x[1-9][0-9]*)*$" $topology)) (ne (len $dims) (int $type.dimensions)) -}}
{{- fail (printf "%s.topology is %q but %s (TPU %s) topologies have %d dimensions, like %s: set a topology of that type" .path $topology $tpu.type $type.version (int $type.dimensions) $example) -}}
{{- end -}}
{{- if and $type.topologies (not (has $topology $type.topologies)) -}}
{{- fail (printf "%s.topology is %q: not a topology of %s (TPU %s); use one of %s" .path $topology $tpu.type $type.version (join ", " $type.topologies)) -}}
{{- end -}}
{{- $chips := 1 -}}
{{- range $dims }}{{ $chips = mul $chips (atoi .) }}{{ end -}}
{{- $host := get $type.hosts $topology -}}
{{- if $host -}}
{{- dict "chips" $chips "hosts" 1 "chipsPerHost" (int $host.chips) "machineType" $host.machineType "singleHost" true | toJson -}}
{{- else -}}
{{- $per := int $type.multiHostChips -}}
{{- if le $chips $per -}}
{{- fail (printf "%s.topology is %q: not a topology of %s (TPU %s); one host is %s" .path $topology $tpu.type $type.version (keys $type.hosts | sortAlpha | join ", ")) -}}
{{- end -}}
{{- if mod $chips $per -}}
{{- fail (printf "%s.topology is %q: %d chips do not split into hosts of %d chips of %s; use a topology whose chips are a multiple of %d" .path $topology $chips $per $tpu.type $per) -}}
{{- end -}}
{{- dict "chips" $chips "hosts" (div $chips $per) "chipsPerHost" $per "machineType" $type.multiHostMachineType "singleHost" false | toJson -}}
{{- end -}}
{{- end -}}

{{/*
ml-common.accelerator.defaultTaints: the taints a pool of the kind carries unless configured otherwise (YAML list).
Usage: {{- $taints := include "ml-common.accelerator.defaultTaints" "tpu" | fromYamlArray }}
*/}}
{{- define "ml-common.accelerator.defaultTaints" -}}
{{- $kind := get (include "ml-common.accelerator.kinds" . | fromYaml) (toString .) -}}
{{- toYaml (list $kind.taint) -}}
{{- end -}}

{{/*
ml-common.accelerator.placement: the placement block (top of this file) of a container from its `gpu` and
`accelerator` values, as JSON ({} when it asks for none). Validates both, failing with the value's path and
the fix; "path" is where the two blocks sit in values ("" for the top level).
Usage: {{- $placement := include "ml-common.accelerator.placement" (dict "gpu" .gpu "accelerator" .accelerator "path" "model") | fromJson }}
*/}}
{{- define "ml-common.accelerator.placement" -}}
{{- $gpu := .gpu | default dict -}}
{{- $acc := .accelerator | default dict -}}
{{- $at := ternary (printf "%s." .path) "" (ne (.path | default "") "") -}}
{{- $gpath := printf "%sgpu" $at -}}
{{- $apath := printf "%saccelerator" $at -}}
{{- $gpuCount := int (include "ml-common.gpu.count" $gpu) -}}
{{- if not $acc -}}
{{- include "ml-common.gpu.validate" (dict "gpu" $gpu "path" $gpath) -}}
{{- ternary (toJson $gpu) "{}" (gt $gpuCount 0) -}}
{{- else -}}
{{- $kinds := include "ml-common.accelerator.kinds" . | fromYaml -}}
{{- $kindNames := keys $kinds | sortAlpha | join ", " -}}
{{- if not $acc.kind -}}
{{- fail (printf "%s.kind is empty: set it to %s (or remove %s)" $apath $kindNames $apath) -}}
{{- end -}}
{{- $kindName := toString $acc.kind -}}
{{- $kind := get $kinds $kindName -}}
{{- if not $kind -}}
{{- fail (printf "%s.kind is %q: use one of %s" $apath $kindName $kindNames) -}}
{{- end -}}
{{- if gt $gpuCount 0 -}}
{{- fail (printf "%s.count is %d and %s.kind is %s: a container asks for one kind of accelerator; keep %s (kind nvidia does what gpu does) or %s" $gpath $gpuCount $apath $kindName $apath $gpath) -}}
{{- end -}}
{{- if and $acc.migProfile (ne $kindName "nvidia") -}}
{{- fail (printf "%s.migProfile is set but %s.kind is %s: MIG slices are NVIDIA's; remove migProfile or set kind: nvidia" $apath $apath $kindName) -}}
{{- end -}}
{{- if and $acc.tpu (ne $kindName "tpu") -}}
{{- fail (printf "%s.tpu is set but %s.kind is %s: a TPU type and topology belong to kind tpu; remove %s.tpu or set kind: tpu" $apath $apath $kindName $apath) -}}
{{- end -}}
{{- $out := dict "kind" $kindName "anyPool" (eq (toString $acc.anyPool) "true") -}}
{{- /* The resource: the kind's own (any other kind's is refused: it would be a request on a pool of that kind). */ -}}
{{- $resource := $acc.resource | default $kind.resource -}}
{{- if $acc.migProfile -}}
{{- if and $acc.resource (ne $acc.resource "nvidia.com/gpu") -}}
{{- fail (printf "%s sets both migProfile (%s) and resource (%s): keep one; migProfile asks for nvidia.com/mig-<profile> itself" $apath $acc.migProfile $acc.resource) -}}
{{- end -}}
{{- $resource = printf "nvidia.com/mig-%s" $acc.migProfile -}}
{{- end -}}
{{- if not (hasPrefix $kind.resourcePrefix $resource) -}}
{{- fail (printf "%s.resource is %s, which no %s pool advertises (its resources start with %s): set kind to the accelerator that resource belongs to, or remove resource (default %s)" $apath $resource $kindName $kind.resourcePrefix $kind.resource) -}}
{{- end -}}
{{- $_ := set $out "resource" $resource -}}
{{- /* The pool: as gpu.pool, with the kind's taint by default; keys of another kind's pools are refused. */ -}}
{{- $pool := deepCopy ($acc.pool | default dict) -}}
{{- if and (not $pool.name) (not $out.anyPool) -}}
{{- fail (printf "%s.pool.name is empty: set it to the %s pool the pods must run on (a pool of the gpu-node-pool chart), or set %s.anyPool: true to accept any node that has %s" $apath $kindName $apath $resource) -}}
{{- end -}}
{{- if not (hasKey $pool "taints") -}}
{{- $_ := set $pool "taints" (list $kind.taint) -}}
{{- end -}}
{{- $foreign := list -}}
{{- range ($pool.taints | default list) }}{{ $foreign = append $foreign (dict "key" .key "what" "pool.taints") }}{{ end -}}
{{- range $key, $_ := ($pool.nodeSelector | default dict) }}{{ $foreign = append $foreign (dict "key" $key "what" "pool.nodeSelector") }}{{ end -}}
{{- range $foreign -}}
{{- $key := .key -}}
{{- $what := .what -}}
{{- range $other, $spec := $kinds -}}
{{- if ne $other $kindName -}}
{{- range $spec.keyPrefixes -}}
{{- if hasPrefix . $key -}}
{{- fail (printf "%s.%s has %s, a key of %s pools, but %s.kind is %s: a request for %s cannot land on a pool of another kind; point %s.pool at a pool of kind %s, or set kind: %s" $apath $what $key $other $apath $kindName $kindName $apath $kindName $other) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $_ := set $out "pool" $pool -}}
{{- /* The count: default 1, or the chips of one TPU host, which GKE gives a pod whole. */ -}}
{{- $count := 1 -}}
{{- if eq $kindName "tpu" -}}
{{- $shape := include "ml-common.accelerator.tpuShape" (dict "tpu" $acc.tpu "path" (printf "%s.tpu" $apath)) | fromJson -}}
{{- if not $shape.singleHost -}}
{{- fail (printf "%s.tpu.topology %s of %s is a multi-host slice (%d hosts of %d chips): every host of a slice must be scheduled as one group (a JobSet or LeaderWorkerSet), which a Deployment or SeldonDeployment does not do; use a single-host topology (one node) such as 2x2 or 2x4 (v5e, v6e) or 2x2x1 (v4, v5p)" $apath $acc.tpu.topology $acc.tpu.type (int $shape.hosts) (int $shape.chipsPerHost)) -}}
{{- end -}}
{{- $count = int $shape.chipsPerHost -}}
{{- if and (not (kindIs "invalid" $acc.count)) (ne (int $acc.count) $count) -}}
{{- fail (printf "%s.count is %d but one %s host of topology %s has %d chips, and GKE gives a TPU pod every chip of its host: set %s.count to %d or leave it out" $apath (int $acc.count) $acc.tpu.type $acc.tpu.topology $count $apath $count) -}}
{{- end -}}
{{- $_ := set $out "nodeSelector" (dict "cloud.google.com/gke-tpu-accelerator" (toString $acc.tpu.type) "cloud.google.com/gke-tpu-topology" (toString $acc.tpu.topology)) -}}
{{- else if not (kindIs "invalid" $acc.count) -}}
{{- $count = int $acc.count -}}
{{- end -}}
{{- if lt $count 1 -}}
{{- fail (printf "%s.count is %d: ask for 1 or more (remove %s to ask for no accelerator)" $apath $count $apath) -}}
{{- end -}}
{{- $_ := set $out "count" $count -}}
{{- toJson $out -}}
{{- end -}}
{{- end -}}
