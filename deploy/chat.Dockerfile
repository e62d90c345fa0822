# The chat service image (also carries the harness and its locustfile for in-cluster Locust).
# Build context: the repository root.  `make kind-up` builds it as resilience/chat:dev and loads it into
# the kind nodes; for staging push it to your registry and set chat.image in deploy/values/staging.yaml.
#   docker build -f deploy/chat.Dockerfile -t resilience/chat:dev .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY resilience ./resilience
COPY chat ./chat
RUN pip install . \
 && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin chat

USER 10001
EXPOSE 8000
# The chart sets the command (chat or locust); this default runs one chat replica.
CMD ["python", "-m", "chat", "--host", "0.0.0.0", "--port", "8000"]
