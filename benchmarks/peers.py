"""kubectl as the charm's peer: the same manifests to apply, and a clean slate between runs."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lightkube import Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap

from benchmarks import fleet
from localcluster.seed import ARGO_CONFIGMAP, KUBEFLOW_NAMESPACE

MANAGER = "kubeflow-spot"
"""The charm's field manager; kubectl applies under it too, so either finds the other's work."""
_PodDefault = create_namespaced_resource("kubeflow.org", "v1alpha1", "PodDefault", "poddefaults")


def kubectl_apply(manifests: Path) -> list[str]:
    """Return kubectl's arguments to apply the manifests as the charm does (server-side)."""
    return ["apply", "--server-side", f"--field-manager={MANAGER}", "-f", str(manifests)]


def write_manifests(show_defaults: dict[str, Any], path: Path) -> int:
    """Write what `show-defaults` says the charm applies, in every profile, as one List."""
    defaults = json.loads(show_defaults["defaults"])
    items: list[dict[str, Any]] = [
        {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
        for namespace in fleet.profile_names()
        for manifest in defaults["podDefaults"]["manifests"]
    ]
    namespace, name = defaults["argo"]["configMap"].split("/")
    items.append(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": {defaults["argo"]["key"]: defaults["argo"]["value"]},
        }
    )
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return len(items)


def reset(client: Client) -> None:
    """Remove what either applied: every labelled PodDefault and the workflowDefaults key."""
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda ns: _delete_poddefaults(client, ns), fleet.profile_names()))
    # Applying the ConfigMap with none of the manager's fields drops the key it owned.
    empty = ConfigMap(metadata=ObjectMeta(name=ARGO_CONFIGMAP, namespace=KUBEFLOW_NAMESPACE))
    client.apply(empty, field_manager=MANAGER)


def _delete_poddefaults(client: Client, namespace: str) -> None:
    # deletecollection takes no selector in lightkube; a profile holds only the charm's here.
    client.deletecollection(_PodDefault, namespace=namespace)
