#!/usr/bin/env bash
# Create the kind cluster, build and load the chat and fault proxy images, install CloudNativePG and the chart.
# Needs docker, kind, kubectl and helm on PATH. Idempotent: re-running upgrades the release.
set -euo pipefail
cd "$(dirname "$0")/../.."

CLUSTER="${KIND_CLUSTER:-resilience}"
CONTEXT="kind-${CLUSTER}"
NAMESPACE="${KIND_NAMESPACE:-resilience}"
RELEASE="${HELM_RELEASE:-resilience}"
IMAGE="${CHAT_IMAGE:-resilience/chat:dev}"
NETFAULT_IMAGE="${NETFAULT_IMAGE:-resilience/netfault:dev}"
CNPG_VERSION="${CNPG_VERSION:-1.30.0}"
CNPG_MANIFEST="https://raw.githubusercontent.com/cloudnative-pg/cloudnative-pg/release-${CNPG_VERSION%.*}/releases/cnpg-${CNPG_VERSION}.yaml"

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "kind-up: $tool not found on PATH" >&2; exit 3; }
done

if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --config deploy/kind/cluster.yaml --wait 120s
fi

docker build -f deploy/chat.Dockerfile -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"
docker build -f deploy/netfault.Dockerfile -t "$NETFAULT_IMAGE" .
kind load docker-image "$NETFAULT_IMAGE" --name "$CLUSTER"

# CloudNativePG operator (the Cluster CRD the chart uses).
kubectl --context "$CONTEXT" apply --server-side -f "$CNPG_MANIFEST"
kubectl --context "$CONTEXT" -n cnpg-system rollout status deployment/cnpg-controller-manager --timeout=300s

helm upgrade --install "$RELEASE" deploy/chart \
  --kube-context "$CONTEXT" --namespace "$NAMESPACE" --create-namespace \
  -f deploy/values/kind.yaml \
  --set chat.image.repository="${IMAGE%:*}" --set chat.image.tag="${IMAGE##*:}" \
  --set toxiproxy.netfaultImage="$NETFAULT_IMAGE" \
  --wait --timeout 10m

kubectl --context "$CONTEXT" -n "$NAMESPACE" wait cluster.postgresql.cnpg.io/"$RELEASE-pg" \
  --for=condition=Ready --timeout=600s
echo "kind-up: cluster $CLUSTER ready; chat http://127.0.0.1:30080, toxiproxy http://127.0.0.1:30474"
