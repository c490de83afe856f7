"""The placement report: where each Kubeflow pod runs, whether that is right, and what it saves.

Pure functions of (pod, node, config), shared by the charm's `report-placement` action, the tests
and the demo. The cluster is read elsewhere (`placement_reader`) into the small fact records
below, so this module imports neither ops nor lightkube. A `PlacementTally` aggregates pods as
they stream in, page by page, and keeps only the rows its output needs.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import yaml

from spot_config import SpotConfig, SpotProfile, Taint
from workloads import (
    ARGO_WORKFLOW_LABEL,
    DNS_LABEL_RE,
    NEVER_ELIGIBLE,
    SELECTOR_SYNTAX,
    LabelSelector,
    SelectorRequirement,
    WorkloadClass,
    classify_pod,
    parse_label_selector,
)

REPORT_FORMATS = ("table", "json", "yaml")
DEFAULT_SPOT_DISCOUNT = 0.7

EVICTION_TAINT_KEYS = (
    "remediator.kubernetes.azure.com/unschedulable",  # AKS node auto-drain on a Preempt event
    "node.kubernetes.io/unschedulable",  # any cordoned node
    "karpenter.sh/disrupted",  # Karpenter draining a reclaimed node
)
"""Node taints that say the node is being drained, usually ahead of a spot eviction."""

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
# `<step>(0:item)`, which this does not match.
_RETRY_ATTEMPT_RE = re.compile(r"^(?P<step>.+)\((?P<attempt>\d+)\)$")

TABLE_POD_ROWS = 20
"""At most this many at-risk and stuck pods are named in the table; the rest are counted."""
TABLE_NAMESPACE_ROWS = 25
POD_COLUMNS = ("name", "class", "phase", "verdict", "hours")
"""Columns of a pod row in the json/yaml report, whose pods are grouped by namespace and node."""
NODE_COLUMNS = ("name", "type", "pool", "cordoned", "eviction-taint")


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
    """Not allowed on spot, and on on-demand."""
    NODE_GONE = "node-gone"
    """Bound to a node that no longer exists, so where it ran cannot be judged."""


NEEDS_ACTION = (Verdict.AT_RISK, Verdict.STUCK)


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


@dataclass(frozen=True)
class Condition:
    """One entry of a pod's `status.conditions`."""

    type: str
    status: str
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class NodeFacts:
    """What the report needs to know about a node."""

    name: str
    labels: Mapping[str, str]
    taint_keys: tuple[str, ...] = ()
    unschedulable: bool = False


@dataclass(frozen=True)
class PodFacts:
    """What the report needs to know about a pod, copied field by field from the API object."""

    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    node_name: str = ""
    phase: str = "Pending"
    reason: str = ""
    message: str = ""
    conditions: tuple[Condition, ...] = ()
    created: datetime | None = None
    started: datetime | None = None
    """When the first container started (or the pod did, if no container has)."""
    finished: datetime | None = None
    """When the last container finished, once every container has."""
    tolerations: tuple[Toleration, ...] = ()
    node_selector: Mapping[str, str] = field(default_factory=dict)
    required_node_terms: tuple[tuple[SelectorRequirement, ...], ...] = ()
    """`requiredDuringSchedulingIgnoredDuringExecution` node selector terms (ORed)."""
    owner_kinds: tuple[str, ...] = ()
    """Kinds of the pod's `ownerReferences`, such as `DaemonSet` or `Job`."""

    @property
    def finished_phase(self) -> bool:
        """Tell whether the pod has ended (Succeeded or Failed)."""
        return self.phase in ("Succeeded", "Failed")


def node_type(node: NodeFacts | None, profile: SpotProfile) -> NodeType:
    """Tell spot from on-demand by the profile's labels or taint; None is a vanished node."""
    if node is None:
        return NodeType.GONE
    spot = profile.is_spot_node(node.labels, node.taint_keys)
    return NodeType.SPOT if spot else NodeType.ON_DEMAND


def node_pool(node: NodeFacts, profile: SpotProfile) -> str:
    """Return the node's pool by the profile's pool label, or "" when it has none."""
    return node.labels.get(profile.pool_label, "") if profile.pool_label else ""


