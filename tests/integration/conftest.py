"""Fixtures of the Kubernetes target's integration tests (tests/support/fake_kube_api.py is a mock: no
Kubernetes API server can run on these machines)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_kube_api import FakeKubeApi


@pytest.fixture
def fake() -> Iterator[FakeKubeApi]:
    """A fake API server holding what the chart installs (chat Deployment, CNPG cluster, Redis, Toxiproxy,
    Secrets), stopped afterwards."""
    yield from FakeKubeApi.serving_chart()
