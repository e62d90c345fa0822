# The harness image, for the in-cluster staging Job (deploy/chart templates/harness-job.yaml): the
# resilience package, its experiments and scenarios, installed from requirements.lock (hash-checked,
# wheels only but two pure-Python sdists). x86_64 only: tests/integration/test_kube_image_wheels.py checks the lock has a wheel for
# every pin there (hdrhistogram has no aarch64 wheel; the chat image is the one kind on arm64 needs).
#   docker build -f deploy/harness.Dockerfile -t registry.example.com/agent/resilience-harness:0.1.0 .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.lock /tmp/requirements.lock
# python-etcd and ydiff (Patroni's, local stack only) publish no wheel; pure Python, they build without a
# compiler. Every other pin is a wheel (the check above).
RUN pip install --require-hashes --only-binary=:all: --no-binary=python-etcd,ydiff --no-deps -r /tmp/requirements.lock \
 && rm /tmp/requirements.lock \
 && useradd --uid 10002 --create-home --shell /usr/sbin/nologin harness
COPY pyproject.toml README.md ./
COPY resilience ./resilience
COPY experiments ./experiments
COPY scenarios ./scenarios
RUN pip install --no-deps --no-build-isolation . && mkdir -p /results && chown 10002 /results

USER 10002
# The chart's Job sets the command: resilience run /scenario/scenario.yaml --target staging ...
CMD ["resilience", "--help"]
