"""The real systems as oracles of what the charm produces: the API server and Argo.

Every check here is a request to the local kube-apiserver (server-side dry-run: validated and
admitted exactly like a real create, never stored) or a batch run of Argo's own code
(localcluster/argo.py). A check returns the system's reason for rejecting, or None.
"""

from __future__ import annotations

from typing import Any

from lightkube import ApiError, Client
from lightkube.models.core_v1 import NodeSpec, Taint
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Node, Pod

FUZZ_ARGO_NAMESPACE = "fuzz-argo"
"""Where copies of each workflowDefaults the charm wrote wait for Argo's loader."""


def _rejection(error: ApiError) -> str:
    return f"{error.status.code} {error.status.reason}: {error.status.message}"


def pod_rejection(
    client: Client,
    namespace: str,
    tolerations: list[dict[str, Any]] | None = None,
    affinity: dict[str, Any] | None = None,
) -> str | None:
    """Return why the API server rejects a pod carrying these tolerations and affinity."""
    pod = Pod.from_dict(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"generateName": "fuzz-", "namespace": namespace},
            "spec": {
                "containers": [{"name": "main", "image": "busybox"}],
                "tolerations": tolerations or [],
                **({"affinity": affinity} if affinity else {}),
            },
        }
    )
    try:
        client.create(pod, dry_run=True)
    except ApiError as error:
        return _rejection(error)
    return None


def node_rejection(
    client: Client, labels: dict[str, str], taints: tuple[tuple[str, str, str], ...] = ()
) -> str | None:
    """Return why the API server rejects a node with these labels and (key, value, effect)s."""
    node = Node(
        metadata=ObjectMeta(generateName="fuzz-", labels=labels),
        spec=NodeSpec(taints=[Taint(key=k, value=v or None, effect=e) for k, v, e in taints]),
    )
    try:
        client.create(node, dry_run=True)
    except ApiError as error:
        return _rejection(error)
    return None


def configmap_name_rejection(client: Client, namespace: str, name: str) -> str | None:
    """Return why the API server rejects a ConfigMap of this name."""
    try:
        client.create(ConfigMap(metadata=ObjectMeta(name=name, namespace=namespace)), dry_run=True)
    except ApiError as error:
        return _rejection(error)
    return None
