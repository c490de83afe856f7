"""What the placement report knows about a node or a pod, and what those facts tell by themselves.

The reader copies each lightkube object into these records and drops it; everything here is a
pure function of one record (no config, no ops, no lightkube): eviction signals, Argo retry
attempts, node-local pods, run hours.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import msgspec

from label_selectors import SelectorRequirement
from spot_profiles import Toleration
from workloads import ARGO_WORKFLOW_LABEL

EVICTION_TAINT_KEYS = (
    "remediator.kubernetes.azure.com/unschedulable",  # AKS node auto-drain on a Preempt event
    "node.kubernetes.io/unschedulable",  # any cordoned node
    "karpenter.sh/disrupted",  # Karpenter draining a reclaimed node
)
"""Node taints that say the node is cordoned or drained (the json report's `eviction-taint`)."""

EVICTION_TAINTS = {
    "remediator.kubernetes.azure.com/unschedulable": "AKS node auto-drain",
    "remediator.aks.microsoft.com/unschedulable": "AKS node auto-drain",
    "karpenter.sh/disrupted": "Karpenter is draining it",
}
"""Taints put on a node that is drained ahead of its removal, its pods with it: AKS node
auto-drain on a Preempt, Redeploy or Terminate Scheduled Event (azure-aks-docs
`node-auto-drain.md`; older azure-docs named the key `remediator.aks.microsoft.com`), and
Karpenter's disruption and termination controllers (kubernetes-sigs/karpenter
`pkg/apis/v1/taints.go`: `karpenter.sh/disrupted:NoSchedule`). A plain cordon is not one."""
VM_EVENT_CONDITION = "VMEventScheduled"
"""AKS node-problem-detector's node condition (azure-aks-docs `node-problem-detector.md`): True
while an Azure Scheduled Event is pending, its message `<Type> Scheduled: <NotBefore>. ...`;
False, `NoVMEventScheduled`, otherwise."""
VM_LOSING_EVENTS = ("Preempt", "Redeploy", "Terminate")
"""Scheduled Events that take the VM, and every pod on it (node auto-drain cordons and drains on
these); a Freeze pauses the VM for seconds and a Reboot keeps it."""
PREEMPTION_CONDITION = "PreemptionScheduled"
"""The node condition Karpenter on Azure acts on (reason `SpotEvictionIncoming`; read in
Azure/karpenter-provider-azure `test/suites/integration/spot_interruption_test.go`, f817bd8)."""
_ADVISORY = "SpotRebalanceRecommendation Advisory"
"""A PreemptionScheduled message that only advises: nothing is evicted."""

DISRUPTION_REASONS = frozenset(
    {
        "EvictionByEvictionAPI",
        "DeletionByTaintManager",
        "TerminationByKubelet",
        "PreemptionByScheduler",
        "DeletionByPodGC",
    }
)
"""Reasons of the `DisruptionTarget` pod condition."""

EVICTED_POD_REASONS = frozenset({"Evicted", "Preempting", "NodeShutdown", "Shutdown"})
"""`status.reason` of pods the kubelet evicted, preempted or shut down with their node."""

ARGO_NODE_NAME_ANNOTATION = "workflows.argoproj.io/node-name"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
"""Set by the kubelet on the API copy of a static pod."""
# Argo names the attempts of a retried step `<step>(0)`, `<step>(1)`, ...; loop items are
# `<step>(0:item)`, which this does not match. The annotation is the user's to write: ASCII
# digits only, at most six of them (a longer number is no retry attempt), and one step counts
# as at most MAX_COUNTED_ATTEMPT retries, the most the charm's retry default makes, so one pod
# can neither break nor skew the cluster-wide report.
_RETRY_ATTEMPT_RE = re.compile(r"(?P<step>.+)\((?P<attempt>[0-9]{1,6})\)")
MAX_COUNTED_ATTEMPT = 20


POD_CONDITION_TYPES = frozenset({"PodScheduled", "DisruptionTarget"})
"""The pod conditions the report reads (`unschedulable_message`, `eviction_signal`); the reader
copies no others."""


class Record(msgspec.Struct, frozen=True, gc=False):
    """An immutable record built for each pod or node read: a msgspec struct, built in C.

    A report builds several for each of 10,000 pods, and a frozen dataclass sets each field
    through `object.__setattr__`: a `PodFacts` took 5.3 µs to build that way and 0.8 µs as
    this (issue 13). Equality, hashing and `msgspec.structs.replace` work as a dataclass's do.
    Untracked by the garbage collector: a record holds strings, numbers, datetimes, tuples and
    mappings of strings, never anything that refers back to it.
    """


class Condition(Record, frozen=True):
    """One entry of a pod's or a node's `status.conditions`."""

    type: str
    status: str
    reason: str = ""
    message: str = ""


class NodeFacts(Record, frozen=True):
    """What the report needs to know about a node."""

    name: str
    labels: Mapping[str, str]
    taint_keys: tuple[str, ...] = ()
    unschedulable: bool = False
    conditions: tuple[Condition, ...] = ()


class PodFacts(Record, frozen=True):
    """What the report needs to know about a pod, copied field by field from the API object."""

    namespace: str
    name: str
    labels: Mapping[str, str] = msgspec.field(default_factory=dict)
    annotations: Mapping[str, str] = msgspec.field(default_factory=dict)
    node_name: str = ""
    phase: str = "Pending"
    reason: str = ""
    message: str = ""
    conditions: tuple[Condition, ...] = ()
    """Those of `POD_CONDITION_TYPES`."""
    created: datetime | None = None
    started: datetime | None = None
    """When the first container started (or the pod did, if no container has)."""
    finished: datetime | None = None
    """When the last container finished, once every container has."""
    tolerations: tuple[Toleration, ...] = ()
    node_selector: Mapping[str, str] = msgspec.field(default_factory=dict)
    required_node_terms: tuple[tuple[SelectorRequirement, ...], ...] = ()
    """`requiredDuringSchedulingIgnoredDuringExecution` node selector terms (ORed)."""
    owner_kinds: tuple[str, ...] = ()
    """Kinds of the pod's `ownerReferences`, such as `DaemonSet` or `Job`."""

    @property
    def finished_phase(self) -> bool:
        """Tell whether the pod has ended (Succeeded or Failed)."""
        return self.phase in ("Succeeded", "Failed")


def eviction_taint(node: NodeFacts) -> str:
    """Return the first taint that marks the node as being drained, or ""."""
    return next((key for key in EVICTION_TAINT_KEYS if key in node.taint_keys), "")


def eviction_notice(node: NodeFacts) -> str:
    """Return what says the node is about to go with its pods, or "" when nothing does."""
    for condition in node.conditions:
        if condition.status != "True":
            continue
        message = " ".join(condition.message.split())
        if condition.type == VM_EVENT_CONDITION and message.startswith(VM_LOSING_EVENTS):
            return f"{VM_EVENT_CONDITION}: {_first_sentence(message)} (AKS node-problem-detector)"
        if condition.type == PREEMPTION_CONDITION and not message.startswith(_ADVISORY):
            return f"{PREEMPTION_CONDITION}/{condition.reason}: {_first_sentence(message)}"
    for key, who in EVICTION_TAINTS.items():
        if key in node.taint_keys:
            return f"taint {key} ({who})"
    return ""


def _first_sentence(message: str) -> str:
    return message.split(". ", 1)[0].rstrip(".")


def unschedulable_message(pod: PodFacts) -> str | None:
    """Return the scheduler's message when it found no node for the pod, else None."""
    for condition in pod.conditions:
        if (
            condition.type == "PodScheduled"
            and condition.status == "False"
            and condition.reason == "Unschedulable"
        ):
            return condition.message
    return None


def eviction_signal(pod: PodFacts) -> str | None:
    """Return how the pod shows it was disrupted (evicted, preempted, shut down), or None.

    The `DisruptionTarget` condition is counted even when the disruption was abandoned later, as
    Kubernetes documents for it; a pod evicted before that condition existed shows `Evicted`.
    """
    for condition in pod.conditions:
        if condition.type == "DisruptionTarget" and condition.reason in DISRUPTION_REASONS:
            return condition.reason
    if pod.reason in EVICTED_POD_REASONS:
        return pod.reason
    if pod.reason == "Terminated" and "shutdown" in pod.message.lower():
        return "NodeShutdown"
    return None


@dataclass(frozen=True)
class RetryAttempt:
    """A pod that is one attempt of a retried Argo step."""

    step: tuple[str, str, str]
    """(namespace, workflow, step node name without the attempt suffix)."""
    attempt: int
    """0 for the first attempt, n for the n-th retry."""


def retry_attempt(pod: PodFacts) -> RetryAttempt | None:
    """Return which attempt of which Argo step the pod is, when Argo retries that step."""
    workflow = pod.labels.get(ARGO_WORKFLOW_LABEL)
    match = _RETRY_ATTEMPT_RE.fullmatch(pod.annotations.get(ARGO_NODE_NAME_ANNOTATION, ""))
    if workflow is None or match is None:
        return None
    attempt = min(int(match["attempt"]), MAX_COUNTED_ATTEMPT)
    return RetryAttempt((pod.namespace, workflow, match["step"]), attempt)


def node_local(pod: PodFacts) -> bool:
    """Tell whether the pod belongs to its node: a DaemonSet's pod or a static (mirror) pod.

    Such pods (kube-proxy, CNI and CSI agents, log shippers) run on every node, spot included,
    by design: they are neither at risk nor a saving.
    """
    return "DaemonSet" in pod.owner_kinds or MIRROR_POD_ANNOTATION in pod.annotations


def run_hours(pod: PodFacts, now: datetime) -> float:
    """Return the hours the pod's containers ran: from start to finish, or to now."""
    if pod.started is None:
        return 0.0
    end = pod.finished or now
    return max(0.0, (end - pod.started).total_seconds() / 3600)


def age(since: datetime, now: datetime) -> str:
    """Format a duration the way kubectl's AGE column does: 45s, 12m, 3h, 6d."""
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size or (unit == "m" and seconds >= size):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
