"""Decide how PodDefaults reach the profile namespaces, and what resource-dispatcher receives.

There are two paths. Directly, the charm applies each PodDefault into every profile namespace
itself (`applier.SpotDefaultsApplier`). Through Charmed Kubeflow's resource-dispatcher, the
charm hands the manifests over the `pod-defaults` relation and the dispatcher copies them into
every profile namespace, including ones created later. This module holds the decisions, pure;
`manifests_requirer` speaks the relation's protocol. It imports neither ops nor lightkube.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from identity import MANAGED_BY_LABEL
from spot_config import PodDefaultsDelivery

DISPATCHER_MANAGER = "resource-dispatcher"
"""`app.kubernetes.io/managed-by` of the PodDefaults handed to resource-dispatcher."""


class DeliveryPath(enum.StrEnum):
    """Which way the charm's PodDefaults currently reach the profile namespaces."""

    DIRECT = "direct"
    RESOURCE_DISPATCHER = "resource-dispatcher"
    WITHDRAWN = "withdrawn"
    """Nothing delivers them: only resource-dispatcher may, and it is not related."""


@dataclass(frozen=True)
class DeliveryPlan:
    """How the charm's PodDefaults are delivered, and the manifests in the form that path takes."""

    path: DeliveryPath
    manifests: tuple[dict[str, Any], ...]
    """The PodDefaults as applied directly or as sent to the dispatcher; none when withdrawn."""
    withheld: int = 0
    """How many rendered PodDefaults no path delivers (only when withdrawn)."""

    @property
    def applied_directly(self) -> tuple[dict[str, Any], ...]:
        """Return what the charm itself applies into every profile namespace."""
        return self.manifests if self.path is DeliveryPath.DIRECT else ()

    @property
    def sent_to_dispatcher(self) -> list[dict[str, Any]] | None:
        """Return what resource-dispatcher is given, or None when it is not related."""
        if self.path is not DeliveryPath.RESOURCE_DISPATCHER:
            return None
        return list(self.manifests)

    def describe(self, namespaces: int | None = None) -> str:
        """Say which way PodDefaults go, for the status and `show-defaults`.

        Args:
            namespaces: how many profile namespaces hold the directly applied PodDefaults, if
                known (a reconcile counts them; `show-defaults` does not read the cluster).

        """
        if self.path is DeliveryPath.RESOURCE_DISPATCHER:
            return "via resource-dispatcher"
        if self.path is DeliveryPath.WITHDRAWN:
            return "withdrawn (pod-defaults-delivery=resource-dispatcher, no relation)"
        if namespaces is None:
            return "direct to every profile namespace"
        return f"direct to {namespaces} namespace{'' if namespaces == 1 else 's'}"


def plan_delivery(
    mode: PodDefaultsDelivery, *, related: bool, pod_defaults: Iterable[dict[str, Any]]
) -> DeliveryPlan:
    """Choose the delivery path and put the rendered PodDefaults into the form it needs."""
    path = choose_path(mode, related=related)
    if path is DeliveryPath.RESOURCE_DISPATCHER:
        return DeliveryPlan(path, tuple(dispatcher_manifests(pod_defaults)))
    if path is DeliveryPath.WITHDRAWN:
        return DeliveryPlan(path, (), withheld=len(tuple(pod_defaults)))
    return DeliveryPlan(path, tuple(pod_defaults))


def choose_path(mode: PodDefaultsDelivery, *, related: bool) -> DeliveryPath:
    """Return the delivery path for the configured mode and the relation's presence."""
    if related:
        return DeliveryPath.RESOURCE_DISPATCHER
    if mode is PodDefaultsDelivery.RESOURCE_DISPATCHER:
        return DeliveryPath.WITHDRAWN
    return DeliveryPath.DIRECT


def dispatcher_manifests(pod_defaults: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the rendered PodDefaults as resource-dispatcher should receive them.

    Names and specs stay as rendered (names are already prefixed with the application name,
    so they cannot collide with another charm's PodDefaults at the dispatcher). Two things
    change:

    - no `metadata.namespace`: the dispatcher puts a manifest without one into every profile
      namespace, and one with a namespace into that namespace only;
    - `app.kubernetes.io/managed-by` names the dispatcher, so the charm's pruning of its own
      directly applied PodDefaults (selected by `managed-by: kubeflow-spot`) never deletes the
      dispatcher's copies.
    """
    sent = []
    for manifest in pod_defaults:
        copied = copy.deepcopy(manifest)
        metadata = copied["metadata"]
        metadata.pop("namespace", None)
        metadata["labels"] = {**metadata.get("labels", {}), MANAGED_BY_LABEL: DISPATCHER_MANAGER}
        sent.append(copied)
    return sent
