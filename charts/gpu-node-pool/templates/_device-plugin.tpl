{{/* gpu-node-pool.devicePlugin.configFile: one named config in the device plugin's own file format (v1). */}}
{{- define "gpu-node-pool.devicePlugin.configFile" -}}
{{- $dp := .devicePlugin -}}
{{- $config := .config -}}
{{- $file := dict "version" "v1" -}}
{{- $plugin := dict "passDeviceSpecs" false "deviceListStrategy" (list $dp.deviceListStrategy) "deviceIDStrategy" $dp.deviceIDStrategy -}}
{{- $_ := set $file "flags" (dict "migStrategy" ($config.migStrategy | default "none") "failOnInitError" $dp.failOnInitError "plugin" $plugin) -}}
{{- with $config.timeSlicing -}}
{{- $ts := dict "renameByDefault" (.renameByDefault | default false) "resources" (list (dict "name" "nvidia.com/gpu" "replicas" (int .replicas))) -}}
{{- /* failRequestsGreaterThanOne defaults to true here (upstream: false): asking for 2 shares gives no more GPU. */ -}}
{{- $_ := set $ts "failRequestsGreaterThanOne" (ternary .failRequestsGreaterThanOne true (hasKey . "failRequestsGreaterThanOne")) -}}
{{- $_ := set $file "sharing" (dict "timeSlicing" $ts) -}}
{{- end -}}
{{- with $config.mps -}}
{{- $_ := set $file "sharing" (dict "mps" (dict "renameByDefault" (.renameByDefault | default false) "resources" (list (dict "name" "nvidia.com/gpu" "replicas" (int .replicas))))) -}}
{{- end -}}
{{- toYaml $file -}}
{{- end -}}

{{/* gpu-node-pool.devicePlugin.usesMig / usesMps: "true" when any config needs it. */}}
{{- define "gpu-node-pool.devicePlugin.usesMig" -}}
{{- range .Values.devicePlugin.configs }}{{ if ne (.migStrategy | default "none") "none" }}true{{ end }}{{ end -}}
{{- end -}}
{{- define "gpu-node-pool.devicePlugin.usesMps" -}}
{{- range .Values.devicePlugin.configs }}{{ if .mps }}true{{ end }}{{ end -}}
{{- end -}}

{{/*
gpu-node-pool.devicePlugin.configManager: the config-manager container that copies the config named by the
node label nvidia.com/device-plugin.config into /config (once as init container, then as a watching sidecar).
*/}}
{{- define "gpu-node-pool.devicePlugin.configManager" -}}
{{- $root := .context -}}
{{- $dp := $root.Values.devicePlugin -}}
- name: {{ .name }}
  image: {{ include "ml-common.images.image" (dict "image" $dp.image "global" $root.Values.global "defaultTag" $root.Chart.AppVersion) }}
  imagePullPolicy: {{ $dp.image.pullPolicy }}
  command: ["config-manager"]
  env:
    - {name: ONESHOT, value: {{ .oneshot | quote }}}
    - {name: KUBECONFIG, value: ""}
    - name: NODE_NAME
      valueFrom:
        fieldRef:
          fieldPath: spec.nodeName
    - {name: NODE_LABEL, value: nvidia.com/device-plugin.config}
    - {name: CONFIG_FILE_SRCDIR, value: /available-configs}
    - {name: CONFIG_FILE_DST, value: /config/config.yaml}
    - {name: DEFAULT_CONFIG, value: {{ $dp.defaultConfig | quote }}}
    - {name: FALLBACK_STRATEGIES, value: "named,single"}
    - {name: SEND_SIGNAL, value: {{ not .oneshot | quote }}}
    - {name: SIGNAL, value: {{ ternary "" "1" .oneshot | quote }}}
    - {name: PROCESS_TO_SIGNAL, value: {{ ternary "" .signal .oneshot | quote }}}
  {{- include "ml-common.security.containerSecurityContext" (dict "securityContext" $dp.securityContext "path" "devicePlugin.securityContext" "profile" "privileged") | nindent 2 }}
  resources:
    {{- toYaml $dp.resources | nindent 4 }}
  volumeMounts:
    - {name: available-configs, mountPath: /available-configs}
    - {name: config, mountPath: /config}
{{- end -}}
