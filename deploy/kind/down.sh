#!/usr/bin/env bash
# Delete the kind cluster created by up.sh (and everything in it).
set -euo pipefail
CLUSTER="${KIND_CLUSTER:-resilience}"
command -v kind >/dev/null || { echo "kind-down: kind not found on PATH" >&2; exit 3; }
if kind get clusters | grep -qx "$CLUSTER"; then
  kind delete cluster --name "$CLUSTER"
else
  echo "kind-down: no kind cluster named $CLUSTER"
fi
