"""The spot rules of the placement report: a node's type, a pod's verdict, and why it needs action.

Pure functions of the facts and the config; no ops, no lightkube.
"""

from __future__ import annotations

import enum

from fallback import NO_NODE_KEY, fell_back
from label_selectors import SelectorRequirement
from placement.facts import NodeFacts, PodFacts, node_local, unschedulable_message
from spot_config import SpotConfig
from spot_profiles import SpotProfile
from workloads import NEVER_ELIGIBLE, WorkloadClass


class NodeType(enum.StrEnum):
    """What kind of capacity a pod runs on."""

    SPOT = "spot"
    ON_DEMAND = "on-demand"
    GONE = "gone"
    """The pod names a node that no longer exists, typically a reclaimed spot VM."""


class Verdict(enum.StrEnum):
    """Whether a pod's placement is right for its workload class under the current config."""

    ON_SPOT = "on-spot"
    """Allowed on spot, and on spot."""
    MISSED = "missed"
    """Allowed on spot, but on on-demand: savings left on the table."""
    AT_RISK = "at-risk"
    """Not allowed on spot, but on spot: an eviction would kill it."""
    STUCK = "stuck"
    """Pending: it requires spot but cannot tolerate the spot taint, or no spot node fits."""
    PENDING = "pending"
    """Not bound to a node yet, for any other reason."""
    OK = "ok"
    """Not allowed on spot, or released from spot by spot-fallback-after, and on on-demand."""
    NODE_GONE = "node-gone"
    """Bound to a node that no longer exists, so where it ran cannot be judged."""


NEEDS_ACTION = (Verdict.AT_RISK, Verdict.STUCK)


def node_type(node: NodeFacts | None, profile: SpotProfile) -> NodeType:
    """Tell spot from on-demand by the profile's labels or taint; None is a vanished node."""
    if node is None:
        return NodeType.GONE
    spot = profile.is_spot_node(node.labels, node.taint_keys)
    return NodeType.SPOT if spot else NodeType.ON_DEMAND


def node_pool(node: NodeFacts, profile: SpotProfile) -> str:
    """Return the node's pool by the profile's pool label, or "" when it has none."""
    return node.labels.get(profile.pool_label, "") if profile.pool_label else ""


def tolerates_spot(pod: PodFacts, profile: SpotProfile) -> bool:
    """Tell whether the pod may land on the profile's spot nodes as far as taints go."""
    taint = profile.taint
    return taint is None or any(t.tolerates(taint) for t in pod.tolerations)


def requires_spot(pod: PodFacts, profile: SpotProfile) -> bool:
    """Tell whether the pod's node selector or required node affinity admits only spot nodes."""
    labels = profile.spot_labels()
    if any(pod.node_selector.get(label.key) == label.value for label in labels):
        return True
    if not pod.required_node_terms:
        return False
    # Terms are ORed: the pod requires spot only if every term does, but a term no node
    # matches (spot-fallback-after's before a step falls back) admits nothing.
    return all(
        any(_only_spot(req, profile) or _no_node(req) for req in term)
        for term in pod.required_node_terms
    )


def _no_node(requirement: SelectorRequirement) -> bool:
    return requirement.key == NO_NODE_KEY and requirement.operator == "Exists"


def _only_spot(requirement: SelectorRequirement, profile: SpotProfile) -> bool:
    return requirement.operator == "In" and any(
        requirement.key == label.key and set(requirement.values) == {label.value}
        for label in profile.spot_labels()
    )


def verdict(
    workload: WorkloadClass, kind: NodeType | None, pod: PodFacts, config: SpotConfig
) -> Verdict:
    """Judge a pod's placement; `kind` is its node's type, None while it is not bound to one."""
    if kind is None:
        stuck = unschedulable_message(pod) is not None and requires_spot(pod, config.profile)
        return Verdict.STUCK if stuck else Verdict.PENDING
    if kind is NodeType.GONE:
        return Verdict.NODE_GONE
    if node_local(pod):
        return Verdict.OK  # It runs on every node by design and goes with its node.
    allowed = config.is_spot(workload)
    if kind is NodeType.SPOT:
        return Verdict.ON_SPOT if allowed else Verdict.AT_RISK
    return Verdict.MISSED if allowed and not fell_back(pod.labels) else Verdict.OK


def attention_reason(
    workload: WorkloadClass, node: NodeFacts | None, pod: PodFacts, config: SpotConfig
) -> str:
    """Say why an at-risk or stuck pod needs action, in words an operator can act on."""
    taint = config.profile.taint
    if node is not None and pod.node_name:
        why = NEVER_ELIGIBLE.get(workload, f"{workload} is not in spot-workloads")
        if taint is None:
            why += (
                "; spot nodes carry no taint, so nothing keeps any pod off them: taint the spot"
                " pool and set spot-node-taint"
            )
        return f"on spot node {node.name}: {why}"
    if taint is not None and not tolerates_spot(pod, config.profile):
        return f"requires spot nodes but does not tolerate {taint}"
    return f"no spot node fits: {unschedulable_message(pod) or 'unschedulable'}"