def eviction_taint(node: NodeFacts) -> str:
    """Return the first taint that marks the node as being drained, or ""."""
    return next((key for key in EVICTION_TAINT_KEYS if key in node.taint_keys), "")


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
    # Terms are ORed: the pod requires spot only if every term does.
    return all(any(_only_spot(req, profile) for req in term) for term in pod.required_node_terms)


def _only_spot(requirement: SelectorRequirement, profile: SpotProfile) -> bool:
    return requirement.operator == "In" and any(
        requirement.key == label.key and set(requirement.values) == {label.value}
        for label in profile.spot_labels()
    )


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
    match = _RETRY_ATTEMPT_RE.match(pod.annotations.get(ARGO_NODE_NAME_ANNOTATION, ""))
    if workflow is None or match is None:
        return None
    return RetryAttempt((pod.namespace, workflow, match["step"]), int(match["attempt"]))


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
    return Verdict.MISSED if allowed else Verdict.OK


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


def attention_reason(
    workload: WorkloadClass, node: NodeFacts | None, pod: PodFacts, config: SpotConfig
) -> str:
    """Say why an at-risk or stuck pod needs action, in words an operator can act on."""
    if node is not None and pod.node_name:
        why = NEVER_ELIGIBLE.get(workload, f"{workload} is not in spot-workloads")
        return f"on spot node {node.name}: {why}"
    taint = config.profile.taint
    if taint is not None and not tolerates_spot(pod, config.profile):
        return f"requires spot nodes but does not tolerate {taint}"
    return f"no spot node fits: {unschedulable_message(pod) or 'unschedulable'}"


# --- The action's parameters ------------------------------------------------------------------


@dataclass(frozen=True)
class ReportRequest:
    """Params of the `report-placement` action; invalid values raise ValueError, listing all."""

    namespace: str = ""
    selector: str = ""
    format: str = "table"
    include_finished: bool = False
    spot_discount: float = DEFAULT_SPOT_DISCOUNT

    def __post_init__(self) -> None:
        """Check every param before any API call, so a bad one never costs a request."""
        problems: list[str] = []
        if self.namespace and (len(self.namespace) > 63 or not DNS_LABEL_RE.match(self.namespace)):
            problems.append(
                f"namespace={self.namespace!r} is invalid: a DNS-1123 label (lower-case letters,"
                " digits and '-', at most 63 characters), or empty for all namespaces"
            )
        try:
            parse_label_selector(self.selector)
        except ValueError as error:
            problems.append(
                f"selector={self.selector!r} is invalid ({error}): accepted is {SELECTOR_SYNTAX}"
            )
        if self.format not in REPORT_FORMATS:
            problems.append(
                f"format={self.format!r} is invalid: one of {', '.join(REPORT_FORMATS)}"
            )
        if not _is_fraction(self.spot_discount):
            problems.append(
                f"spot-discount={self.spot_discount!r} is invalid: a number from 0 to 1"
            )
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def label_selector(self) -> LabelSelector:
        """Return the parsed `selector`."""
        return parse_label_selector(self.selector)

    @property
    def scope(self) -> str:
        """Describe which pods the report covers."""
        where = f"namespace {self.namespace}" if self.namespace else "all namespaces"
        selected = f", pods matching {self.selector}" if self.selector else ""
        finished = "" if self.include_finished else ", running and pending pods"
        return f"{where}{selected}{finished}"


