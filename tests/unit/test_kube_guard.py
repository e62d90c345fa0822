"""The Kubernetes safety guard: refuse contexts/namespaces the scenario does not allow, and production."""

from __future__ import annotations

import pytest

from resilience.errors import EXIT_INVALID, ConfigError
from resilience.safety.kube_guard import KubePolicy, KubeScope, check_kube_scope, looks_like_production

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "name",
    [
        "prod",
        "gke_acme_europe-west1_prod-eu",
        "prod1",
        "production",
        "eks-prd",
        "live",
        "https://api.live.example.com",
        "prodcluster",
        "acmeprod",
        "golive",
        "pre-prod",
        "kind-prod",
        "arn:aws:eks:eu-west-1:1:cluster/payments-prd",
    ],
)
def test_production_looking_names_are_recognised(name: str) -> None:
    """A name part containing prod, prd or live marks a name as production, glued to other letters or not."""
    assert looks_like_production(name)


@pytest.mark.parametrize(
    "name", ["kind-resilience", "staging-eu", "product-dev", "products", "delivery", "olive", "preprod", "kind-chaos"]
)
def test_other_names_are_not_production(name: str) -> None:
    """Ordinary words that contain the letters (product, delivery, olive) and preprod are not production."""
    assert not looks_like_production(name)


@pytest.mark.parametrize(
    ("server", "loopback"),
    [
        ("https://127.0.0.1:6443", True),
        ("https://127.0.0.2:43211", True),
        ("https://[::1]:6443", True),
        ("https://localhost:6443", True),
        ("https://10.0.0.1:6443", False),
        ("https://kind.example.com:6443", False),
        ("", False),
    ],
)
def test_kind_contexts_must_point_at_a_loopback_server(server: str, loopback: bool) -> None:
    """A context named kind-* that points at a remote API server is refused: kind runs on this machine."""
    policy = KubePolicy.for_target("kind", "resilience")
    scope = KubeScope("kind-acme", "resilience", server=server)
    if loopback:
        check_kube_scope(scope, policy, target="kind")
    else:
        with pytest.raises(ConfigError, match=r"targets\.kind\.context: kube context 'kind-acme' points at .*loopback"):
            check_kube_scope(scope, policy, target="kind")


@pytest.mark.parametrize("namespace", ["kube-system", "default", "cnpg-system", "kube-public", "local-path-storage"])
def test_a_system_namespace_is_never_the_default(namespace: str) -> None:
    """With no allowed_namespaces in the scenario the target's own namespace is allowed, unless it is a
    system namespace: those pass only when the scenario lists them literally."""
    scope = KubeScope("staging-eu", namespace)
    defaulted = KubePolicy.for_target("staging", namespace, allowed_contexts=["staging-eu"])
    with pytest.raises(ConfigError, match=f"system namespace {namespace!r} must be listed literally"):
        check_kube_scope(scope, defaulted, target="staging")
    listed = KubePolicy.for_target(
        "staging", namespace, allowed_contexts=["staging-eu"], allowed_namespaces=[namespace]
    )
    check_kube_scope(scope, listed, target="staging")


def test_kind_defaults_allow_kind_contexts_in_the_target_namespace() -> None:
    """With no lists in the scenario, kind may touch kind-* contexts and only its own namespace."""
    policy = KubePolicy.for_target("kind", "resilience")
    local = "https://127.0.0.1:6443"
    check_kube_scope(KubeScope("kind-resilience", "resilience", server=local), policy, target="kind")
    with pytest.raises(ConfigError, match="namespace 'payments' is not allowed"):
        check_kube_scope(KubeScope("kind-resilience", "payments", server=local), policy, target="kind")


def test_staging_has_no_default_context() -> None:
    """Staging refuses every context until the scenario lists allowed_contexts; the error names the field."""
    policy = KubePolicy.for_target("staging", "chat")
    with pytest.raises(ConfigError, match=r"targets\.staging\.allowed_contexts: empty") as info:
        check_kube_scope(KubeScope("staging-eu", "chat"), policy, target="staging")
    assert info.value.exit_code == EXIT_INVALID


def test_context_outside_the_allowed_patterns_is_refused() -> None:
    """A context that matches none of the allowed patterns is refused, naming the context and the allowed list."""
    policy = KubePolicy.for_target("staging", "chat", allowed_contexts=["staging-*"])
    check_kube_scope(KubeScope("staging-eu", "chat"), policy, target="staging")
    with pytest.raises(ConfigError, match="kube context 'qa-eu' is not allowed \\(allowed: staging-\\*\\)"):
        check_kube_scope(KubeScope("qa-eu", "chat"), policy, target="staging")


def test_system_namespace_needs_a_literal_entry() -> None:
    """kube-system is refused when only a pattern would allow it, and accepted when listed literally."""
    by_pattern = KubePolicy(("kind-*",), ("*",))
    with pytest.raises(ConfigError, match="system namespace 'kube-system' must be listed literally"):
        check_kube_scope(KubeScope("kind-x", "kube-system"), by_pattern)
    check_kube_scope(KubeScope("kind-x", "kube-system"), KubePolicy(("kind-*",), ("kube-system",)))


@pytest.mark.parametrize(
    "scope",
    [
        KubeScope("prod-eu", "chat"),
        KubeScope("staging", "chat", cluster="gke_acme_prod"),
        KubeScope("staging", "chat", server="https://api.prod.example.com:6443"),
        KubeScope("staging", "live"),
    ],
)
def test_production_looking_scope_is_refused_even_when_allowed_by_pattern(scope: KubeScope) -> None:
    """A production-looking context, cluster, server or namespace is refused unless allow_production is set."""
    policy = KubePolicy(("*",), ("*",))
    with pytest.raises(ConfigError, match=r"allow_production: refusing .* looks like production"):
        check_kube_scope(scope, policy)


def test_allow_production_requires_the_literal_context() -> None:
    """allow_production only works for a context listed literally, never through a pattern."""
    scope = KubeScope("prod-eu", "chat")
    with pytest.raises(ConfigError, match="must be listed literally"):
        check_kube_scope(scope, KubePolicy(("prod-*",), ("chat",), allow_production=True))
    check_kube_scope(scope, KubePolicy(("prod-eu",), ("chat",), allow_production=True))
