"""Read nodes and pods from the cluster into the placement report, a page at a time.

The report reads with one paginated LIST of nodes and one of pods (page size 500), the label
selector evaluated by the API server, plus one GET when a single namespace is asked for. Each
lightkube object is copied into the `placement` module's fact records and dropped, so memory
is bounded by the rows the report keeps. This module only reads: it never writes to the
cluster, and it does not import ops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import httpx2
from lightkube import ALL_NS, ApiError, Client, ConfigError, operators
from lightkube.models.core_v1 import NodeSelectorTerm
from lightkube.resources.core_v1 import Namespace, Node, Pod

from cluster import TRUST_HINT
from placement import Condition, NodeFacts, PlacementTally, PodFacts, Toleration
from workloads import LabelSelector, SelectorRequirement

PAGE_SIZE = 500


class PlacementReadError(Exception):
    """The cluster could not be read; the message says why and what to do."""


def read_placement(connect: Callable[[], Client], tally: PlacementTally, *, app: str) -> None:
    """Feed every node, then every pod in the request's scope, into the tally.

    Raises:
        PlacementReadError: the namespace does not exist, the charm lacks trust, or the API
            server cannot be reached.

    """
    request = tally.request
    try:
        client = connect()
        if request.namespace:
            client.get(Namespace, request.namespace)
        for node in client.list(Node, chunk_size=PAGE_SIZE):
            tally.add_node(node_facts(node))
        pods = client.list(
            Pod,
            namespace=request.namespace or ALL_NS,
            chunk_size=PAGE_SIZE,
            # A list keeps repeated keys (`a!=x,a!=y`); lightkube's build_selector takes one,
            # though its type hints only admit a dict.
            labels=cast(Any, selector_pairs(request.label_selector)),
        )
        for pod in pods:
            tally.add_pod(pod_facts(pod))
    except ApiError as error:
        code = error.status.code
        if code in (401, 403):
            raise PlacementReadError(TRUST_HINT.format(app=app)) from error
        if code == 404 and request.namespace:
            raise PlacementReadError(f"namespace {request.namespace!r} does not exist") from error
        raise PlacementReadError(f"Kubernetes API error {code}: {error.status.message}") from error
    except (httpx2.TransportError, ConfigError) as error:
        raise PlacementReadError(f"Kubernetes API unreachable: {error}") from error


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
