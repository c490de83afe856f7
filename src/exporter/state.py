"""The placement of the watched cluster, kept current one watch event at a time.

`WatchedPlacement` holds the facts of every node and pod the watches delivered and a
`PlacementTally` judging them, the one `report-placement` uses, so the verdicts are the report's
by construction. The tally judges a pod against the nodes it knows when the pod is added, so a
node that comes, changes or goes has its pods judged again, and a new config judges every pod
again. It also keeps what a one-off report cannot: counters that only grow (evictions seen,
pod-hours run while watched; the metrics contract in the README says what each counts).
`snapshot()` turns all of it into plain counts for the metric model. Pure: no ops, no lightkube.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from exporter.config import ExporterConfig
from exporter.metrics import PlacementSamples, node_state
from placement.facts import (
    NodeFacts,
    PodFacts,
    eviction_signal,
    node_local,
    retry_attempt,
    run_hours,
)
from placement.request import ReportRequest
from placement.rules import NodeType, node_pool, node_type
from placement.tally import PlacementTally
from spot_config import RetryOn
from workloads import classify_pod

PodKey = tuple[str, str]
"""(namespace, name)"""
_Labels = tuple[str, str, str]
_Counts = tuple[Counter[_Labels], Counter[_Labels], Counter[_Labels]]
"""Pods by verdict, evicted pods, nodes: each by its metric's labels."""
ARGO_RETRY_SIGNAL = "ArgoRetry"
"""The signal the report gives evictions that only Argo's retries show (placement.tally's)."""
REPORT_REQUEST = ReportRequest()
"""The report the gauges equal: all namespaces, running and pending pods (the default)."""


@dataclass
class _Step:
    """One retried Argo step: what its attempts showed since the exporter first saw it."""

    namespace: str
    workload: str
    highest: int = 0
    disrupted: set[int] = field(default_factory=set)
    """Attempts seen with an eviction signal, even after their pods are gone."""
    counted: int = 0
    """Evictions its retries explain that the counter has already counted."""


