# The project's fault proxy (resilience/netfault: Toxiproxy's HTTP API, plus leases: a toxic or a disabled
# proxy with X-Netfault-Lease-Seconds reverts itself when the harness stops renewing it, so a harness that
# dies mid-fault does not leave the fault in place). The chart's default fault proxy (toxiproxy.implementation).
# Only resilience/__init__.py, errors.py, netfault/ and the click command; wheels from
# deploy/netfault-requirements.lock (amd64 and arm64, checked by tests/integration/test_kube_image_wheels.py).
#   docker build -f deploy/netfault.Dockerfile -t resilience/netfault:dev .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY deploy/netfault-requirements.lock /tmp/netfault-requirements.lock
RUN pip install --require-hashes --only-binary=:all: --no-deps -r /tmp/netfault-requirements.lock \
 && rm /tmp/netfault-requirements.lock
COPY resilience/__init__.py resilience/errors.py ./resilience/
COPY resilience/commands/__init__.py resilience/commands/netfault.py ./resilience/commands/
COPY resilience/netfault ./resilience/netfault

USER 65532
EXPOSE 8474
# The chart passes --host 0.0.0.0 --port <apiPort> --config /config/toxiproxy.json --listen-any.
ENTRYPOINT ["python", "-c", "import sys; from resilience.commands.netfault import command; sys.exit(command())"]
