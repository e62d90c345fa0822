{{/* Names and labels shared by every template. */}}

{{- define "chat-stack.fullname" -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "chat-stack.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: chat-stack
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "chat-stack.chatSecret" -}}
{{- .Values.chat.existingSecret | default (printf "%s-chat" (include "chat-stack.fullname" .)) -}}
{{- end -}}

{{- define "chat-stack.dbSecret" -}}
{{- .Values.postgres.existingSecret | default (printf "%s-db-app" (include "chat-stack.fullname" .)) -}}
{{- end -}}

{{- define "chat-stack.chatImage" -}}
{{- printf "%s:%s" .Values.chat.image.repository .Values.chat.image.tag -}}
{{- end -}}

{{/* A random secret value, kept from the live object when it exists (lookup is empty offline). */}}
{{- define "chat-stack.keep" -}}
{{- $obj := lookup "v1" "Secret" .ctx.Release.Namespace .name -}}
{{- if and $obj (index ($obj.data | default dict) .key) -}}
{{- index $obj.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}

{{- define "chat-stack.nodePort" -}}
{{- if eq .type "NodePort" }}
nodePort: {{ .port }}
{{- end -}}
{{- end -}}

{{/* Toxiproxy's -config file: the proxies the harness injects faults into (names are a contract). */}}
{{- define "chat-stack.toxiproxyConfig" -}}
{{- $fullname := include "chat-stack.fullname" . -}}
[
  {"name": "postgres", "listen": "0.0.0.0:5432", "upstream": "{{ $fullname }}-pg-rw:5432", "enabled": true},
  {"name": "redis", "listen": "0.0.0.0:6379", "upstream": "{{ $fullname }}-redis:6379", "enabled": true}
]
{{- end -}}

{{- /* networkPolicy.harnessFrom plus, when harness.job is on, the harness Job's own pods (a YAML list). */}}
{{- define "chat-stack.harnessFrom" -}}
{{- $from := .Values.networkPolicy.harnessFrom | default list }}
{{- if .Values.harness.job.enabled }}
{{- $job := dict "podSelector" (dict "matchLabels" (dict "app" "resilience-harness" "app.kubernetes.io/instance" .Release.Name)) }}
{{- $from = append $from $job }}
{{- end }}
{{- toYaml $from }}
{{- end -}}
