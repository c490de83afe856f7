"""Read nodes and pods from the cluster into the placement report, a page at a time.

The report reads with one paginated LIST of nodes and one of pods (page size 500), the label
selector evaluated by the API server, plus one GET when a single namespace is asked for, the
Workflows whose `status.nodes` record evictions whose pods are gone (`placement.workflows`,
50 a page), and, when the config renders PodDefaults, the workloads whose pods conflict with them
(`placement.conflict_lists`). The pods' pages are read a page ahead, and the Workflows and the
conflicts on a side thread, while the nodes are read (`read_placement`). Pages of nodes and pods
are decoded into `placement.views`, which hold only the fields read here. Each object is copied
into a fact record (`placement.facts`, `conflicts`), handed to the sink (a `PlacementTally`)
and dropped. This module only reads: it never writes to the cluster, and it does not import
ops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, Protocol, cast

from lightkube import ALL_NS, ApiError, Client, operators
from lightkube.core import decoders
from lightkube.models.core_v1 import Affinity, NodeSelectorTerm, PodSpec, PodStatus
from lightkube.models.core_v1 import Toleration as CoreToleration
from lightkube.resources import core_v1
from lightkube.resources.core_v1 import Namespace

from conflicts import (
    ChargedPodDefault,
    Conflict,
)
from identity import API_ERRORS, api_problem
from label_selectors import LabelSelector, SelectorRequirement
from placement import views
from placement.conflict_lists import read_conflicts
from placement.facts import POD_CONDITION_TYPES, Condition, NodeFacts, PodFacts
from placement.paging import PAGE_SIZE, read_ahead
from placement.request import ReportRequest
from placement.workflows import RecordedWorkflows, Workflow, WorkflowFacts, read_workflows
from spot_profiles import Toleration


class PlacementReadError(Exception):
    """The cluster could not be read; the message says why and what to do."""


class PlacementSink(Protocol):
    """Where the reader puts what it reads: a `PlacementTally`."""

    def add_node(self, node: NodeFacts) -> None:
        """Take one node; every node comes before the first pod."""

    def add_pod(self, pod: PodFacts) -> None:
        """Take one pod."""

    def add_conflict(self, conflict: Conflict) -> None:
        """Take one workload whose pods the PodDefault webhook rejects."""

    def add_workflow(self, workflow: WorkflowFacts) -> None:
        """Take what Argo recorded in one Workflow (`placement.workflows`)."""

    def add_note(self, note: str) -> None:
        """Take a note about what could not be read."""


def read_placement(
    connect: Callable[[], Client],
    request: ReportRequest,
    sink: PlacementSink,
    *,
    app: str,
    pod_defaults: Sequence[ChargedPodDefault] = (),
) -> None:
    """Feed every node, then every pod in the request's scope, into the sink.

    Args:
        connect: returns a lightkube client; called inside the error handling, since building
            a client can fail too.
        request: which pods to read.
        sink: takes each node and pod as it is read.
        app: the Juju application name, for the trust hint.
        pod_defaults: the PodDefaults the config renders: workloads whose pods they conflict
            with are read too (`read_conflicts`, every kind).

    Raises:
        PlacementReadError: the namespace does not exist, the charm lacks trust, or the API
            server cannot be reached.

    """
    try:
        client = connect()
        if request.namespace:
            client.get(Namespace, request.namespace)
        pods = client.list(
            views.Pod,
            namespace=request.namespace or ALL_NS,
            chunk_size=PAGE_SIZE,
            # A list keeps repeated keys (`a!=x,a!=y`); lightkube's build_selector takes one,
            # though its type hints only admit a dict.
            labels=cast(Any, selector_pairs(request.label_selector)),
        )
        warm_decoders()
        # Three conversations at once, each on its own connection: the pods' pages (read
        # ahead), the nodes here, and the dozen small LISTs of Workflows and conflicts on a
        # side thread, whose round trips would otherwise come one after another at the end.
        # The side thread's findings reach the sink here, after every pod, as before.
        with read_ahead(pods, PAGE_SIZE) as pod_pages, ThreadPoolExecutor(1, "report") as side:
            besides = side.submit(_read_besides_pods, client, request.namespace, pod_defaults)
            for node in client.list(views.Node, chunk_size=PAGE_SIZE):
                sink.add_node(node_facts(node))
            for pod in pod_pages:
                sink.add_pod(pod_facts(pod))
            workflows, conflicts = besides.result()
        workflows.replay(sink)
        for conflict in conflicts:
            sink.add_conflict(conflict)
    except API_ERRORS as error:
        if isinstance(error, ApiError) and error.status.code == 404 and request.namespace:
            raise PlacementReadError(f"namespace {request.namespace!r} does not exist") from error
        raise PlacementReadError(api_problem(error, app).message) from error


def _read_besides_pods(
    client: Client, namespace: str, pod_defaults: Sequence[ChargedPodDefault]
) -> tuple[RecordedWorkflows, list[Conflict]]:
    workflows = RecordedWorkflows()
    read_workflows(client, namespace, workflows)
    return workflows, read_conflicts(client, namespace, pod_defaults, every_kind=True)


_WARM_LIST = b'{"items": [], "metadata": {}}'


def warm_decoders() -> None:
    """Build, in this thread, the decoders of every kind the report lists, before its threads.

    msgspec builds a type's decoder on its first use, and threads building the same ones at
    once crashed the interpreter (see `exporter.watch.warm_decoders`); the pods' thread and the
    nodes here share the views' metadata and condition structs. Empty lists build them all.
    """
    for kind in (views.Pod, views.Node, Workflow, views.Job, views.Event):
        decoders.decode_list(_WARM_LIST, kind)
    decoders.decode_status(b'{"code": 404, "message": "warm"}')


def selector_pairs(selector: LabelSelector) -> list[tuple[str, Any]]:
    """Translate a parsed selector into lightkube's label selector, for the server to evaluate."""
    pairs: list[tuple[str, Any]] = [
        (key, operators.equal(value)) for key, value in selector.match_labels.items()
    ]
    for requirement in selector.match_expressions:
        pairs.append((requirement.key, _operator(requirement)))
    return pairs


