"""Pieces of the Kubernetes target (``resilience.targets.kubernetes``).

``_options`` (scenario options), ``_api`` (the only module that talks to the API server), and pure
computation on API objects: ``_pods`` (pod state, victim choice), ``_rollout`` (release, rollout status,
rollback to the previous ReplicaSet) and ``_cnpg`` (CloudNativePG roles, switchover).
"""
