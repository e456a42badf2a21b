{{/*
GPU placement: the ONE place that turns a `gpu:` block into resources, tolerations and node affinity.
Every chart that places accelerator work calls these helpers, with a `gpu:` block or with the placement
block ml-common.accelerator.placement makes of `gpu:` or `accelerator:` (_accelerator.tpl: TPUs, AWS
Neuron, AMD GPUs); gpu-node-pool gives its pools exactly the label and taint these helpers select and
tolerate, so a model and its pool cannot disagree.

The block (all keys optional; count 0 disables everything):
  gpu:
    count: 1                          # whole devices (or MIG slices / shared replicas) per container
    resource: nvidia.com/gpu          # extended resource name: nvidia.com/gpu, nvidia.com/gpu.shared, amd.com/gpu ...
    migProfile: ""                    # e.g. "1g.5gb": asks for nvidia.com/mig-1g.5gb (MIG "mixed" strategy)
    anyPool: false                    # true: no pool affinity (any node advertising the resource)
    pool:
      name: ""                        # the pool's name (required when count > 0 unless anyPool)
      labelKey: ml-serving-charts.io/pool
      nodeSelector: {}                # further node labels to require, e.g. nvidia.com/gpu.product
      taints: [{key: nvidia.com/gpu, effect: NoSchedule}]   # taints of the pool to tolerate
*/}}

{{/* ml-common.gpu.defaultPoolLabel: the node label that names a GPU pool. */}}
{{- define "ml-common.gpu.defaultPoolLabel" -}}ml-serving-charts.io/pool{{- end -}}

{{/* ml-common.gpu.defaultTaints: the taints every GPU pool carries unless configured otherwise (YAML list): NVIDIA's (_accelerator.tpl). */}}
{{- define "ml-common.gpu.defaultTaints" -}}
{{- include "ml-common.accelerator.defaultTaints" "nvidia" -}}
{{- end -}}

{{/*
ml-common.gpu.count: the GPU count of a block as an integer string ("0" when absent).
Usage: {{ include "ml-common.gpu.count" .gpu }}
*/}}
{{- define "ml-common.gpu.count" -}}
{{- $gpu := . | default dict -}}
{{- int ($gpu.count | default 0) -}}
{{- end -}}

{{/*
ml-common.gpu.resourceName: the extended resource a block asks for.
Usage: {{ include "ml-common.gpu.resourceName" .gpu }}
*/}}
{{- define "ml-common.gpu.resourceName" -}}
{{- $gpu := . | default dict -}}
{{- if $gpu.migProfile -}}
nvidia.com/mig-{{ $gpu.migProfile }}
{{- else -}}
{{- $gpu.resource | default "nvidia.com/gpu" -}}
{{- end -}}
{{- end -}}

{{/*
ml-common.gpu.validate: fails the render, naming the value and the fix, when a block is inconsistent.
"path" is the block's place in values, used in the messages.
Usage: {{- include "ml-common.gpu.validate" (dict "gpu" .gpu "path" "model.gpu") }}
*/}}
{{- define "ml-common.gpu.validate" -}}
{{- $gpu := .gpu | default dict -}}
{{- $count := int (include "ml-common.gpu.count" $gpu) -}}
{{- if lt $count 0 -}}
{{- fail (printf "%s.count is %d: set it to 0 (no GPU) or a positive number of devices" .path $count) -}}
{{- end -}}
{{- if and $gpu.migProfile $gpu.resource (ne $gpu.resource "nvidia.com/gpu") -}}
{{- fail (printf "%s sets both migProfile (%s) and resource (%s): keep one; migProfile asks for nvidia.com/mig-<profile> itself" .path $gpu.migProfile $gpu.resource) -}}
{{- end -}}
{{- $pool := $gpu.pool | default dict -}}
{{- if and (gt $count 0) (not $pool.name) (not $gpu.anyPool) -}}
{{- fail (printf "%s.count is %d but %s.pool.name is empty: set it to the GPU pool the pods must run on (a pool of the gpu-node-pool chart), or set %s.anyPool: true to accept any node that has %s" .path $count .path .path (include "ml-common.gpu.resourceName" $gpu)) -}}
{{- end -}}
{{- end -}}

