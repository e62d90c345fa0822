{{/* The chat pod template, shared by the Deployment and the Argo Rollout (argoRollouts.enabled).

Graceful shutdown (chat/shutdown.py), all inside terminationGracePeriodSeconds, which the chart computes:
  pod deleted -> preStop sleeps chat.shutdown.preStopSleepSeconds (EndpointSlices and kube-proxy drop the
  terminating pod meanwhile; the container still serves) -> SIGTERM -> /readyz 503 for
  chat.shutdown.delaySeconds (CHAT_SHUTDOWN_DELAY_S) -> stop accepting, in-flight requests finish, WebSockets
  closed with 1012, bounded by chat.shutdown.drainTimeoutSeconds (CHAT_DRAIN_TIMEOUT_S) -> exit;
  exitMarginSeconds before the kubelet's SIGKILL. */}}
{{- define "chat-stack.chatGracePeriod" -}}
{{- $s := .Values.chat.shutdown -}}
{{- add $s.preStopSleepSeconds $s.delaySeconds $s.drainTimeoutSeconds $s.exitMarginSeconds -}}
{{- end -}}

{{- define "chat-stack.chatPodTemplate" -}}
{{- $fullname := include "chat-stack.fullname" . }}
{{- $chat := .Values.chat -}}
metadata:
  labels:
    {{- include "chat-stack.labels" . | nindent 4 }}
    app.kubernetes.io/component: chat
    app: chat-api
spec:
  {{- with $chat.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  terminationGracePeriodSeconds: {{ include "chat-stack.chatGracePeriod" . }}
  {{- with $chat.topologySpread }}
  # One chat replica per node as far as the nodes allow (a node drain then takes one replica, which the
  # PodDisruptionBudget permits); ScheduleAnyway, so evicted pods still start while a node is cordoned.
  topologySpreadConstraints:
    - maxSkew: {{ .maxSkew }}
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: {{ .whenUnsatisfiable }}
      labelSelector:
        matchLabels:
          app: chat-api
          app.kubernetes.io/instance: {{ $.Release.Name }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: chat
      image: {{ include "chat-stack.chatImage" . }}
      imagePullPolicy: {{ $chat.image.pullPolicy }}
      command: ["python", "-m", "chat", "--host", "0.0.0.0", "--port", "{{ $chat.port }}"]
      ports:
        - name: http
          containerPort: {{ $chat.port }}
          protocol: TCP
      env:
        - name: CHAT_RELEASE
          value: {{ $chat.release | quote }}
        - name: CHAT_REPLICA
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        # libpq reads the password from PGPASSWORD, so any password works (no URL escaping).
        - name: PGPASSWORD
          valueFrom:
            secretKeyRef:
              name: {{ include "chat-stack.dbSecret" . }}
              key: password
        # Through Toxiproxy, so network faults land between chat and its data stores.
        - name: CHAT_DATABASE_URL
          value: "postgresql://{{ .Values.postgres.owner }}@{{ $fullname }}-toxiproxy:5432/{{ .Values.postgres.database }}?connect_timeout=3"
        - name: REDIS_PASSWORD
          valueFrom:
            secretKeyRef:
              name: {{ .Values.redis.existingSecret | default (printf "%s-redis" $fullname) }}
              key: password
        - name: CHAT_REDIS_URL
          value: "redis://:$(REDIS_PASSWORD)@{{ $fullname }}-toxiproxy:6379/0"
        - name: CHAT_TOKEN_ISSUER
          value: {{ ternary "1" "0" $chat.tokenIssuer | quote }}
        - name: CHAT_JWT_SECRET
          valueFrom:
            secretKeyRef:
              name: {{ include "chat-stack.chatSecret" . }}
              key: jwt-secret
        - name: CHAT_ISSUER_SECRET
          valueFrom:
            secretKeyRef:
              name: {{ include "chat-stack.chatSecret" . }}
              key: issuer-secret
        - name: CHAT_RATE_LIMIT
          value: {{ $chat.rateLimit | quote }}
        - name: CHAT_MAX_BODY_BYTES
          value: {{ $chat.maxBodyBytes | quote }}
        - name: CHAT_LOG_LEVEL
          value: {{ $chat.logLevel | quote }}
        - name: CHAT_SHUTDOWN_DELAY_S
          value: {{ $chat.shutdown.delaySeconds | quote }}
        - name: CHAT_DRAIN_TIMEOUT_S
          value: {{ $chat.shutdown.drainTimeoutSeconds | quote }}
        {{- with $chat.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      # The kubelet's own sleep (Kubernetes >= 1.30): no shell needed in the image.
      lifecycle:
        preStop:
          sleep:
            seconds: {{ $chat.shutdown.preStopSleepSeconds }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        periodSeconds: {{ $chat.readinessProbe.periodSeconds }}
        timeoutSeconds: {{ $chat.readinessProbe.timeoutSeconds }}
        failureThreshold: {{ $chat.readinessProbe.failureThreshold }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: {{ $chat.livenessProbe.periodSeconds }}
        timeoutSeconds: {{ $chat.livenessProbe.timeoutSeconds }}
        failureThreshold: {{ $chat.livenessProbe.failureThreshold }}
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: 1
        failureThreshold: 60
      resources:
        {{- toYaml $chat.resources | nindent 8 }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: ["ALL"]
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir: {}
{{- end -}}
