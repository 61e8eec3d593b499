{{- define "hotel.fullname" -}}
{{ .Release.Name }}-hotel
{{- end }}

{{- define "hotel.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "hotel.labels" -}}
app.kubernetes.io/part-of: hotel-platform
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
