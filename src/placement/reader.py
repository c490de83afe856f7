"""Read nodes and pods from the cluster into the placement report, a page at a time.

The report reads with one paginated LIST of nodes and one of pods (page size 500), the label
selector evaluated by the API server, plus one GET when a single namespace is asked for. Each
lightkube object is copied into a fact record (`placement.facts`), handed to the sink (a
`PlacementTally`, or anything with its `add_node` and `add_pod`) and dropped. This module only
reads: it never writes to the cluster, and it does not import ops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

from lightkube import ALL_NS, ApiError, Client, operators
from lightkube.models.core_v1 import NodeSelectorTerm
from lightkube.resources.core_v1 import Namespace, Node, Pod

from identity import API_ERRORS, api_problem
from label_selectors import LabelSelector, SelectorRequirement
from placement.facts import Condition, NodeFacts, PodFacts
from placement.request import ReportRequest
from spot_profiles import Toleration

PAGE_SIZE = 500


class PlacementReadError(Exception):
    """The cluster could not be read; the message says why and what to do."""


class PlacementSink(Protocol):
    """Where the reader puts what it reads: a `PlacementTally`."""

    def add_node(self, node: NodeFacts) -> None:
        """Take one node; every node comes before the first pod."""

    def add_pod(self, pod: PodFacts) -> None:
        """Take one pod."""


def read_placement(
    connect: Callable[[], Client], request: ReportRequest, sink: PlacementSink, *, app: str
) -> None:
    """Feed every node, then every pod in the request's scope, into the sink.

    Args:
        connect: returns a lightkube client; called inside the error handling, since building
            a client can fail too.
        request: which pods to read.
        sink: takes each node and pod as it is read.
        app: the Juju application name, for the trust hint.

    Raises:
        PlacementReadError: the namespace does not exist, the charm lacks trust, or the API
            server cannot be reached.

    """
    try:
        client = connect()
        if request.namespace:
            client.get(Namespace, request.namespace)
        for node in client.list(Node, chunk_size=PAGE_SIZE):
            sink.add_node(node_facts(node))
        pods = client.list(
            Pod,
            namespace=request.namespace or ALL_NS,
            chunk_size=PAGE_SIZE,
            # A list keeps repeated keys (`a!=x,a!=y`); lightkube's build_selector takes one,
            # though its type hints only admit a dict.
            labels=cast(Any, selector_pairs(request.label_selector)),
        )
        for pod in pods:
            sink.add_pod(pod_facts(pod))
    except API_ERRORS as error:
        if isinstance(error, ApiError) and error.status.code == 404 and request.namespace:
            raise PlacementReadError(f"namespace {request.namespace!r} does not exist") from error
        raise PlacementReadError(api_problem(error, app).message) from error


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


def node_facts(node: Node) -> NodeFacts:
    """Copy what the report needs from a Node."""
    meta, spec = node.metadata, node.spec
    return NodeFacts(
        name=(meta.name or "") if meta else "",
        labels=dict(meta.labels or {}) if meta else {},
        taint_keys=tuple(t.key for t in (spec.taints or [])) if spec else (),
        unschedulable=bool(spec.unschedulable) if spec else False,
    )


def pod_facts(pod: Pod) -> PodFacts:
    """Copy what the report needs from a Pod."""
    meta, spec, status = pod.metadata, pod.spec, pod.status
    assert meta is not None  # The API server always returns metadata.
    container_states = [s.state for s in (status.containerStatuses or [])] if status else []
    started = [
        moment
        for state in container_states
        if state is not None
        for moment in (
            state.running.startedAt if state.running else None,
            state.terminated.startedAt if state.terminated else None,
        )
        if moment is not None
    ]
    finished = [
        state.terminated.finishedAt if state and state.terminated else None
        for state in container_states
    ]
    affinity = spec.affinity.nodeAffinity if spec and spec.affinity else None
    required = affinity.requiredDuringSchedulingIgnoredDuringExecution if affinity else None
    return PodFacts(
        namespace=meta.namespace or "",
        name=meta.name or "",
        labels=dict(meta.labels or {}),
        annotations=dict(meta.annotations or {}),
        node_name=(spec.nodeName or "") if spec else "",
        phase=(status.phase or "Pending") if status else "Pending",
        reason=(status.reason or "") if status else "",
        message=(status.message or "") if status else "",
        conditions=tuple(
            Condition(c.type, c.status, c.reason or "", c.message or "")
            for c in ((status.conditions or []) if status else [])
        ),
        created=meta.creationTimestamp,
        started=min(started) if started else None,
        finished=max(f for f in finished if f) if finished and all(finished) else None,
        tolerations=tuple(
            Toleration(t.key or "", t.operator or "Equal", t.value or "", t.effect or "")
            for t in ((spec.tolerations or []) if spec else [])
        ),
        node_selector=dict(spec.nodeSelector or {}) if spec else {},
        required_node_terms=tuple(
            _term(term) for term in (required.nodeSelectorTerms if required else [])
        ),
        owner_kinds=tuple(owner.kind for owner in meta.ownerReferences or []),
    )


def _term(term: NodeSelectorTerm) -> tuple[SelectorRequirement, ...]:
    return tuple(
        SelectorRequirement(e.key, e.operator, tuple(e.values or ()))
        for e in (term.matchExpressions or [])
    )