class WatchedPlacement:
    """Nodes and pods as the watches last delivered them, with the tally that judges them."""

    def __init__(self, config: ExporterConfig, now: datetime):
        self.config = config
        self._nodes: dict[str, NodeFacts] = {}
        self._pods: dict[PodKey, PodFacts] = {}
        self._on_node: dict[str, set[PodKey]] = {}
        self._hours_seen: dict[PodKey, float] = {}
        self._workloads: dict[PodKey, str] = {}
        self._signals: dict[PodKey, str] = {}
        """The eviction signal of each pod that shows one."""
        self._evicted: set[PodKey] = set()
        """Pods the evictions counter has counted (each pod once)."""
        self._steps: dict[tuple[str, str, str], _Step] = {}
        self.evictions_total: Counter[tuple[str, str, str]] = Counter()
        self.pod_hours_total: dict[tuple[str, str], float] = {}
        self._node_kinds: dict[str, NodeType] = {}
        self._counts: _Counts | None = None
        """The gauges' counts, until the next change (only the pod-hours move with time)."""
        self._tally = self._new_tally(now)

    def _new_tally(self, now: datetime) -> PlacementTally:
        return PlacementTally(
            self.config.spot,
            REPORT_REQUEST,
            now=now,
            control_plane_namespaces=self.config.control_plane_namespaces,
            keep_rows=True,
        )

    @property
    def pod_count(self) -> int:
        """Return how many pods are held (finished ones included)."""
        return len(self._pods)

    @property
    def node_count(self) -> int:
        """Return how many nodes are held."""
        return len(self._nodes)

    # --- nodes -------------------------------------------------------------------------------

    def put_node(self, node: NodeFacts, now: datetime) -> None:
        """Add or replace a node (ADDED, MODIFIED); its pods are judged again."""
        self._settle_node(node.name, now)
        self._counts = None
        self._nodes[node.name] = node
        self._node_kinds[node.name] = node_type(node, self.config.spot.profile)
        self._tally.add_node(node)
        self._rejudge(node.name)

    def remove_node(self, name: str, now: datetime) -> None:
        """Forget a node (DELETED); its pods become node-gone."""
        self._settle_node(name, now)
        self._counts = None
        self._nodes.pop(name, None)
        self._node_kinds.pop(name, None)
        self._tally.remove_node(name)
        self._rejudge(name)

    def replace_nodes(self, nodes: Iterable[NodeFacts], now: datetime) -> None:
        """Make the nodes exactly these (a LIST, the first or after `410 Gone`)."""
        listed = {node.name: node for node in nodes}
        for name in set(self._nodes) - set(listed):
            self.remove_node(name, now)
        for node in listed.values():
            if self._nodes.get(node.name) != node:
                self.put_node(node, now)

    def _rejudge(self, node_name: str) -> None:
        for key in self._on_node.get(node_name, ()):
            self._tally.add_pod(self._pods[key])

    def _settle_node(self, node_name: str, now: datetime) -> None:
        # Hours run so far were run on the node as it was: credit them before it changes.
        for key in self._on_node.get(node_name, ()):
            self._settle(key, now)

    # --- pods --------------------------------------------------------------------------------

    def put_pod(self, pod: PodFacts, now: datetime) -> None:
        """Add or replace a pod (ADDED, MODIFIED)."""
        key = (pod.namespace, pod.name)
        self._counts = None
        old = self._pods.get(key)
        if old is None:
            self._hours_seen[key] = run_hours(pod, now)  # hours before it was seen: not ours
        elif old.node_name != pod.node_name:
            self._unbind(key, old.node_name)
        self._pods[key] = pod
        self._workloads[key] = self._classify(pod)
        if old is not None:
            # By the new facts: a pod that finished has its finish time in them.
            self._settle(key, now)
        if pod.node_name:
            self._on_node.setdefault(pod.node_name, set()).add(key)
        self._tally.add_pod(pod)
        self._count_eviction(key, pod)

    def remove_pod(self, namespace: str, name: str, now: datetime) -> None:
        """Forget a pod (DELETED); what the counters counted of it stays counted."""
        key = (namespace, name)
        pod = self._pods.get(key)
        if pod is None:
            return
        self._settle(key, now)
        self._counts = None
        self._unbind(key, pod.node_name)
        del self._pods[key]
        self._hours_seen.pop(key, None)
        self._workloads.pop(key, None)
        self._signals.pop(key, None)
        self._evicted.discard(key)
        self._tally.remove_pod(namespace, name)

    def replace_pods(self, pods: Iterable[PodFacts], now: datetime) -> None:
        """Make the pods exactly these (a LIST, the first or after `410 Gone`)."""
        listed = {(pod.namespace, pod.name): pod for pod in pods}
        for namespace, name in set(self._pods) - set(listed):
            self.remove_pod(namespace, name, now)
        for key, pod in listed.items():
            if self._pods.get(key) != pod:
                self.put_pod(pod, now)

    def _unbind(self, key: PodKey, node_name: str) -> None:
        keys = self._on_node.get(node_name)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._on_node[node_name]

    def _classify(self, pod: PodFacts) -> str:
        return str(classify_pod(pod.labels, pod.namespace, self.config.control_plane_namespaces))

    def _count_eviction(self, key: PodKey, pod: PodFacts) -> None:
        signal = eviction_signal(pod)
        if signal is None:
            self._signals.pop(key, None)
            return
        self._signals[key] = signal
        if key not in self._evicted:
            self._evicted.add(key)
            self.evictions_total[pod.namespace, self._workloads[key], signal] += 1

    def _settle(self, key: PodKey, now: datetime) -> None:
        """Credit the hours the pod ran since last settled to its node's capacity."""
        pod = self._pods[key]
        hours = run_hours(pod, now)
        delta = hours - self._hours_seen.get(key, hours)
        self._hours_seen[key] = max(hours, self._hours_seen.get(key, hours))
        capacity = self._capacity(pod)
        if delta > 0 and capacity is not None:
            bucket = (self._workloads[key], capacity)
            self.pod_hours_total[bucket] = self.pod_hours_total.get(bucket, 0.0) + delta

    def _capacity(self, pod: PodFacts) -> str | None:
        kind = self._node_kinds.get(pod.node_name) if pod.node_name else None
        if kind is None:
            return None
        if kind is NodeType.SPOT and node_local(pod):
            return None  # the report counts no spot pod-hours for a node's own pods
        return str(kind)

    # --- config and snapshot -----------------------------------------------------------------

    def set_config(self, config: ExporterConfig, now: datetime) -> None:
        """Judge everything again under a new config; the counters keep what they counted."""
        for key in self._pods:
            self._settle(key, now)
        self.config = config
        self._counts = None
        self._node_kinds = {
            n.name: node_type(n, config.spot.profile) for n in self._nodes.values()
        }
        self._workloads = {key: self._classify(pod) for key, pod in self._pods.items()}
        self._tally = self._new_tally(now)
        for node in self._nodes.values():
            self._tally.add_node(node)
        for pod in self._pods.values():
            self._tally.add_pod(pod)

    def snapshot(self, now: datetime) -> PlacementSamples:
        """Settle the counters to `now` and return every count the metrics show."""
        for key in self._pods:
            self._settle(key, now)
        if self._counts is None:
            self._counts = self._count(now)
        pods, evicted, nodes = self._counts
        return PlacementSamples(
            config=self.config,
            pods=pods,
            evicted_pods=evicted,
            evictions_total=Counter(self.evictions_total),
            pod_hours_total=dict(self.pod_hours_total),
            nodes=nodes,
        )

    def _count(self, now: datetime) -> _Counts:
        self._tally.now = now
        summary = self._tally.finish()
        pods: Counter[tuple[str, str, str]] = Counter(
            (row.namespace, str(row.workload), str(row.verdict)) for row in summary.rows
        )
        evicted: Counter[tuple[str, str, str]] = Counter()
        for key, signal in self._signals.items():
            evicted[key[0], self._workloads[key], signal] += 1
        self._count_argo_retries(evicted)
        profile = self.config.spot.profile
        nodes: Counter[tuple[str, str, str]] = Counter(
            (str(node_type(node, profile)), node_pool(node, profile), node_state(node))
            for node in self._nodes.values()
        )
        return pods, evicted, nodes

    def _count_argo_retries(self, evicted: Counter[tuple[str, str, str]]) -> None:
        """Add the evictions only Argo's retries show, as the report settles them.

        Under retry-on=evictions every retry of a step was an eviction; those its evicted pods
        do not show are `ArgoRetry`. The gauge counts them from the pods visible now, as the
        report does; the counter from every attempt seen, so deleting an evicted pod does not
        make its retry count again.
        """
        visible: dict[tuple[str, str, str], tuple[int, int]] = {}
        for key, pod in self._pods.items():
            attempt = retry_attempt(pod)
            if attempt is None:
                continue
            step = self._steps.setdefault(attempt.step, _Step(pod.namespace, self._workloads[key]))
            step.highest = max(step.highest, attempt.attempt)
            highest, disrupted = visible.get(attempt.step, (0, 0))
            signalled = key in self._signals
            if signalled:
                step.disrupted.add(attempt.attempt)
            visible[attempt.step] = (max(highest, attempt.attempt), disrupted + signalled)
        for gone in set(self._steps) - set(visible):
            del self._steps[gone]  # every pod of the step is gone: so is what it could add
        if self.config.spot.retry.on is not RetryOn.EVICTIONS:
            return
        for name, (highest, disrupted) in visible.items():
            step = self._steps[name]
            labels = (step.namespace, step.workload, ARGO_RETRY_SIGNAL)
            if highest > disrupted:
                evicted[labels] += highest - disrupted
            unexplained = step.highest - len(step.disrupted)
            if unexplained > step.counted:
                self.evictions_total[labels] += unexplained - step.counted
                step.counted = unexplained
