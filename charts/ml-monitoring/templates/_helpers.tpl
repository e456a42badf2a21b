{{/*
ml-monitoring.labels: ml-common's standard labels plus `release: <prometheus.release>` (kube-prometheus-stack's
Prometheus selects monitors and rules by it; it wins over a commonLabels `release`), as one map. For every
monitor and rule.
Usage: {{ include "ml-monitoring.labels" (dict "context" $ "component" "seldon") }}
*/}}
{{- define "ml-monitoring.labels" -}}
{{- $release := dict -}}
{{- with .context.Values.prometheus.release }}{{ $_ := set $release "release" . }}{{ end -}}
{{- include "ml-common.labels.standard" (dict "context" .context "component" .component "customLabels" $release) -}}
{{- end -}}

{{/*
ml-monitoring.metadata: name, labels (with release) of a monitor or rule object.
Usage: {{ include "ml-monitoring.metadata" (dict "context" $ "component" "seldon") }}
*/}}
{{- define "ml-monitoring.metadata" -}}
metadata:
  name: {{ include "ml-common.names.component" . }}
  namespace: {{ .context.Release.Namespace }}
  labels:
    {{- include "ml-monitoring.labels" . | nindent 4 }}
{{- end -}}

{{/*
ml-monitoring.endpointCommon: the endpoint fields PodMonitors and ServiceMonitors share (path, interval,
timeout, relabelings), from a monitors.<x> block. Empty values are left out so Prometheus' defaults apply.
Usage: {{- include "ml-monitoring.endpointCommon" .Values.monitors.seldon | nindent 6 }}
*/}}
{{- define "ml-monitoring.endpointCommon" -}}
path: {{ .path }}
{{- with .interval }}
interval: {{ . }}
{{- end }}
{{- with .scrapeTimeout }}
scrapeTimeout: {{ . }}
{{- end }}
{{- with .relabelings }}
relabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .metricRelabelings }}
metricRelabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
ml-monitoring.selector: a PromQL selector "metric{m1, m2}" from a metric name and matcher strings (empty
ones skipped), e.g. (list "kube_pod_info" "job=\"ksm\"" "") -> kube_pod_info{job="ksm"}.
Usage: {{ include "ml-monitoring.selector" (list "metric" "matcher" ...) }}
*/}}
{{- define "ml-monitoring.selector" -}}
{{- $matchers := list -}}
{{- range (rest .) }}{{ if . }}{{ $matchers = append $matchers . }}{{ end }}{{ end -}}
{{- first . }}{{ if $matchers }}{{ printf "{%s}" (join ", " $matchers) }}{{ end -}}
{{- end -}}

{{/*
ml-monitoring.alert: what follows an alert's expr: `for` (left out when zero), then the labels and
annotations every alert carries: severity, rules.alertLabels, extra labels, summary, description and
runbook_url (<rules.runbookBaseUrl>/<alertname in lower case>).
Usage: {{- include "ml-monitoring.alert" (dict "context" $ "alert" "GPUSaturated" "for" "15m" "severity" "warning"
          "labels" (dict ...) "summary" "..." "description" "...") | nindent 10 }}
*/}}
{{- define "ml-monitoring.alert" -}}
{{- /* rules.alertLabels, then the alert's own labels, then its severity: a later one wins on a shared key. */ -}}
{{- $labels := include "ml-common.values.merge" (list .context.Values.rules.alertLabels .labels (dict "severity" .severity)) | fromJson -}}
{{- $for := "" -}}
{{- if and .for (ne (include "ml-monitoring.durationSeconds" .for) "0") }}{{ $for = printf "for: %s\n" .for }}{{ end -}}
{{ $for }}labels:
  {{- toYaml $labels | nindent 2 }}
annotations:
  summary: {{ .summary | quote }}
  description: {{ .description | quote }}
  runbook_url: {{ printf "%s/%s" (trimSuffix "/" .context.Values.rules.runbookBaseUrl) (lower .alert) | quote }}
{{- end -}}

{{/*
ml-monitoring.durationSeconds: a Prometheus duration ("1h30m", "3d", "500ms") in whole seconds, as a string.
Usage: {{ include "ml-monitoring.durationSeconds" "1h30m" }} -> 5400
*/}}
{{- define "ml-monitoring.durationSeconds" -}}
{{- $units := dict "ms" 0 "s" 1 "m" 60 "h" 3600 "d" 86400 "w" 604800 "y" 31536000 -}}
{{- $total := 0 -}}
{{- range (regexFindAll "[0-9]+(ms|s|m|h|d|w|y)" (toString .) -1) -}}
{{- $unit := regexFind "[a-z]+$" . -}}
{{- $total = add $total (mul (int (trimSuffix $unit .)) (get $units $unit)) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/*
ml-monitoring.seldonSeries: the executor metric for requests into a deployment (server) or from it to its
models (client), with rules.selectors.seldon applied. "suffix" picks _count or _bucket; "extra" adds matchers.
Usage: {{ include "ml-monitoring.seldonSeries" (dict "context" $ "side" "server" "suffix" "count" "extra" "") }}
*/}}
{{- define "ml-monitoring.seldonSeries" -}}
{{- include "ml-monitoring.selector" (list (printf "seldon_api_executor_%s_requests_seconds_%s" .side .suffix) .extra .context.Values.rules.selectors.seldon) -}}
{{- end -}}

