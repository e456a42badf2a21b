{{/*
ml-common.names.name: the chart name, or .Values.nameOverride; truncated to 63 characters (DNS label).
Usage: {{ include "ml-common.names.name" . }}
*/}}
{{- define "ml-common.names.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
ml-common.names.fullname: .Values.fullnameOverride, else "<release>-<name>" (just <release> when it
already contains the name); 63 characters at most.
Usage: {{ include "ml-common.names.fullname" . }}
*/}}
{{- define "ml-common.names.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "ml-common.names.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
ml-common.names.component: "<fullname>-<component>" truncated to 63 characters.
Usage: {{ include "ml-common.names.component" (dict "context" $ "component" "webhook") }}
*/}}
{{- define "ml-common.names.component" -}}
{{- printf "%s-%s" (include "ml-common.names.fullname" .context) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
ml-common.names.chart: "<chart>-<version>" for the helm.sh/chart label ("+" is not allowed in label values).
Usage: {{ include "ml-common.names.chart" . }}
*/}}
{{- define "ml-common.names.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
ml-common.names.serviceAccount: the service account a chart's pods use: serviceAccount.name, else the
fullname when serviceAccount.create is true, else "default".
Usage: {{ include "ml-common.names.serviceAccount" (dict "context" $ "serviceAccount" .Values.serviceAccount) }}
*/}}
{{- define "ml-common.names.serviceAccount" -}}
{{- if .serviceAccount.create -}}
{{- default (include "ml-common.names.fullname" .context) .serviceAccount.name -}}
{{- else -}}
{{- default "default" .serviceAccount.name -}}
{{- end -}}
{{- end -}}
