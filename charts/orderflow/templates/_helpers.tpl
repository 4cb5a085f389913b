{{/* The chart's name, or nameOverride. */}}
{{- define "orderflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's base name for every object: fullnameOverride, or release-chart. */}}
{{- define "orderflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "orderflow.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "orderflow.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* The name of one component's objects, (dict "root" $ "component" "api"): the base name
cut so that with its suffix it still fits the 63 characters of a Service name. */}}
{{- define "orderflow.componentName" -}}
{{- $base := include "orderflow.fullname" .root | trunc (int (sub 62 (len .component))) | trimSuffix "-" }}
{{- printf "%s-%s" $base .component }}
{{- end }}

{{/* "true" when the release keeps its data in the embedded store (no MongoDB given, and no
Secret of the user's that could hold MONGO_URI): one `orderflow serve` pod then runs the API,
relay and worker on the SQLite file of its data volume. */}}
{{- define "orderflow.embedded" -}}
{{- if not (or .Values.mongo.uri .Values.secrets.existingSecret) }}true{{ end }}
{{- end }}

{{/* "true" when the component's Deployment is part of the release, (dict "root" $
"component" "worker"): embedded, `serve` does the worker's work and there is no controller. */}}
{{- define "orderflow.deployed" -}}
{{- if and (index .root.Values .component).enabled (or (eq .component "api") (not (include "orderflow.embedded" .root))) }}true{{ end }}
{{- end }}

{{/* The name of cluster-scoped objects: the namespace is part of it, so the same release
name can be installed in two namespaces. */}}
{{- define "orderflow.clusterName" -}}
{{- printf "%s-%s" .root.Release.Namespace (include "orderflow.componentName" .) }}
{{- end }}

{{- define "orderflow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "orderflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: orderflow
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "api"). */}}
{{- define "orderflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "orderflow.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "orderflow.componentLabels" -}}
{{ include "orderflow.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The image of one component, (dict "root" $ "component" "api"): its own `image` when
set (skaffold sets the exact build), else registry/orderflow-<component>:tag. */}}
{{- define "orderflow.image" -}}
{{- $values := index .root.Values .component }}
{{- if $values.image }}
{{- $values.image }}
{{- else }}
{{- printf "%s/orderflow-%s:%s" .root.Values.image.registry .component (default .root.Chart.AppVersion .root.Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "orderflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "orderflow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding MONGO_URI, JWT_SECRET and the optional credentials. */}}
{{- define "orderflow.secretName" -}}
{{- default (include "orderflow.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* The environment of the api and worker: the shared ConfigMap, the Secret, extra env. */}}
{{- define "orderflow.serviceEnv" -}}
envFrom:
  - configMapRef:
      name: {{ include "orderflow.fullname" .root }}
{{- $embedded := include "orderflow.embedded" .root }}
env:
  {{- if not $embedded }}
  - name: MONGO_URI
    valueFrom:
      secretKeyRef:
        name: {{ include "orderflow.secretName" .root }}
        key: MONGO_URI
  {{- end }}
  # Embedded, `serve` keeps a generated secret in its data volume when none is given.
  - name: JWT_SECRET
    valueFrom:
      secretKeyRef:
        name: {{ include "orderflow.secretName" .root }}
        key: JWT_SECRET
        {{- if $embedded }}
        optional: true
        {{- end }}
  {{- range $name := list "REDIS_URL" "AWS_ACCESS_KEY_ID" "AWS_SECRET_ACCESS_KEY" }}
  - name: {{ $name }}
    valueFrom:
      secretKeyRef:
        name: {{ include "orderflow.secretName" $.root }}
        key: {{ $name }}
        optional: true
  {{- end }}
  - name: OTEL_SERVICE_NAME
    value: orderflow-{{ .component }}
  {{- range $name, $value := .env }}
  - name: {{ $name }}
    value: {{ $value | quote }}
  {{- end }}
{{- end }}

{{/* Pod-level settings every component shares: (dict "root" $ "values" .Values.api). */}}
{{- define "orderflow.podSpecCommon" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The pod template's annotations: hashes of the ConfigMap and the Secret the pods read,
so that a change to either rolls them; then the component's own. */}}
{{- define "orderflow.podAnnotations" -}}
checksum/config: {{ include (print .root.Template.BasePath "/configmap.yaml") .root | sha256sum }}
checksum/secret: {{ include (print .root.Template.BasePath "/secret.yaml") .root | sha256sum }}
{{- with .annotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* HTTP probes on `port`: startup, liveness on /healthz, readiness on /readyz. */}}
{{- define "orderflow.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ .port }}
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 2
{{- end }}
