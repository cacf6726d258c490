{{/* Labels of every object the chart renders. */}}
{{- define "flotilla.labels" -}}
app.kubernetes.io/name: flotilla-hub
app.kubernetes.io/component: hub
app.kubernetes.io/part-of: flotilla
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The platform namespace is fixed: the API defaults to it. */}}
{{- define "flotilla.namespace" -}}
{{- if ne .Release.Namespace "flotilla-system" -}}
{{- fail "install Flotilla into the namespace flotilla-system (helm install -n flotilla-system --create-namespace)" -}}
{{- end -}}
flotilla-system
{{- end -}}
