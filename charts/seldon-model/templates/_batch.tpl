{{/*
Batch inference (values `batch`): an Indexed Job whose pods run files/batch/shard.py, which drives Seldon Core
1.17.1's batch processor (seldon_core.batch_processor) over one slice of the input each. Data moves as for
models: pvc://<claim>/<path> mounts the claim, s3://<bucket>/<path> goes through rclone (the storage
initializer's image) with the Secret batch.envSecretRefName names.
*/}}

{{/*
seldon-model.batch.location: a batch URI as JSON {scheme, claim, path, remote}: pvc://claim/path -> the claim and
the path inside it; s3://bucket/path -> rclone's remote "s3:bucket/path" (remote s3, as RCLONE_CONFIG_S3_* name it).
Usage: {{ include "seldon-model.batch.location" (dict "uri" .Values.batch.input.uri "path" "batch.input.uri") | fromJson }}
*/}}
{{- define "seldon-model.batch.location" -}}
{{- $uri := toString (.uri | default "") -}}
{{- if not $uri -}}
{{- fail (printf "%s is empty: set it to pvc://<claim>/<path> (a PersistentVolumeClaim of the release namespace) or s3://<bucket>/<path> (with batch.envSecretRefName)" .path) -}}
{{- end -}}
{{- $m := regexFindAll "^(pvc|s3)://([^/]+)/(.+[^/])/?$" $uri 1 -}}
{{- if not $m -}}
{{- fail (printf "%s is %q: use pvc://<claim>/<path> or s3://<bucket>/<path> (a path after the claim or bucket is required)" .path $uri) -}}
{{- end -}}
{{- $parts := regexSplit "://" $uri 2 -}}
{{- $scheme := first $parts -}}
{{- $rest := (last $parts) | trimSuffix "/" -}}
{{- $claim := first (splitList "/" $rest) -}}
{{- toJson (dict "scheme" $scheme "claim" $claim "path" (trimPrefix (printf "%s/" $claim) $rest) "remote" (printf "s3:%s" $rest)) -}}
{{- end -}}

{{/*
seldon-model.batch.validate: the batch rules the schema cannot express; each names the value and the fix.
Usage: {{- include "seldon-model.batch.validate" . }}
*/}}
{{- define "seldon-model.batch.validate" -}}
{{- $b := .Values.batch -}}
{{- $protocol := include "seldon-model.batch.protocol" . -}}
{{- if eq $protocol "tensorflow" -}}
{{- fail "batch.enabled is true but protocol is tensorflow: the Job runs Seldon Core's batch processor (protocol seldon) or MLServer's (protocol v2), neither speaks tensorflow; set protocol: seldon or v2, or batch.enabled: false" -}}
{{- end -}}
{{- if and (eq $protocol "v2") (ne $b.transport "rest") -}}
{{- fail (printf "batch.transport is %s but protocol is v2: MLServer's batch processor (mlserver infer) sends over REST only; set batch.transport: rest" $b.transport) -}}
{{- end -}}
{{- $in := include "seldon-model.batch.location" (dict "uri" $b.input.uri "path" "batch.input.uri") | fromJson -}}
{{- $out := include "seldon-model.batch.location" (dict "uri" $b.output.uri "path" "batch.output.uri") | fromJson -}}
{{- if and (eq $in.scheme $out.scheme) (eq $in.claim $out.claim) (or (eq $in.path $out.path) (hasPrefix (printf "%s/" $out.path) $in.path)) -}}
{{- fail (printf "batch.output.uri (%s) holds batch.input.uri (%s): the shards write parts/ and output.jsonl there; choose an output folder beside the input" $b.output.uri $b.input.uri) -}}
{{- end -}}
{{- if and (or (eq $in.scheme "s3") (eq $out.scheme "s3")) (not $b.envSecretRefName) -}}
{{- fail "batch.envSecretRefName is empty but batch.input.uri or batch.output.uri is s3://: name the Secret holding rclone's RCLONE_CONFIG_S3_* settings (as a graph node's envSecretRefName), or use pvc:// URIs" -}}
{{- end -}}
{{- if and (gt (int $b.batchSize) 1) (not (has $b.dataType (list "data" "raw"))) -}}
{{- fail (printf "batch.batchSize is %d but batch.dataType is %s: the batch processor groups lines into one request for dataType data or raw only; set batch.batchSize: 1 or dataType: data" (int $b.batchSize) $b.dataType) -}}
{{- end -}}
{{- if and (not (kindIs "invalid" $b.parallelism)) (gt (int $b.parallelism) (int $b.shards)) -}}
{{- fail (printf "batch.parallelism (%d) is greater than batch.shards (%d): at most one pod runs per shard; lower parallelism or raise shards" (int $b.parallelism) (int $b.shards)) -}}
{{- end -}}
{{- if and (not (kindIs "invalid" $b.maxFailedIndexes)) (gt (int $b.maxFailedIndexes) (int $b.shards)) -}}
{{- fail (printf "batch.maxFailedIndexes (%d) is greater than batch.shards (%d): it could never be reached; lower it or set it to null" (int $b.maxFailedIndexes) (int $b.shards)) -}}
{{- end -}}
{{- if gt (len (include "seldon-model.batch.jobName" .)) 63 -}}
{{- fail (printf "batch.run: the Job name %q is longer than 63 characters (its pods' job-name label must fit): shorten batch.run or fullnameOverride" (include "seldon-model.batch.jobName" .)) -}}
{{- end -}}
{{- $target := include "seldon-model.batch.predictor" . | fromJson -}}
{{- if not $target -}}
{{- $names := list -}}
{{- range .Values.predictors }}{{ $names = append $names .name }}{{ end -}}
{{- fail (printf "batch.predictor is %q but there is no predictor of that name that is not a shadow (predictors: %s): set batch.predictor to one of them or leave it empty" $b.predictor (join ", " $names)) -}}
{{- end -}}
{{- end -}}

{{/* seldon-model.batch.protocol: the release's protocol as the Job speaks it: seldon, v2 (kfserving is its old name) or tensorflow. */}}
{{- define "seldon-model.batch.protocol" -}}
{{- $protocol := .Values.protocol | default "seldon" -}}
{{- ternary "v2" $protocol (eq $protocol "kfserving") -}}
{{- end -}}

{{/* seldon-model.batch.jobName: "<fullname>-batch-<run>". */}}
{{- define "seldon-model.batch.jobName" -}}
{{- printf "%s-batch-%s" (include "ml-common.names.fullname" .) (toString .Values.batch.run) -}}
{{- end -}}

{{/*
seldon-model.batch.predictor: the predictor the Job calls (JSON): batch.predictor, else the first that is not
a shadow (a shadow's answers are discarded, its Service answers nothing useful); {} when there is none.
*/}}
{{- define "seldon-model.batch.predictor" -}}
{{- $found := dict -}}
{{- range .Values.predictors -}}
{{- if and (not $found) (not .shadow) (or (eq .name $.Values.batch.predictor) (not $.Values.batch.predictor)) -}}
{{- $found = . -}}
{{- end -}}
{{- end -}}
{{- toJson $found -}}
{{- end -}}