{{/*
ml-monitoring.leMatcher: matches the histogram bucket of a threshold whichever way Prometheus stored `le`
(Prometheus 3 normalises "1" to "1.0"; Prometheus 2 keeps the exposition's "1").
Usage: {{ include "ml-monitoring.leMatcher" 0.5 }} -> le="0.5"
*/}}
{{- define "ml-monitoring.leMatcher" -}}
{{- $le := toString . -}}
{{- if contains "." $le -}}
le="{{ $le }}"
{{- else -}}
le=~"{{ $le }}(\\.0)?"
{{- end -}}
{{- end -}}

{{/*
ml-monitoring.sloWindows: the distinct long and short windows of rules.slo.windows, shortest first, as a YAML list.
Each spelling counts (60m and 1h give two rules), since the alerts name the recording rule by its window.
Usage: {{ range (include "ml-monitoring.sloWindows" $ | fromYamlArray) }}
*/}}
{{- define "ml-monitoring.sloWindows" -}}
{{- $bySeconds := dict -}}
{{- range .Values.rules.slo.windows -}}
{{- range (list .longWindow .shortWindow) -}}
{{- $_ := set $bySeconds (printf "%012d-%s" (int (include "ml-monitoring.durationSeconds" .)) .) . -}}
{{- end -}}
{{- end -}}
{{- $windows := list -}}
{{- range (keys $bySeconds | sortAlpha) }}{{ $windows = append $windows (get $bySeconds .) }}{{ end -}}
{{- toYaml $windows -}}
{{- end -}}

{{/*
ml-monitoring.validate: cross-field rules values.schema.json cannot express. Each failure names the value,
the problem and the fix.
Usage: {{- include "ml-monitoring.validate" . }}
*/}}
{{- define "ml-monitoring.validate" -}}
{{- range $name := list "seldon" "operator" "dcgm" -}}
{{- $selector := (get $.Values.monitors $name).namespaceSelector | default dict -}}
{{- if and $selector.any $selector.matchNames -}}
{{- fail (printf "monitors.%s.namespaceSelector has any: true and matchNames [%s]: prometheus-operator then ignores matchNames; set monitors.%s.namespaceSelector.any to null (or false) to watch only those namespaces" $name (join ", " $selector.matchNames) $name) -}}
{{- end -}}
{{- end -}}
{{- $op := .Values.monitors.operator -}}
{{- if and $op.enabled (not $op.port) (not $op.portNumber) -}}
{{- fail "monitors.operator: both port and portNumber are empty: set monitors.operator.portNumber (8080 for Seldon's manager) or monitors.operator.port to the metrics container port name" -}}
{{- end -}}
{{- $slo := .Values.rules.slo -}}
{{- $seen := dict -}}
{{- range $i, $w := $slo.windows -}}
{{- if le (int (include "ml-monitoring.durationSeconds" $w.longWindow)) (int (include "ml-monitoring.durationSeconds" $w.shortWindow)) -}}
{{- fail (printf "rules.slo.windows[%d]: shortWindow %s is not shorter than longWindow %s: the short window only confirms the burn is still going on; make it shorter (the SRE workbook uses 1/12 of the long window)" $i $w.shortWindow $w.longWindow) -}}
{{- end -}}
{{- $key := printf "%s/%s" $w.longWindow $w.shortWindow -}}
{{- if hasKey $seen $key -}}
{{- fail (printf "rules.slo.windows[%d]: longWindow %s with shortWindow %s is listed twice: remove one (two rules would raise the same alert)" $i $w.longWindow $w.shortWindow) -}}
{{- end -}}
{{- $_ := set $seen $key true -}}
{{- range $name := list "availability" "latency" -}}
{{- $objective := get $slo $name -}}
{{- if $objective.enabled -}}
{{- $threshold := mulf $w.burnRate (subf 1.0 (divf $objective.objective 100.0)) -}}
{{- if ge $threshold 1.0 -}}
{{- fail (printf "rules.slo.windows[%d]: burnRate %v with rules.slo.%s.objective %v needs a bad-request ratio of %.3g, above 100%%, so the alert could never fire: lower the burnRate or raise the objective" $i $w.burnRate $name $objective.objective $threshold) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
ml-monitoring.ruleGroups: names of the rule groups this release renders (each group is named like its
PrometheusRule), comma-separated, for the helm test.
Usage: {{ include "ml-monitoring.ruleGroups" . }}
*/}}
{{- define "ml-monitoring.ruleGroups" -}}
{{- $rules := .Values.rules -}}
{{- $enabled := dict "seldon-recording" $rules.recording.enabled "slo-availability" $rules.slo.availability.enabled
      "slo-latency" $rules.slo.latency.enabled "gpu" $rules.gpu.enabled "serving-health" $rules.servingHealth.enabled
      "webhook-certificate" $rules.webhookCertificate.enabled -}}
{{- $names := list -}}
{{- range $component := keys $enabled | sortAlpha -}}
{{- if get $enabled $component -}}
{{- $names = append $names (include "ml-common.names.component" (dict "context" $ "component" $component)) -}}
{{- end -}}
{{- end -}}
{{- join "," $names -}}
{{- end -}}
