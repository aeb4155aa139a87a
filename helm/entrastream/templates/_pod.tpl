{{/* The pod of the Deployment and of the StatefulSet. */}}
{{- define "entrastream.podTemplate" -}}
metadata:
  labels:
    {{- include "entrastream.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- if .Values.workloadIdentity.enabled }}
    azure.workload.identity/use: "true"
    {{- end }}
  annotations:
    # a configuration or secret change rolls the pod
    {{- if not .Values.existingConfigMap }}
    checksum/config: {{ include "entrastream.config" . | sha256sum }}
    {{- end }}
    {{- if not .Values.secrets.existingSecret }}
    checksum/secrets: {{ include "entrastream.secretData" . | sha256sum }}
    {{- end }}
    {{- with include "entrastream.referencedChecksum" . }}
    # the Secrets and ConfigMaps the chart does not render, as Helm read them (none offline)
    checksum/referenced: {{ . }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "entrastream.serviceAccountName" . }}
  automountServiceAccountToken: {{ or .Values.serviceAccount.automountToken .Values.workloadIdentity.enabled }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ include "entrastream.terminationGracePeriodSeconds" . }}
  {{- with .Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: entrastream
      image: {{ include "entrastream.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: [run, --config, /etc/entrastream/config/entrastream.yaml]
      {{- with include "entrastream.env" . | trim }}
      env:
        {{- . | nindent 8 }}
      {{- end }}
      {{- with .Values.envFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - name: metrics
          containerPort: {{ .Values.service.port }}
          protocol: TCP
      livenessProbe:
        httpGet: {path: /healthz, port: metrics}
        periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
        failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
      readinessProbe:
        httpGet: {path: /readyz, port: metrics}
        periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
        failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      {{- with .Values.containerSecurityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        {{- include "entrastream.volumeMounts" . | nindent 8 }}
        {{- if include "entrastream.fileStore" . }}
        - name: state
          mountPath: /var/lib/entrastream
        {{- end }}
  volumes:
    {{- include "entrastream.volumes" . | nindent 4 }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  {{- $constraints := list }}
  {{- range . }}
  {{- $constraint := deepCopy . }}
  {{- if not (hasKey $constraint "labelSelector") }}
  {{- $_ := set $constraint "labelSelector" (dict "matchLabels" (include "entrastream.selectorLabels" $ | fromYaml)) }}
  {{- end }}
  {{- $constraints = append $constraints $constraint }}
  {{- end }}
  topologySpreadConstraints:
    {{- toYaml $constraints | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* The mounts every container of the chart shares: configuration, secrets, extraVolumeMounts. */}}
{{- define "entrastream.volumeMounts" -}}
- name: config
  mountPath: /etc/entrastream/config
  readOnly: true
- name: secrets
  mountPath: /etc/entrastream/secrets
  readOnly: true
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The volumes every pod of the chart shares: configuration, secrets, extraVolumes. */}}
{{- define "entrastream.volumes" -}}
- name: config
  configMap:
    name: {{ include "entrastream.configMapName" . }}
- name: secrets
  secret:
    secretName: {{ include "entrastream.secretName" . }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}
