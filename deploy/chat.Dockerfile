# The chat service image: the chat package and its own dependencies only (not the harness), installed from
# deploy/chat-requirements.lock (hash-checked, wheels only, so no compiler is needed on amd64 or arm64;
# tests/integration/test_kube_image_wheels.py checks every pin has a wheel for both).
# Build context: the repository root.  `make kind-up` builds it as resilience/chat:dev and loads it into
# the kind nodes; for staging push it to your registry and set chat.image in deploy/values/staging.yaml.
#   docker build -f deploy/chat.Dockerfile -t resilience/chat:dev .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY deploy/chat-requirements.lock /tmp/chat-requirements.lock
RUN pip install --require-hashes --only-binary=:all: --no-deps -r /tmp/chat-requirements.lock \
 && rm /tmp/chat-requirements.lock \
 && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin chat
COPY chat ./chat

USER 10001
EXPOSE 8000
CMD ["python", "-m", "chat", "--host", "0.0.0.0", "--port", "8000"]
