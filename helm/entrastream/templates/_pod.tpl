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
    checksum/config: {{ include "entrastream.config" . | sha256sum }}
    {{- if not .Values.secrets.existingSecret }}
    checksum/secrets: {{ toJson .Values.secrets.clientSecrets | sha256sum }}
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
  securityContext:
    {{- include "entrastream.podSecurityContext" . | nindent 4 }}
  containers:
    - name: entrastream
      image: {{ include "entrastream.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: [run, --config, /etc/entrastream/config/entrastream.yaml]
      {{- with .Values.extraEnv }}
      env:
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
      securityContext:
        {{- include "entrastream.containerSecurityContext" . | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/entrastream/config
          readOnly: true
        - name: secrets
          mountPath: /etc/entrastream/secrets
          readOnly: true
        {{- if include "entrastream.fileStore" . }}
        - name: state
          mountPath: /var/lib/entrastream
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "entrastream.fullname" . }}
    - name: secrets
      secret:
        secretName: {{ include "entrastream.secretName" . }}
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
{{- end -}}
