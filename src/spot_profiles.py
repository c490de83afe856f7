"""How spot nodes are recognised on each platform: their labels, their taint, and tolerations.

A `SpotProfile` names the node label spot affinity selects on, the taint spot nodes carry (if
any) and the pool label reports show; `Taint` and `Toleration` follow Kubernetes' matching
rules. Pure: no ops, no lightkube.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


@dataclass(frozen=True)
class NodeLabel:
    """A `key=value` node label."""

    key: str
    value: str

    def __str__(self) -> str:
        """Return the label as `key=value`."""
        return f"{self.key}={self.value}"


@dataclass(frozen=True)
class Taint:
    """A node taint `key=value:Effect` (the value may be empty)."""

    key: str
    value: str
    effect: str

    def __str__(self) -> str:
        """Return the taint in kubectl's `key=value:Effect` form."""
        return (
            f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"
        )

    def toleration(self) -> dict[str, str]:
        """Return the one toleration that lets a pod onto nodes with this taint."""
        if not self.value:
            return {"key": self.key, "operator": "Exists", "effect": self.effect}
        return {"key": self.key, "operator": "Equal", "value": self.value, "effect": self.effect}


@dataclass(frozen=True)
class SpotProfile:
    """How spot nodes are recognised on one platform."""

    name: str
    label: NodeLabel
    """The label that spot node affinity selects on."""
    taint: Taint | None
    """The taint spot nodes carry, or None when the platform does not taint them."""
    also_spot: tuple[NodeLabel, ...] = ()
    """Further labels that mark a node as spot when detecting spot nodes."""
    pool_label: str | None = None
    """The node label naming the node pool, for reports."""

    def spot_labels(self) -> tuple[NodeLabel, ...]:
        """Return every label that marks a node as spot, the affinity label first."""
        return (self.label, *self.also_spot)

    def is_spot_node(self, labels: Mapping[str, str], taint_keys: Iterable[str] = ()) -> bool:
        """Tell whether a node with these labels and taint keys is a spot node."""
        if any(labels.get(label.key) == label.value for label in self.spot_labels()):
            return True
        return self.taint is not None and self.taint.key in taint_keys


AKS = SpotProfile(
    name="aks",
    label=NodeLabel("kubernetes.azure.com/scalesetpriority", "spot"),
    taint=Taint("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule"),
    # AKS marks `scalesetpriority` deprecated in favour of `priority`; nodes carry both today.
    also_spot=(NodeLabel("kubernetes.azure.com/priority", "spot"),),
    pool_label="kubernetes.azure.com/agentpool",
)
EKS = SpotProfile(
    name="eks",
    label=NodeLabel("eks.amazonaws.com/capacityType", "SPOT"),
    taint=None,
    pool_label="eks.amazonaws.com/nodegroup",
)
GKE = SpotProfile(
    name="gke",
    label=NodeLabel("cloud.google.com/gke-spot", "true"),
    taint=Taint("cloud.google.com/gke-spot", "true", "NoSchedule"),
    pool_label="cloud.google.com/gke-nodepool",
)
KARPENTER = SpotProfile(
    name="karpenter",
    label=NodeLabel("karpenter.sh/capacity-type", "spot"),
    taint=None,
    pool_label="karpenter.sh/nodepool",
)
PROFILES: dict[str, SpotProfile] = {p.name: p for p in (AKS, EKS, GKE, KARPENTER)}
CUSTOM_PROFILE = "custom"


@dataclass(frozen=True)
class Toleration:
    """A pod toleration, with Kubernetes' matching rules."""

    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    def tolerates(self, taint: Taint) -> bool:
        """Tell whether this toleration lets a pod onto a node with the taint."""
        if self.effect and self.effect != taint.effect:
            return False
        if not self.key:
            return self.operator == "Exists"  # An empty key with Exists tolerates everything.
        if self.key != taint.key:
            return False
        return self.operator == "Exists" or self.value == taint.value
