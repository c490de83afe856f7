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
from datetime import datetime

from exporter.config import ExporterConfig
from exporter.metrics import PlacementSamples, node_state
from placement.argo_records import SeenPod, settle
from placement.facts import (
    NodeFacts,
    PodFacts,
    eviction_signal,
    node_local,
    run_hours,
)
from placement.request import ReportRequest
from placement.rules import NodeType, node_pool, node_type
from placement.tally import PlacementTally
from placement.workflows import WorkflowFacts
from workloads import WorkloadClass, classify_pod

PodKey = tuple[str, str]
"""(namespace, name)"""
_Labels = tuple[str, str, str]
_Counts = tuple[Counter[_Labels], Counter[_Labels], Counter[_Labels]]
"""Pods by verdict, evicted pods, nodes: each by its metric's labels."""
WorkflowKey = tuple[str, str]
"""(namespace, name) of a Workflow"""
REPORT_REQUEST = ReportRequest()
"""The report the gauges equal: all namespaces, running and pending pods (the default)."""


class WatchedPlacement:
    """Nodes and pods as the watches last delivered them, with the tally that judges them."""

    def __init__(self, config: ExporterConfig, now: datetime):
        self.config = config
        self._nodes: dict[str, NodeFacts] = {}
        self._pods: dict[PodKey, PodFacts] = {}
        self._on_node: dict[str, set[PodKey]] = {}
        self._hours_seen: dict[PodKey, float] = {}
        self._workloads: dict[PodKey, WorkloadClass] = {}
        self._signals: dict[PodKey, str] = {}
        """The eviction signal of each pod that shows one."""
        self._evicted: set[PodKey] = set()
        """Pods whose eviction the counter has counted (each pod once, seen or Argo-recorded)."""
        self._workflows: dict[WorkflowKey, WorkflowFacts] = {}
        self._recorded: dict[PodKey, int] = {}
        """How many Workflows held record each evicted pod's eviction."""
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
        if key not in self._recorded:  # a Workflow still recording it keeps it counted
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

    def _classify(self, pod: PodFacts) -> WorkloadClass:
        return classify_pod(pod.labels, pod.namespace, self.config.control_plane_namespaces)

    def _count_eviction(self, key: PodKey, pod: PodFacts) -> None:
        signal = eviction_signal(pod)
        if signal is None:
            self._signals.pop(key, None)
            return
        self._signals[key] = signal
        if key not in self._evicted:
            self._evicted.add(key)
            self.evictions_total[pod.namespace, str(self._workloads[key]), signal] += 1

    def _settle(self, key: PodKey, now: datetime) -> None:
        """Credit the hours the pod ran since last settled to its node's capacity."""
        pod = self._pods[key]
        hours = run_hours(pod, now)
        delta = hours - self._hours_seen.get(key, hours)
        self._hours_seen[key] = max(hours, self._hours_seen.get(key, hours))
        capacity = self._capacity(pod)
        if delta > 0 and capacity is not None:
            bucket = (str(self._workloads[key]), capacity)
            self.pod_hours_total[bucket] = self.pod_hours_total.get(bucket, 0.0) + delta

    def _capacity(self, pod: PodFacts) -> str | None:
        kind = self._node_kinds.get(pod.node_name) if pod.node_name else None
        if kind is None:
            return None
        if kind is NodeType.SPOT and node_local(pod):
            return None  # the report counts no spot pod-hours for a node's own pods
        return str(kind)

    # --- Argo Workflows ----------------------------------------------------------------------

    def put_workflow(self, workflow: WorkflowFacts) -> None:
        """Add or replace what a Workflow recorded (ADDED, MODIFIED), as the report reads it.

        An eviction it records is counted once: not again for a pod the counter counted already
        (by its own signal, or by another Workflow), and not again when the pod shows it later.
        """
        key = (workflow.namespace, workflow.name)
        old = self._workflows.get(key)
        self._counts = None
        self._workflows[key] = workflow
        self._tally.add_workflow(workflow)
        for attempt in workflow.attempts:
            if attempt.signal is None:
                continue
            pod = (workflow.namespace, attempt.pod)
            self._recorded[pod] = self._recorded.get(pod, 0) + 1
            if pod not in self._evicted:
                self._evicted.add(pod)
                workload = self._workloads.get(pod, WorkloadClass.PIPELINES)
                self.evictions_total[workflow.namespace, str(workload), attempt.signal] += 1
        self._forget_records(key, old)  # after the new records: a pod both record stays counted

    def remove_workflow(self, namespace: str, name: str) -> None:
        """Forget a Workflow (DELETED); the evictions it recorded stay counted."""
        key = (namespace, name)
        if key not in self._workflows:
            return
        self._forget_records(key, self._workflows.pop(key))
        self._counts = None
        self._tally.remove_workflow(namespace, name)

    def replace_workflows(self, workflows: Iterable[WorkflowFacts]) -> None:
        """Make the Workflows exactly these (a LIST, the first or after `410 Gone`)."""
        listed = {(wf.namespace, wf.name): wf for wf in workflows}
        for namespace, name in set(self._workflows) - set(listed):
            self.remove_workflow(namespace, name)
        for key, workflow in listed.items():
            if self._workflows.get(key) != workflow:
                self.put_workflow(workflow)

    def _forget_records(self, key: WorkflowKey, old: WorkflowFacts | None) -> None:
        for attempt in old.attempts if old is not None else ():
            pod = (key[0], attempt.pod)
            if attempt.signal is None or pod not in self._recorded:
                continue
            self._recorded[pod] -= 1
            if not self._recorded[pod]:
                del self._recorded[pod]
                if pod not in self._pods:  # neither shown nor recorded any more: forgotten
                    self._evicted.discard(pod)

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
        for workflow in self._workflows.values():
            self._tally.add_workflow(workflow)

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
            evicted[key[0], str(self._workloads[key]), signal] += 1
        # What Argo recorded that no pod shows, settled as the report's tally settles it.
        seen = {key: SeenPod(self._workloads[key], key in self._signals) for key in self._pods}
        settled = settle(self._workflows.values(), seen)
        for (namespace, workload, signal), count in settled.evictions.items():
            evicted[namespace, str(workload), signal] += count
        profile = self.config.spot.profile
        nodes: Counter[tuple[str, str, str]] = Counter(
            (str(node_type(node, profile)), node_pool(node, profile), node_state(node))
            for node in self._nodes.values()
        )
        return pods, evicted, nodes
