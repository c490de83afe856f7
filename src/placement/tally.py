"""Aggregate judged pods into counts per class and namespace, and settle them into a summary.

A `PlacementTally` takes nodes, then pods, as pages of them arrive from the API server, or as a
watch delivers them: adding a pod that is already counted replaces it (MODIFIED), and a removed
pod (DELETED) stops counting. It keeps one small record per pod, what that pod adds to the
counts, and `finish()` sums the records into a frozen `PlacementSummary` without changing the
tally, so it can be called once or after every event. Pure: no ops, no lightkube.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from conflicts import Conflict, unique_conflicts
from fallback import fell_back
from placement.argo_records import ArgoSettlement, SeenPod, settle
from placement.facts import (
    NodeFacts,
    PodFacts,
    Record,
    RetryAttempt,
    age,
    eviction_notice,
    eviction_signal,
    node_local,
    retry_attempt,
    run_hours,
)
from placement.fallbacks import FallbackSums, StepKey
from placement.request import ReportRequest
from placement.rules import NEEDS_ACTION, NodeType, Verdict, attention_reason, node_type, verdict
from placement.summary import Counts, PlacementSummary, PodRow
from placement.workflows import WorkflowFacts
from spot_config import SpotConfig
from workloads import ARGO_WORKFLOW_LABEL, PodClassifier, WorkloadClass

TABLE_POD_ROWS = 20
"""At most this many at-risk and stuck pods are named in the table; the rest are counted."""


@dataclass
class _Sums:
    """Counts being summed; frozen into `Counts` when the summary is made."""

    verdicts: Counter[Verdict] = field(default_factory=Counter)
    evictions: int = 0
    spot_hours: float = 0.0
    missed_hours: float = 0.0

    def add(self, other: _Sums) -> None:
        self.verdicts.update(other.verdicts)
        self.evictions += other.evictions
        self.spot_hours += other.spot_hours
        self.missed_hours += other.missed_hours

    def freeze(self) -> Counts:
        verdicts = MappingProxyType(Counter(self.verdicts))
        return Counts(verdicts, self.evictions, self.spot_hours, self.missed_hours)


class _Judged(Record, frozen=True):
    """What one pod adds to the counts, kept so that a later event can take it back."""

    namespace: str
    workload: WorkloadClass
    signal: str | None
    attempt: RetryAttempt | None
    row: PodRow | None
    """None for a finished pod the request leaves out: it counts toward evictions only."""
    spot_hours: bool = False
    """Its hours were spent on a spot node (a pod that belongs to its node's never are)."""
    fallback_step: StepKey | None = None
    """The step of a pod spot-fallback-after released from spot, run on an on-demand node."""


@dataclass
class _StepAttempts:
    """The attempts of one retried Argo step seen so far."""

    namespace: str
    workload: WorkloadClass
    highest: int = 0
    disrupted: int = 0


class PlacementTally:
    """Counts nodes and pods for one report request.

    Args:
        config: the charm config the verdicts judge against.
        request: the report's params (which finished pods count, the format).
        now: the moment run hours and ages are measured to.
        control_plane_namespaces: namespaces whose unrecognised pods are control plane.
        keep_rows: keep every pod's row; by default only when the format lists every pod.

    """

    def __init__(
        self,
        config: SpotConfig,
        request: ReportRequest,
        *,
        now: datetime,
        control_plane_namespaces: Iterable[str],
        keep_rows: bool | None = None,
    ):
        self.config = config
        self.request = request
        self.now = now
        self.control_plane_namespaces = frozenset(control_plane_namespaces)
        self.keep_rows = request.keeps_rows if keep_rows is None else keep_rows
        self._nodes: dict[str, NodeFacts] = {}
        self._node_types: dict[str, NodeType] = {}
        self._evicting: dict[str, str] = {}
        self._pods: dict[tuple[str, str], _Judged] = {}
        self._conflicts: list[Conflict] = []
        self._workflows: dict[tuple[str, str], WorkflowFacts] = {}
        self._argo_pods: dict[tuple[str, str], str] = {}
        """The Workflow of each Argo pod counted, by (namespace, pod)."""
        self._notes: list[str] = []
        self._classify = PodClassifier(self.control_plane_namespaces)

    def add_node(self, node: NodeFacts) -> None:
        """Record a node and its type; pods are judged against the nodes known when added."""
        self._nodes[node.name] = node
        self._node_types[node.name] = node_type(node, self.config.profile)
        self._evicting.pop(node.name, None)
        if notice := eviction_notice(node):
            self._evicting[node.name] = notice

    def remove_node(self, name: str) -> None:
        """Forget a node (a watch's DELETED); pods added after this find it gone."""
        self._nodes.pop(name, None)
        self._node_types.pop(name, None)
        self._evicting.pop(name, None)

    def add_conflict(self, conflict: Conflict) -> None:
        """Record a workload whose pods the webhook rejects because of the charm's toleration."""
        self._conflicts.append(conflict)

    def add_workflow(self, workflow: WorkflowFacts) -> None:
        """Record what Argo recorded in a Workflow, in place of what it recorded before."""
        self._workflows[workflow.namespace, workflow.name] = workflow

    def remove_workflow(self, namespace: str, name: str) -> None:
        """Forget a Workflow (a watch's DELETED); a Workflow never added is ignored."""
        self._workflows.pop((namespace, name), None)

    def add_note(self, note: str) -> None:
        """Record something the report could not read, to say so."""
        self._notes.append(note)

    def add_pod(self, pod: PodFacts) -> None:
        """Judge a pod and count it, in place of what it counted before if it is counted already.

        Finished pods count only toward evictions unless the request includes them.
        """
        self._pods[pod.namespace, pod.name] = self._judge(pod)
        if (workflow := pod.labels.get(ARGO_WORKFLOW_LABEL)) is not None:
            self._argo_pods[pod.namespace, pod.name] = workflow

    def remove_pod(self, namespace: str, name: str) -> None:
        """Stop counting a pod (a watch's DELETED); a pod never added is ignored."""
        self._pods.pop((namespace, name), None)
        self._argo_pods.pop((namespace, name), None)

    def _judge(self, pod: PodFacts) -> _Judged:
        workload = self._classify(pod.labels, pod.namespace)
        signal, attempt = eviction_signal(pod), retry_attempt(pod)
        if pod.finished_phase and not self.request.include_finished:
            return _Judged(pod.namespace, workload, signal, attempt, row=None)
        node = self._nodes.get(pod.node_name) if pod.node_name else None
        kind = self._node_types.get(pod.node_name, NodeType.GONE) if pod.node_name else None
        judged = verdict(workload, kind, pod, self.config)
        reason = ""
        if judged in NEEDS_ACTION:
            reason = attention_reason(workload, node, pod, self.config)
            if pod.created is not None:
                reason = f"for {age(pod.created, self.now)}, {reason}"
        row = PodRow(
            pod.namespace,
            pod.name,
            workload,
            pod.node_name,
            pod.phase,
            judged,
            run_hours(pod, self.now),
            reason,
        )
        on_spot = kind is NodeType.SPOT and not node_local(pod)
        fallback_step = None
        if kind is NodeType.ON_DEMAND and fell_back(pod.labels):
            fallback_step = attempt.step if attempt else (pod.namespace, pod.name)
        return _Judged(
            pod.namespace, workload, signal, attempt, row, on_spot, fallback_step=fallback_step
        )

    def finish(self) -> PlacementSummary:
        """Sum the pods counted so far, settle Argo's retries, and return the summary.

        The tally is left as it was: calling this again gives the same summary.
        """
        return _Summing(self).summary()


class _Summing:
    """One pass over a tally's pods, in the order they were first added."""

    def __init__(self, tally: PlacementTally):
        self.tally = tally
        self.by_class: dict[WorkloadClass, _Sums] = {}
        self.by_namespace: dict[str, _Sums] = {}
        self.signals: Counter[str] = Counter()
        self.steps: dict[tuple[str, str, str], _StepAttempts] = {}
        self.rows: list[PodRow] = []
        self.needs_action: list[PodRow] = []
        self.needs_action_total = 0
        self.doomed: dict[str, list[PodRow]] = {}
        self.fallbacks = FallbackSums()

    def _sums(self, judged: _Judged) -> tuple[_Sums, _Sums]:
        by_class = self.by_class.get(judged.workload)
        if by_class is None:
            by_class = self.by_class[judged.workload] = _Sums()
        by_namespace = self.by_namespace.get(judged.namespace)
        if by_namespace is None:
            by_namespace = self.by_namespace[judged.namespace] = _Sums()
        return by_class, by_namespace

    def _count(self, judged: _Judged) -> None:
        if judged.attempt is not None:
            step = self.steps.setdefault(
                judged.attempt.step, _StepAttempts(judged.namespace, judged.workload)
            )
            step.highest = max(step.highest, judged.attempt.attempt)
            step.disrupted += judged.signal is not None
        if judged.signal is not None:
            self.signals[judged.signal] += 1
            for sums in self._sums(judged):
                sums.evictions += 1
        row = judged.row
        if row is None:
            return
        for sums in self._sums(judged):
            sums.verdicts[row.verdict] += 1
            if judged.spot_hours:
                sums.spot_hours += row.hours
            if row.verdict is Verdict.MISSED:
                sums.missed_hours += row.hours
        if judged.fallback_step is not None:
            self.fallbacks.add(judged.fallback_step, judged.namespace, judged.workload, row.hours)
        if self.tally.keep_rows:
            self.rows.append(row)
        if row.node in self.tally._evicting:
            self.doomed.setdefault(row.node, []).append(row)
        if row.verdict in NEEDS_ACTION:
            self.needs_action_total += 1
            if len(self.needs_action) < TABLE_POD_ROWS:
                self.needs_action.append(row)

    def _settle_argo(self) -> tuple[int, ArgoSettlement]:
        """Count the evictions Argo recorded that no pod shows; return Argo's retries.

        Without Workflows read, the retries are what the pods' attempt numbers tell.
        """
        tally = self.tally
        pods = {
            key: SeenPod(judged.workload, judged.signal is not None)
            for key, judged in tally._pods.items()
        }
        selected = None
        if tally.request.selector:
            selected = frozenset((ns, wf) for (ns, _), wf in tally._argo_pods.items())
        settled = settle(tally._workflows.values(), pods, selected)
        for (namespace, workload, signal), count in settled.evictions.items():
            self.signals[signal] += count
            self.by_class.setdefault(workload, _Sums()).evictions += count
            self.by_namespace.setdefault(namespace, _Sums()).evictions += count
        if settled.workflows:
            return settled.retries, settled
        return sum(step.highest for step in self.steps.values()), settled

    def summary(self) -> PlacementSummary:
        for judged in self.tally._pods.values():
            self._count(judged)
        retries, argo = self._settle_argo()
        total = _Sums()
        for sums in self.by_class.values():
            total.add(sums)
        tally = self.tally
        return PlacementSummary(
            config=tally.config,
            request=tally.request,
            now=tally.now,
            nodes=tuple(tally._nodes.values()),
            node_types=MappingProxyType(dict(tally._node_types)),
            by_class=MappingProxyType({w: s.freeze() for w, s in self.by_class.items()}),
            by_namespace=MappingProxyType({n: s.freeze() for n, s in self.by_namespace.items()}),
            total=total.freeze(),
            signals=MappingProxyType(dict(self.signals)),
            retries=retries,
            needs_action=tuple(self.needs_action),
            needs_action_total=self.needs_action_total,
            rows=tuple(self.rows),
            evicting=MappingProxyType(dict(tally._evicting)),
            doomed=MappingProxyType({node: tuple(rows) for node, rows in self.doomed.items()}),
            conflicts=tuple(unique_conflicts(tally._conflicts)),
            application_retries=argo.application_retries,
            failed_steps=tuple(argo.failed_steps),
            notes=tuple(dict.fromkeys(tally._notes)),
            fallbacks=self.fallbacks.freeze(),
        )
