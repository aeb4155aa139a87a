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

{{/* The ConfigMap holding entrastream.yaml: existingConfigMap, or the chart's. */}}
{{- define "entrastream.configMapName" -}}
{{- default (include "entrastream.fullname" .) .Values.existingConfigMap -}}
{{- end -}}

{{/* The variable a Kafka secret property is read from: sasl.password -> ENTRASTREAM_KAFKA_SASL_PASSWORD. */}}
{{- define "entrastream.kafkaSecretVariable" -}}
{{- printf "ENTRASTREAM_KAFKA_%s" (regexReplaceAll "[^A-Z0-9]" (upper .) "_") -}}
{{- end -}}

{{/* The key of the chart's Secret that holds a Kafka secret given as a value. */}}
{{- define "entrastream.kafkaSecretKey" -}}
{{- printf "kafka.%s" . -}}
{{- end -}}

{{/* Whether a librdkafka property is a secret, as entrastream decides (src/config/librdkafka.rs). */}}
{{- define "entrastream.isSecretProperty" -}}
{{- $property := lower . -}}
{{- if or (hasSuffix "password" $property) (hasSuffix "secret" $property) (eq $property "ssl.key.pem") (eq $property "ssl_key") -}}true{{- end -}}
{{- end -}}

{{/* Refuses what would put a secret into a rendered manifest other than a Secret, or name a key nobody writes. */}}
{{- define "entrastream.validateSecrets" -}}
{{- $librdkafka := default (dict) .Values.config.kafka.librdkafka -}}
{{- range $property, $value := $librdkafka -}}
{{- if and (include "entrastream.isSecretProperty" $property) (not (kindIs "map" $value)) -}}
{{- fail (printf "config.kafka.librdkafka.%s is a secret written inline, which would sit in the ConfigMap: remove it there and set secrets.kafka.%s: {secretKeyRef: {name: <Secret>, key: <key>}} (or {value: ...} for the chart's Secret)" $property $property) -}}
{{- end -}}
{{- end -}}
{{- range $property, $source := .Values.secrets.kafka -}}
{{- if hasKey $librdkafka $property -}}
{{- fail (printf "kafka.librdkafka.%s is set twice, in config.kafka.librdkafka and in secrets.kafka: keep only secrets.kafka.%s" $property $property) -}}
{{- end -}}
{{- if hasKey $source "value" -}}
{{- if $.Values.secrets.existingSecret -}}
{{- fail (printf "secrets.kafka.%s.value: with secrets.existingSecret the chart renders no Secret to hold it; put it into %s and write secrets.kafka.%s: {secretKeyRef: {key: <its key>}}" $property $.Values.secrets.existingSecret $property) -}}
{{- end -}}
{{- if hasKey $.Values.secrets.clientSecrets (include "entrastream.kafkaSecretKey" $property) -}}
{{- fail (printf "secrets.clientSecrets.%s: the chart's Secret keeps secrets.kafka.%s.value under that key; rename the client secret" (include "entrastream.kafkaSecretKey" $property) $property) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The configuration file: the values' config, with the chart's listen address, stop timeout,
state path and the {env:} references of secrets.kafka. */}}
{{- define "entrastream.config" -}}
{{- include "entrastream.validateSecrets" . -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := set $config "metrics" (dict "listen" (printf "0.0.0.0:%d" (int .Values.service.port))) -}}
{{- $_ := set $config "shutdown" (dict "timeout" (printf "%ds" (int .Values.shutdownTimeoutSeconds))) -}}
{{- if include "entrastream.fileStore" . -}}
{{- $checkpoint := deepCopy $config.checkpoint -}}
{{- $_ := set $checkpoint "path" "/var/lib/entrastream" -}}
{{- $_ := set $config "checkpoint" $checkpoint -}}
{{- end -}}
{{- if .Values.secrets.kafka -}}
{{- $librdkafka := default (dict) $config.kafka.librdkafka -}}
{{- range $property, $source := .Values.secrets.kafka -}}
{{- $_ := set $librdkafka $property (dict "env" (include "entrastream.kafkaSecretVariable" $property)) -}}
{{- end -}}
{{- $_ := set $config.kafka "librdkafka" $librdkafka -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* What the chart's Secret holds: the client secrets and the Kafka secrets given as values. */}}
{{- define "entrastream.secretData" -}}
{{- $data := deepCopy .Values.secrets.clientSecrets -}}
{{- range $property, $source := .Values.secrets.kafka -}}
{{- if hasKey $source "value" -}}
{{- $_ := set $data (include "entrastream.kafkaSecretKey" $property) (toString $source.value) -}}
{{- end -}}
{{- end -}}
{{- toJson $data -}}
{{- end -}}

{{/* The environment of every container: the Kafka secrets, then extraEnv. */}}
{{- define "entrastream.env" -}}
{{- range $property, $source := .Values.secrets.kafka }}
- name: {{ include "entrastream.kafkaSecretVariable" $property }}
  valueFrom:
    secretKeyRef:
      {{- if hasKey $source "value" }}
      name: {{ include "entrastream.secretName" $ }}
      key: {{ include "entrastream.kafkaSecretKey" $property }}
      {{- else }}
      name: {{ default (include "entrastream.secretName" $) $source.secretKeyRef.name }}
      key: {{ required (printf "secrets.kafka.%s.secretKeyRef.key is required" $property) $source.secretKeyRef.key }}
      {{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Secrets and ConfigMaps the pod reads that the chart does not render: existingSecret,
existingConfigMap, and those named by secrets.kafka, envFrom, extraEnv and extraVolumes. */}}
{{- define "entrastream.referencedObjects" -}}
{{- $secrets := list -}}
{{- $configMaps := list -}}
{{- with .Values.secrets.existingSecret -}}{{- $secrets = append $secrets . -}}{{- end -}}
{{- with .Values.existingConfigMap -}}{{- $configMaps = append $configMaps . -}}{{- end -}}
{{- range $property, $source := .Values.secrets.kafka -}}
{{- if and (hasKey $source "secretKeyRef") $source.secretKeyRef.name -}}{{- $secrets = append $secrets $source.secretKeyRef.name -}}{{- end -}}
{{- end -}}
{{- range .Values.envFrom -}}
{{- if .secretRef -}}{{- $secrets = append $secrets .secretRef.name -}}{{- end -}}
{{- if .configMapRef -}}{{- $configMaps = append $configMaps .configMapRef.name -}}{{- end -}}
{{- end -}}
{{- range .Values.extraEnv -}}
{{- if .valueFrom -}}
{{- if .valueFrom.secretKeyRef -}}{{- $secrets = append $secrets .valueFrom.secretKeyRef.name -}}{{- end -}}
{{- if .valueFrom.configMapKeyRef -}}{{- $configMaps = append $configMaps .valueFrom.configMapKeyRef.name -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- range .Values.extraVolumes -}}
{{- if .secret -}}{{- $secrets = append $secrets .secret.secretName -}}{{- end -}}
{{- if .configMap -}}{{- $configMaps = append $configMaps .configMap.name -}}{{- end -}}
{{- if .projected -}}
{{- range .projected.sources -}}
{{- if .secret -}}{{- $secrets = append $secrets .secret.name -}}{{- end -}}
{{- if .configMap -}}{{- $configMaps = append $configMaps .configMap.name -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $chartSecret := ternary "" (include "entrastream.secretName" .) (not (empty .Values.secrets.existingSecret)) -}}
{{- toJson (dict "secrets" (without (uniq $secrets) $chartSecret "") "configMaps" (without (uniq $configMaps) (include "entrastream.fullname" .) "")) -}}
{{- end -}}

{{/* The checksum of the data of the referenced objects that Helm can read (lookup: at install
and upgrade against a cluster); empty when it reads none, as in helm template or a dry run. */}}
{{- define "entrastream.referencedChecksum" -}}
{{- $referenced := include "entrastream.referencedObjects" . | fromJson -}}
{{- $seen := dict -}}
{{- range $name := $referenced.secrets -}}
{{- $object := lookup "v1" "Secret" $.Release.Namespace $name -}}
{{- if $object -}}{{- $_ := set $seen (printf "Secret/%s" $name) (default (dict) $object.data) -}}{{- end -}}
{{- end -}}
{{- range $name := $referenced.configMaps -}}
{{- $object := lookup "v1" "ConfigMap" $.Release.Namespace $name -}}
{{- if $object -}}{{- $_ := set $seen (printf "ConfigMap/%s" $name) (dict "data" (default (dict) $object.data) "binaryData" (default (dict) $object.binaryData)) -}}{{- end -}}
{{- end -}}
{{- if $seen -}}{{- toJson $seen | sha256sum -}}{{- end -}}
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