def _is_fraction(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False  # Juju passes numbers as int or float; a bool is an int to Python.
    return math.isfinite(value) and 0 <= value <= 1


# --- Aggregation -------------------------------------------------------------------------------


@dataclass
class Counts:
    """Verdicts, evictions and pod-hours of one class or one namespace."""

    verdicts: Counter[Verdict] = field(default_factory=Counter)
    evictions: int = 0
    spot_hours: float = 0.0
    missed_hours: float = 0.0

    @property
    def pods(self) -> int:
        """Return how many pods were judged."""
        return sum(self.verdicts.values())

    @property
    def eligible_on_spot_percent(self) -> float | None:
        """Return the share of spot-eligible pods that run on spot, or None if there are none."""
        on_spot, missed = self.verdicts[Verdict.ON_SPOT], self.verdicts[Verdict.MISSED]
        return None if on_spot + missed == 0 else 100 * on_spot / (on_spot + missed)

    def to_dict(self, discount: float) -> dict[str, object]:
        """Return the counts as the json/yaml report shows them."""
        return {
            "pods": self.pods,
            **{str(v): self.verdicts[v] for v in Verdict},
            "evictions": self.evictions,
            "spot-pod-hours": round(self.spot_hours, 2),
            "saved-pod-hours": round(self.spot_hours * discount, 2),
            "missed-pod-hours": round(self.missed_hours, 2),
        }


@dataclass(frozen=True)
class PodRow:
    """One judged pod, as short as a row can be: 10,000 of them go into one action result."""

    namespace: str
    name: str
    workload: WorkloadClass
    node: str
    phase: str
    verdict: Verdict
    hours: float
    reason: str = ""
    """Why it needs action; set only for at-risk and stuck pods."""

    def cells(self) -> list[object]:
        """Return the row in POD_COLUMNS order."""
        return [self.name, str(self.workload), self.phase, str(self.verdict), round(self.hours, 2)]


@dataclass
class _StepAttempts:
    """The attempts of one retried Argo step seen so far."""

    namespace: str
    workload: WorkloadClass
    highest: int = 0
    disrupted: int = 0


class PlacementTally:
    """Aggregates nodes, then pods, as pages of them arrive from the API server.

    Memory is bounded by the rows kept: every pod's row when `keep_rows` (json/yaml), otherwise
    only the first TABLE_POD_ROWS pods that need action, plus counters per class and namespace.
    """

    def __init__(
        self,
        config: SpotConfig,
        request: ReportRequest,
        *,
        now: datetime,
        control_plane_namespaces: Iterable[str],
        keep_rows: bool,
    ):
        self.config = config
        self.request = request
        self.now = now
        self.control_plane_namespaces = frozenset(control_plane_namespaces)
        self.keep_rows = keep_rows
        self.nodes: dict[str, NodeFacts] = {}
        self.node_types: dict[str, NodeType] = {}
        self.by_class: defaultdict[WorkloadClass, Counts] = defaultdict(Counts)
        self.by_namespace: defaultdict[str, Counts] = defaultdict(Counts)
        self.rows: list[PodRow] = []
        self.needs_action: list[PodRow] = []
        self.needs_action_total = 0
        self.signals: Counter[str] = Counter()
        self.retries = 0
        self._steps: dict[tuple[str, str, str], _StepAttempts] = {}

    def add_node(self, node: NodeFacts) -> None:
        """Record a node and its type; all nodes are added before the first pod."""
        self.nodes[node.name] = node
        self.node_types[node.name] = node_type(node, self.config.profile)

    def add_pod(self, pod: PodFacts) -> None:
        """Judge a pod and count it; finished pods count only toward evictions unless asked."""
        workload = classify_pod(pod.labels, pod.namespace, self.control_plane_namespaces)
        self._count_eviction(pod, workload)
        if pod.finished_phase and not self.request.include_finished:
            return
        node = self.nodes.get(pod.node_name) if pod.node_name else None
        kind = self.node_types.get(pod.node_name, NodeType.GONE) if pod.node_name else None
        judged = verdict(workload, kind, pod, self.config)
        hours = run_hours(pod, self.now)
        for counts in (self.by_class[workload], self.by_namespace[pod.namespace]):
            counts.verdicts[judged] += 1
            if kind is NodeType.SPOT and not node_local(pod):
                counts.spot_hours += hours
            if judged is Verdict.MISSED:
                counts.missed_hours += hours
        reason = ""
        if judged in NEEDS_ACTION:
            reason = attention_reason(workload, node, pod, self.config)
            if pod.created is not None:
                reason = f"for {age(pod.created, self.now)}, {reason}"
            self.needs_action_total += 1
        row = PodRow(
            pod.namespace, pod.name, workload, pod.node_name, pod.phase, judged, hours, reason
        )
        if self.keep_rows:
            self.rows.append(row)
        if reason and len(self.needs_action) < TABLE_POD_ROWS:
            self.needs_action.append(row)

    def _count_eviction(self, pod: PodFacts, workload: WorkloadClass) -> None:
        signal = eviction_signal(pod)
        attempt = retry_attempt(pod)
        if attempt is not None:
            step = self._steps.setdefault(attempt.step, _StepAttempts(pod.namespace, workload))
            step.highest = max(step.highest, attempt.attempt)
            step.disrupted += signal is not None
        if signal is not None:
            self.signals[signal] += 1
            self.by_class[workload].evictions += 1
            self.by_namespace[pod.namespace].evictions += 1

    def finish(self) -> PlacementReport:
        """Settle the Argo retries and return the report."""
        from_retries = 0
        for step in self._steps.values():
            self.retries += step.highest
            # Attempt n means n earlier attempts failed; disrupted ones are counted already.
            unexplained = step.highest - step.disrupted
            if unexplained > 0 and self.config.retry.on == "evictions":
                # Only evictions are retried under retry-on=evictions: each retry was one.
                from_retries += unexplained
                self.by_class[step.workload].evictions += unexplained
                self.by_namespace[step.namespace].evictions += unexplained
        if from_retries:
            self.signals["ArgoRetry"] += from_retries
        return PlacementReport(self)


# --- Output ------------------------------------------------------------------------------------


class PlacementReport:
    """The finished report: action results, the table and the json/yaml document."""

    def __init__(self, tally: PlacementTally):
        self._tally = tally
        self.config = tally.config
        self.request = tally.request
        self.total = Counts()
        for counts in tally.by_class.values():
            self.total.verdicts.update(counts.verdicts)
            self.total.evictions += counts.evictions
            self.total.spot_hours += counts.spot_hours
            self.total.missed_hours += counts.missed_hours
        types = list(tally.node_types.values())
        self.spot_nodes = types.count(NodeType.SPOT)
        self.on_demand_nodes = types.count(NodeType.ON_DEMAND)

    @property
    def discount(self) -> float:
        """Return the spot discount the savings are estimated with."""
        return float(self.request.spot_discount)

    def results(self) -> dict[str, str | int | float]:
        """Return the action results, kebab-case keys as Juju shows them."""
        verdicts = self.total.verdicts
        percent = self.total.eligible_on_spot_percent
        results: dict[str, str | int | float] = {
            "summary": self.summary(),
            "pods-total": self.total.pods,
            "pods-on-spot": verdicts[Verdict.ON_SPOT] + verdicts[Verdict.AT_RISK],
            "eligible-on-spot-percent": "n/a" if percent is None else round(percent, 1),
            "missed": verdicts[Verdict.MISSED],
            "at-risk": verdicts[Verdict.AT_RISK],
            "stuck": verdicts[Verdict.STUCK],
            "evictions": self.total.evictions,
            "spot-nodes": self.spot_nodes,
            "on-demand-nodes": self.on_demand_nodes,
            "savings-pod-hours": round(self.total.spot_hours * self.discount, 2),
        }
        return results

    def summary(self) -> str:
        """Return the short table: one line per class, then the total."""
        header = (
            f"{'CLASS':13} {'PODS':>5} {'ON-SPOT':>8} {'%':>4} {'MISSED':>6} {'AT-RISK':>7}"
            f" {'STUCK':>5} {'PENDING':>7} {'EVICTIONS':>9}"
        )
        lines = [header]
        classes = sorted(self._tally.by_class.items(), key=lambda item: _class_order(item[0]))
        for workload, counts in [*classes, (None, self.total)]:
            if counts.pods == 0 and counts.evictions == 0:
                continue
            percent = counts.eligible_on_spot_percent
            v = counts.verdicts
            lines.append(
                f"{workload or 'total':13} {counts.pods:>5} {v[Verdict.ON_SPOT]:>8}"
                f" {'-' if percent is None else f'{percent:.0f}':>4} {v[Verdict.MISSED]:>6}"
                f" {v[Verdict.AT_RISK]:>7} {v[Verdict.STUCK]:>5}"
                f" {v[Verdict.PENDING] + v[Verdict.NODE_GONE]:>7} {counts.evictions:>9}"
            )
        return "\n".join(lines)

    def table(self) -> str:
        """Return the full table a person reads: classes, pods needing action, namespaces."""
        tally = self._tally
        nodes = (
            f"{len(tally.nodes)} nodes ({self.spot_nodes} spot, {self.on_demand_nodes} on-demand)"
        )
        parts = [
            f"Placement of {self.total.pods} pods ({self.request.scope}) on {nodes};"
            f" profile {self.config.profile.name}; {self.config.summary()}",
            "",
            self.summary(),
            "",
        ]
        if tally.needs_action_total:
            parts.append("NEEDS ACTION")
            for row in tally.needs_action:
                parts.append(
                    f"{row.verdict:8} {row.namespace}/{row.name} ({row.workload}) {row.reason}"
                )
            more = tally.needs_action_total - len(tally.needs_action)
            if more:
                parts.append(f"… {more} more at-risk or stuck pods: format=json lists every pod")
            parts.append("")
        parts.extend(self._namespace_lines())
        parts.append("")
        parts.append(self._drain_line())
        parts.append(self._eviction_line())
        parts.append(self._savings_line())
        return "\n".join(part for part in parts if part is not None)

    def _namespace_lines(self) -> list[str]:
        namespaces = sorted(self._tally.by_namespace.items(), key=lambda item: -item[1].pods)
        lines = [
            f"{'NAMESPACE':24} {'PODS':>5} {'ON-SPOT':>8} {'MISSED':>6} {'AT-RISK':>7}"
            f" {'STUCK':>5} {'EVICTIONS':>9}"
        ]
        for namespace, counts in namespaces[:TABLE_NAMESPACE_ROWS]:
            v = counts.verdicts
            lines.append(
                f"{namespace:24} {counts.pods:>5} {v[Verdict.ON_SPOT]:>8} {v[Verdict.MISSED]:>6}"
                f" {v[Verdict.AT_RISK]:>7} {v[Verdict.STUCK]:>5} {counts.evictions:>9}"
            )
        if len(namespaces) > TABLE_NAMESPACE_ROWS:
            lines.append(f"… {len(namespaces) - TABLE_NAMESPACE_ROWS} more namespaces")
        return lines

    def _drain_line(self) -> str:
        draining = [
            f"{node.name} ({'cordoned' if node.unschedulable else eviction_taint(node)})"
            for node in self._tally.nodes.values()
            if node.unschedulable or eviction_taint(node)
        ]
        if not draining:
            return "Nodes: none cordoned or draining"
        shown = ", ".join(draining[:10])
        more = f" and {len(draining) - 10} more" if len(draining) > 10 else ""
        return f"Nodes cordoned or draining: {shown}{more}"

    def _eviction_line(self) -> str:
        signals = ", ".join(
            f"{name} {count}" for name, count in sorted(self._tally.signals.items())
        )
        line = f"Evictions: {self.total.evictions}" + (f" ({signals})" if signals else "")
        if self._tally.retries and self.config.retry.on != "evictions":
            line += (
                f"; Argo retried {self._tally.retries} attempts (retry-on={self.config.retry.on})"
            )
        return line

    def _savings_line(self) -> str:
        spot, missed = self.total.spot_hours, self.total.missed_hours
        return (
            f"Savings (estimate, spot-discount {self.discount:g}): {spot:.1f} spot pod-hours"
            f" replaced on-demand, saving {spot * self.discount:.1f} on-demand pod-hours;"
            f" {missed:.1f} eligible pod-hours ran on-demand"
            f" (another {missed * self.discount:.1f} possible)"
        )

    def document(self) -> dict[str, object]:
        """Return the json/yaml report: every count, every node and every pod (as short rows)."""
        tally = self._tally
        discount = self.discount
        return {
            "scope": {
                "namespace": self.request.namespace,
                "selector": self.request.selector,
                "include-finished": self.request.include_finished,
            },
            "config": self.config.summary(),
            "profile": self.config.profile.name,
            "generated-at": tally.now.isoformat(),
            "totals": self.total.to_dict(discount),
            "classes": {
                str(w): c.to_dict(discount)
                for w, c in sorted(tally.by_class.items(), key=lambda item: _class_order(item[0]))
            },
            "namespaces": {
                ns: c.to_dict(discount) for ns, c in sorted(tally.by_namespace.items())
            },
            "evictions": {
                "total": self.total.evictions,
                "signals": dict(sorted(tally.signals.items())),
            },
            "savings": {
                "estimate": True,
                "spot-discount": discount,
                "spot-pod-hours": round(self.total.spot_hours, 2),
                "saved-pod-hours": round(self.total.spot_hours * discount, 2),
                "missed-pod-hours": round(self.total.missed_hours, 2),
            },
            "node-columns": list(NODE_COLUMNS),
            "nodes": [
                [
                    node.name,
                    str(tally.node_types[node.name]),
                    node_pool(node, self.config.profile),
                    node.unschedulable,
                    eviction_taint(node),
                ]
                for node in tally.nodes.values()
            ],
            "needs-action": [
                {
                    "pod": f"{row.namespace}/{row.name}",
                    "verdict": str(row.verdict),
                    "reason": row.reason,
                }
                for row in tally.needs_action
            ],
            "pod-columns": list(POD_COLUMNS),
            "pods": self._pods_by_namespace_and_node(),
        }

    def _pods_by_namespace_and_node(self) -> dict[str, dict[str, list[list[object]]]]:
        # Grouping keeps namespace and node names out of the rows: 10,000 rows must fit in
        # Juju's action results. Pods not bound to a node are under "".
        grouped: dict[str, dict[str, list[list[object]]]] = {}
        for row in self._tally.rows:
            grouped.setdefault(row.namespace, {}).setdefault(row.node, []).append(row.cells())
        return grouped

    def report(self) -> str:
        """Return the `report` result in the requested format."""
        if self.request.format == "table":
            return self.table()
        return dump_document(self.document(), self.request.format)


def dump_document(document: Mapping[str, object], fmt: str) -> str:
    """Serialise the report compactly: rows of nodes and pods stay on one line each."""
    if fmt == "json":
        return json.dumps(document, separators=(",", ":"))
    return yaml.dump(dict(document), Dumper=_RowDumper, sort_keys=False, width=1 << 16)


class _RowDumper(yaml.SafeDumper):
    """Dumps lists of scalars (node and pod rows) in flow style, one row per line."""


def _represent_list(dumper: yaml.SafeDumper, value: list[object]) -> yaml.SequenceNode:
    flow = all(not isinstance(item, dict | list) for item in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_RowDumper.add_representer(list, _represent_list)


def _class_order(workload: WorkloadClass) -> int:
    return list(WorkloadClass).index(workload)


# --- Fitting results into Juju ----------------------------------------------------------------

RESULT_CHUNK_CHARS = 100_000
"""Juju's `action-set` takes each result as one command-line argument, which Linux caps at
128 KiB (MAX_ARG_STRLEN); a longer report is split into `report`, `report-2`, ..."""
RESULT_TOTAL_CHARS = 1_500_000
"""All arguments and the environment share ARG_MAX (2 MiB with the default 8 MiB stack limit):
leave a quarter of it for the other results, the environment and the key names."""


class ReportTooLargeError(ValueError):
    """The report does not fit in Juju's action results."""


def split_report(report: str) -> dict[str, str | int]:
    """Split a report across `report`, `report-2`, ... results, each under the argument limit.

    Concatenating them in order restores the report; `report-parts` says how many there are.
    """
    if len(report) > RESULT_TOTAL_CHARS:
        raise ReportTooLargeError(
            f"the report is {len(report):,} characters, more than the {RESULT_TOTAL_CHARS:,}"
            " that fit in Juju action results: narrow it with namespace= or selector=,"
            " or use format=table"
        )
    chunks = [
        report[start : start + RESULT_CHUNK_CHARS]
        for start in range(0, max(len(report), 1), RESULT_CHUNK_CHARS)
    ]
    results: dict[str, str | int] = {"report-parts": len(chunks)}
    for index, chunk in enumerate(chunks, start=1):
        results["report" if index == 1 else f"report-{index}"] = chunk
    return results


def join_report(results: Mapping[str, object]) -> str:
    """Reassemble a report split by `split_report` (what a machine reading the results does)."""
    parts = int(str(results["report-parts"]))
    keys: Sequence[str] = ["report", *(f"report-{index}" for index in range(2, parts + 1))]
    return "".join(str(results[key]) for key in keys)
