{{- define "osflow.name" -}}
{{- printf "%s-worker" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "osflow.labels" -}}
app.kubernetes.io/name: osflow
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: worker-main
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "osflow.selector" -}}
app.kubernetes.io/name: osflow
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: worker-main
{{- end -}}
