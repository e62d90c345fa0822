"""The target's API layer against kube-apiserver's real Status bodies (409, 422, 403, 404, 410).

No API server can run here: ``tests/support/fake_kube_api.py`` (a mock, the one kind the house rules allow)
answers with Status bodies in the exact shape of k8s.io/apimachinery's error constructors. These tests pin
how the kubernetes client surfaces each one and what the target makes of it: only 409 Conflict is a retry.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from kubernetes import client

from resilience.errors import TargetError
from resilience.targets.kube.api import ConflictError, KubeApi, connect
from resilience.targets.kube.rollout import scale_patch
from tests.support.fake_kube_api import FakeKubeApi

pytestmark = pytest.mark.integration

DEPLOYMENT = "resilience-chat"
JSON_PATCH = {"_content_type": "application/json-patch+json"}
DEPLOY_URL = "/apis/apps/v1/namespaces/resilience/deployments/resilience-chat"


def _api(fake: FakeKubeApi, tmp_path: Path) -> KubeApi:
    _scope, api_client = connect(str(fake.write_kubeconfig(tmp_path / "kubeconfig")), None, "resilience")
    return KubeApi(api_client, "resilience", timeout_s=5)


def test_stale_resource_version_gets_the_real_409_and_is_a_conflict(fake: FakeKubeApi, tmp_path: Path) -> None:
    """A merge patch carrying an old resourceVersion: 409 Status as kube-apiserver words it -> ConflictError."""
    api = _api(fake, tmp_path)
    deployment = api.read_deployment(DEPLOYMENT)
    api.patch_deployment(DEPLOYMENT, scale_patch(deployment, 4))
    raw = requests.patch(
        fake.url + DEPLOY_URL,
        data=json.dumps(scale_patch(deployment, 5)),
        headers={"Content-Type": "application/merge-patch+json"},
        timeout=5,
    )
    assert raw.status_code == 409
    assert raw.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Operation cannot be fulfilled on deployments.apps "resilience-chat": the object has been '
        "modified; please apply your changes to the latest version and try again",
        "reason": "Conflict",
        "details": {"name": "resilience-chat", "group": "apps", "kind": "deployments"},
        "code": 409,
    }
    with pytest.raises(ConflictError, match="changed meanwhile: 409 Operation cannot be fulfilled"):
        api.patch_deployment(DEPLOYMENT, scale_patch(deployment, 5))
    assert api.read_deployment(DEPLOYMENT)["spec"]["replicas"] == 4


def test_failed_json_patch_test_is_a_422_and_not_taken_for_a_conflict(fake: FakeKubeApi, tmp_path: Path) -> None:
    """kube-apiserver answers a failed JSON-patch ``test`` with a generic 422; the target no longer relies on it."""
    api = _api(fake, tmp_path)
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": "1"}]
    raw = requests.patch(
        fake.url + DEPLOY_URL, data=json.dumps(ops), headers={"Content-Type": "application/json-patch+json"}, timeout=5
    )
    assert raw.status_code == 422
    assert raw.json()["reason"] == "Invalid"
    assert raw.json()["message"] == "the server rejected our request due to an error in our request"
    apps = client.AppsV1Api(api.api_client)
    with pytest.raises(TargetError) as caught:
        api._call("patch deployment", apps.patch_namespaced_deployment, DEPLOYMENT, "resilience", ops, **JSON_PATCH)
    assert not isinstance(caught.value, ConflictError)
    assert "422 the server rejected our request" in str(caught.value)


def test_forbidden_is_one_line_naming_the_verb_and_resource(fake: FakeKubeApi, tmp_path: Path) -> None:
    """RBAC denial (403): a TargetError carrying the server's message, not a retry and not a traceback."""
    fake.forbidden.add(("delete", "pods"))
    api = _api(fake, tmp_path)
    with pytest.raises(TargetError, match=r'403 pods "resilience-redis-0" is forbidden: User ".*" cannot delete') as e:
        api.delete_pod("resilience-redis-0", 0)
    assert not isinstance(e.value, ConflictError)
    assert "\n" not in str(e.value)
    assert "resilience-redis-0" in fake.pods


def test_not_found_pod_delete_is_already_gone_and_other_reads_fail(fake: FakeKubeApi, tmp_path: Path) -> None:
    """404 on delete means the pod is gone (False); 404 on a Deployment read is a TargetError naming it."""
    api = _api(fake, tmp_path)
    assert api.delete_pod("no-such-pod", 0) is False
    with pytest.raises(TargetError, match=r'read deployment nope .* 404 deployments.apps "nope" not found'):
        api.read_deployment("nope")


def test_expired_list_is_a_target_error_with_the_servers_reason(fake: FakeKubeApi, tmp_path: Path) -> None:
    """410 Expired on a list: one line with the server's message (the poll loop then reads again)."""
    fake.expire_lists = 1
    api = _api(fake, tmp_path)
    with pytest.raises(TargetError, match="410 too old resource version"):
        api.list_pods("app=chat-api")
    assert len(api.list_pods("app=chat-api")) == 3
