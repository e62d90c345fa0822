"""Pieces of the Kubernetes target (``resilience.targets.kubernetes``).

``options`` (scenario options), ``api`` (the only module that talks to the API server), ``endpoints``, and
pure computation on API objects: ``pods`` (pod state, victim choice), ``rollout`` (release, rollout status,
rollback to the previous ReplicaSet), ``argo`` (an Argo Rollout's blue-green status), ``cnpg``
(CloudNativePG roles, switchover); ``workload`` (the chat Deployment or Rollout, whichever runs) and
``deploys`` (``Deployer.deploy``: start a deploy, follow the controllers until it ends).
"""