{{/*
ml-common.gpu.resources: the container's resources with the GPU added to limits and requests (equal,
as extended resources require); other resources are kept. Returns YAML ({} when empty).
Usage: resources: {{- include "ml-common.gpu.resources" (dict "gpu" .gpu "resources" .resources) | nindent 12 }}
*/}}
{{- define "ml-common.gpu.resources" -}}
{{- $res := deepCopy (.resources | default dict) -}}
{{- $count := int (include "ml-common.gpu.count" .gpu) -}}
{{- if gt $count 0 -}}
{{- $name := include "ml-common.gpu.resourceName" .gpu -}}
{{- $limits := $res.limits | default dict -}}
{{- $requests := $res.requests | default dict -}}
{{- $_ := set $limits $name $count -}}
{{- $_ := set $requests $name $count -}}
{{- $_ := set $res "limits" $limits -}}
{{- $_ := set $res "requests" $requests -}}
{{- end -}}
{{- toYaml $res -}}
{{- end -}}

{{/*
ml-common.gpu.tolerations: the given tolerations plus one per taint of the GPU pool (operator Exists,
so any taint value is tolerated). Returns a YAML list ([] when empty).
Usage: {{- with include "ml-common.gpu.tolerations" (dict "gpu" .gpu "tolerations" .tolerations) | fromYamlArray }}
*/}}
{{- define "ml-common.gpu.tolerations" -}}
{{- $tolerations := deepCopy (.tolerations | default list) -}}
{{- $gpu := .gpu | default dict -}}
{{- if gt (int (include "ml-common.gpu.count" $gpu)) 0 -}}
{{- $pool := $gpu.pool | default dict -}}
{{- $taints := $pool.taints | default (include "ml-common.gpu.defaultTaints" . | fromYamlArray) -}}
{{- range $taints -}}
{{- $toleration := dict "key" .key "operator" "Exists" "effect" (.effect | default "NoSchedule") -}}
{{- if not (has $toleration $tolerations) -}}
{{- $tolerations = append $tolerations $toleration -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $tolerations -}}
{{- end -}}

{{/*
ml-common.gpu.affinity: the given affinity with the pool's labels, and the block's own `nodeSelector`
(hardware labels of a placement block, required even with anyPool), ANDed into every required node
selector term (one term is created when there is none). Returns YAML ({} when empty).
Usage: {{- with include "ml-common.gpu.affinity" (dict "gpu" .gpu "affinity" .affinity) | fromYaml }}
*/}}
{{- define "ml-common.gpu.affinity" -}}
{{- $affinity := deepCopy (.affinity | default dict) -}}
{{- $gpu := .gpu | default dict -}}
{{- $pool := $gpu.pool | default dict -}}
{{- $expressions := list -}}
{{- if gt (int (include "ml-common.gpu.count" $gpu)) 0 -}}
{{- if and $pool.name (not $gpu.anyPool) -}}
{{- $expressions = append $expressions (dict "key" ($pool.labelKey | default (include "ml-common.gpu.defaultPoolLabel" .)) "operator" "In" "values" (list $pool.name)) -}}
{{- range $key, $value := ($pool.nodeSelector | default dict) -}}
{{- $expressions = append $expressions (dict "key" $key "operator" "In" "values" (list (toString $value))) -}}
{{- end -}}
{{- end -}}
{{- range $key, $value := ($gpu.nodeSelector | default dict) -}}
{{- $expressions = append $expressions (dict "key" $key "operator" "In" "values" (list (toString $value))) -}}
{{- end -}}
{{- end -}}
{{- if $expressions -}}
{{- $nodeAffinity := $affinity.nodeAffinity | default dict -}}
{{- $required := $nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution | default dict -}}
{{- $terms := list -}}
{{- range ($required.nodeSelectorTerms | default (list dict)) -}}
{{- $term := deepCopy . -}}
{{- $_ := set $term "matchExpressions" (concat ($term.matchExpressions | default list) $expressions) -}}
{{- $terms = append $terms $term -}}
{{- end -}}
{{- $_ := set $required "nodeSelectorTerms" $terms -}}
{{- $_ := set $nodeAffinity "requiredDuringSchedulingIgnoredDuringExecution" $required -}}
{{- $_ := set $affinity "nodeAffinity" $nodeAffinity -}}
{{- end -}}
{{- toYaml $affinity -}}
{{- end -}}
