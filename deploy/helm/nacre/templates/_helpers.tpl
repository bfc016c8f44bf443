{{- define "nacre.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "nacre.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "nacre.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "nacre.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "nacre.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nacre.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "nacre.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "nacre.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "nacre.standalone" -}}
{{- if eq .Values.mode "standalone" }}true{{ end }}
{{- end }}

{{- define "nacre.checkMode" -}}
{{- if not (has .Values.mode (list "cluster" "standalone")) }}
{{- fail (printf "mode must be cluster or standalone, not %q" .Values.mode) }}
{{- end }}
{{- end }}

{{- define "nacre.replicas" -}}
{{- if include "nacre.standalone" . }}1{{ else }}{{ .Values.replicas }}{{ end }}
{{- end }}

{{- define "nacre.backupDir" -}}
{{- if .Values.backup.existingClaim }}/var/lib/nacre-backups{{ else }}/var/lib/nacre-state/backups{{ end }}
{{- end }}

{{- define "nacre.expectExistingStore" -}}
{{- $expect := toString .Values.identity.expectExistingStore }}
{{- if eq $expect "auto" }}{{ .Release.IsUpgrade }}
{{- else if has $expect (list "true" "false") }}{{ $expect }}
{{- else }}{{ fail (printf "identity.expectExistingStore must be auto, true or false, not %q" $expect) }}
{{- end }}
{{- end }}