def _operator(requirement: SelectorRequirement) -> Any:
    match requirement.operator:
        case "In":
            return operators.in_(list(requirement.values))
        case "NotIn":
            return operators.not_in(list(requirement.values))
        case "Exists":
            return operators.exists()
        case "DoesNotExist":
            return operators.not_exists()
    raise ValueError(f"unknown label selector operator {requirement.operator!r}")


def node_facts(node: views.Node | core_v1.Node) -> NodeFacts:
    """Copy what the report needs from a Node (as listed, or a full lightkube model)."""
    meta, spec = node.metadata, node.spec
    return NodeFacts(
        name=(meta.name or "") if meta else "",
        labels=dict(meta.labels or {}) if meta else {},
        taint_keys=tuple(t.key for t in (spec.taints or [])) if spec else (),
        unschedulable=bool(spec.unschedulable) if spec else False,
        conditions=tuple(
            Condition(c.type, c.status, c.reason or "", c.message or "")
            for c in ((node.status.conditions or []) if node.status else [])
        ),
    )


def pod_facts(pod: views.Pod | core_v1.Pod) -> PodFacts:
    """Copy what the report needs from a Pod (as listed, or a full lightkube model).

    This runs for every pod of the cluster, so it builds as little as it can: the mappings are
    the decoded object's own (it is dropped after this), only the conditions the report reads
    are kept, and pods whose tolerations and node affinity are alike share one copy of them.
    """
    meta, spec, status = pod.metadata, pod.spec, pod.status
    assert meta is not None  # The API server always returns metadata.
    node_name, tolerations, node_selector, terms = _spec_facts(spec)
    phase, reason, message, conditions, started, finished = _status_facts(status)
    return PodFacts(
        namespace=meta.namespace or "",
        name=meta.name or "",
        labels=meta.labels or {},
        annotations=meta.annotations or {},
        node_name=node_name,
        phase=phase,
        reason=reason,
        message=message,
        conditions=conditions,
        created=meta.creationTimestamp,
        started=started,
        finished=finished,
        tolerations=tolerations,
        node_selector=node_selector,
        required_node_terms=terms,
        owner_kinds=tuple(owner.kind for owner in meta.ownerReferences or ()),
    )


def _spec_facts(spec: views.PodSpec | PodSpec | None) -> tuple[Any, ...]:
    """Return (node name, tolerations, node selector, required node terms)."""
    if spec is None:
        return "", (), {}, ()
    if isinstance(spec, views.PodSpec):  # hashable: pods of one template share one copy
        tolerations, terms = _shared_scheduling(spec.tolerations, spec.affinity)
    else:
        tolerations, terms = _scheduling(spec.tolerations, spec.affinity)
    return spec.nodeName or "", tolerations, spec.nodeSelector or {}, terms


def _scheduling(
    tolerations: Sequence[views.Toleration | CoreToleration] | None,
    affinity: views.Affinity | Affinity | None,
) -> tuple[tuple[Toleration, ...], tuple[tuple[SelectorRequirement, ...], ...]]:
    """Return the tolerations and the required node selector terms of a pod's spec."""
    nodes = affinity.nodeAffinity if affinity else None
    required = nodes.requiredDuringSchedulingIgnoredDuringExecution if nodes else None
    return (
        tuple(
            Toleration(t.key or "", t.operator or "Equal", t.value or "", t.effect or "")
            for t in tolerations or ()
        ),
        tuple(_term(term) for term in required.nodeSelectorTerms) if required else (),
    )


_shared_scheduling = lru_cache(maxsize=1024)(_scheduling)


def _status_facts(status: views.PodStatus | PodStatus | None) -> tuple[Any, ...]:
    """Return (phase, reason, message, conditions, started, finished)."""
    if status is None:
        return "Pending", "", "", (), None, None
    states = [s.state for s in status.containerStatuses or ()]
    started = [
        moment
        for state in states
        if state is not None
        for moment in (
            state.running.startedAt if state.running else None,
            state.terminated.startedAt if state.terminated else None,
        )
        if moment is not None
    ]
    finished = [
        state.terminated.finishedAt if state and state.terminated else None for state in states
    ]
    return (
        status.phase or "Pending",
        status.reason or "",
        status.message or "",
        tuple(
            Condition(c.type, c.status, c.reason or "", c.message or "")
            for c in status.conditions or ()
            if c.type in POD_CONDITION_TYPES
        ),
        min(started) if started else None,
        max(f for f in finished if f) if finished and all(finished) else None,
    )


def _term(term: views.NodeSelectorTerm | NodeSelectorTerm) -> tuple[SelectorRequirement, ...]:
    return tuple(
        SelectorRequirement(e.key, e.operator, tuple(e.values or ()))
        for e in (term.matchExpressions or [])
    )
