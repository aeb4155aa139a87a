{{- define "entrastream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "entrastream.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "entrastream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "entrastream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "entrastream.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "entrastream.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "entrastream.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "entrastream.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "entrastream.secretName" -}}
{{- default (printf "%s-secrets" (include "entrastream.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "entrastream.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "entrastream.fileStore" -}}
{{- if eq (default "file" .Values.config.checkpoint.store) "file" -}}true{{- end -}}
{{- end -}}

{{/* The configuration file: the values' config, with the chart's listen address and state path. */}}
{{- define "entrastream.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := set $config "metrics" (dict "listen" (printf "0.0.0.0:%d" (int .Values.service.port))) -}}
{{- $_ := set $config "shutdown" (dict "timeout" (printf "%ds" (int .Values.shutdownTimeoutSeconds))) -}}
{{- if include "entrastream.fileStore" . -}}
{{- $checkpoint := deepCopy $config.checkpoint -}}
{{- $_ := set $checkpoint "path" "/var/lib/entrastream" -}}
{{- $_ := set $config "checkpoint" $checkpoint -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* The pod's grace period: shutdownTimeoutSeconds and 10 s for the rest of the stop, unless set. */}}
{{- define "entrastream.terminationGracePeriodSeconds" -}}
{{- $timeout := int .Values.shutdownTimeoutSeconds -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $timeout 10 -}}
{{- else if le (int .Values.terminationGracePeriodSeconds) $timeout -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be above shutdownTimeoutSeconds (%d): Kubernetes would kill entrastream before its stop ends" (int .Values.terminationGracePeriodSeconds) $timeout) -}}
{{- else -}}
{{- int .Values.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/* The restricted Pod Security Standard, for every pod of the chart. */}}
{{- define "entrastream.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "entrastream.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
