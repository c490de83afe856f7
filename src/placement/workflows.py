"""Read what Argo recorded about each attempt of each step: the Workflows' `status.nodes`.

`read_workflows` lists Workflows (`argoproj.io/v1alpha1`) in the report's namespace scope, a
page of `WORKFLOW_PAGE_SIZE` at a time, decoded into the slim views below (a Workflow's spec,
stored templates and every node's inputs and outputs are skipped without being built). Each
Workflow is turned into a `WorkflowFacts`: its failed pod attempts, each classified by the
message Argo recorded (`evictions.eviction_kind`, the patterns the charm's retry expression
matches), the retries Argo made, and the steps that failed after being taken away. Without the
CRD (404) or the right to list Workflows (403) the sink gets a note instead. Only this module
and `reader` of the placement package import lightkube; none imports ops.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import httpx2
import msgspec
from lightkube import ALL_NS, ApiError, Client
from lightkube.core import resource
from lightkube.core.dictmixin import DictMixin

from evictions import FAILED_PHASES, eviction_kind
from identity import status_code

WORKFLOW_PAGE_SIZE = 50
"""Workflows per LIST page: a Workflow can be up to etcd's 1.5 MB, a pod is a few KB."""
POD_NAME_FORMAT_ANNOTATION = "workflows.argoproj.io/pod-name-format"
"""Set by Argo on each Workflow (`setWfPodNamesAnnotation`): `v1` or `v2`, the pod names used."""
_ATTEMPT_SUFFIX = re.compile(r"\([0-9]+\)")
"""`(0)`: the attempt of a retried DAG in a node's path, left out where a step is named."""
MAX_NODES_BYTES = 64 << 20
"""At most this much JSON is inflated from a Workflow's `status.compressedNodes`."""


class _View(DictMixin, kw_only=True):
    """A part of a Workflow; unknown fields are skipped, absent ones are None."""


class TemplateRef(_View):
    template: str | None = None


class NodeFlag(_View):
    hooked: bool | None = None


class Node(_View):
    """One entry of `status.nodes`: the fields the report reads."""

    id: str
    name: str = ""
    type: str = ""
    templateName: str | None = None
    templateRef: TemplateRef | None = None
    phase: str | None = None
    message: str | None = None
    children: list[str] | None = None
    nodeFlag: NodeFlag | None = None


class WorkflowMeta(_View):
    name: str | None = None
    namespace: str | None = None
    annotations: dict[str, str] | None = None


class WorkflowStatus(_View):
    nodes: dict[str, Node] | None = None
    compressedNodes: str | None = None
    offloadNodeStatusVersion: str | None = None


class Workflow(resource.NamespacedResourceG, _View):
    """What the report reads of an Argo Workflow."""

    _api_info = resource.ApiInfo(
        resource=resource.ResourceDef("argoproj.io", "v1alpha1", "Workflow"),
        plural="workflows",
        verbs=["get", "global_list", "global_watch", "list", "watch"],
    )
    metadata: WorkflowMeta | None = None
    status: WorkflowStatus | None = None


@dataclass(frozen=True)
class ArgoAttempt:
    """One failed pod attempt of a step, as Argo recorded it."""

    pod: str
    """The name Argo gave the attempt's pod (`pod_name`)."""
    phase: str
    message: str
    signal: str | None
    """The kind of eviction the message tells (`evictions.EVICTION_SIGNALS`), or None."""
    retried: bool
    """Argo made another attempt of the step after this one."""


@dataclass(frozen=True)
class FailedStep:
    """A retried step that failed, its last attempt taken away: the run failed by evictions."""

    step: str
    """The step's node name below the Workflow, without DAG attempts (`outer.step`)."""
    evictions: int
    attempts: int
    message: str
    """What Argo recorded on the step (e.g. `retryStrategy.expression evaluated to false`)."""


@dataclass(frozen=True)
class WorkflowFacts:
    """What the report counts of one Workflow."""

    namespace: str
    name: str
    attempts: tuple[ArgoAttempt, ...] = ()
    failed_steps: tuple[FailedStep, ...] = ()
    note: str = ""
    """Why the attempts could not be read (nodes offloaded to Argo's database, or too big)."""


class WorkflowSink(Protocol):
    """Where Workflows go: a `PlacementTally`."""

    def add_workflow(self, workflow: WorkflowFacts) -> None:
        """Take one Workflow."""

    def add_note(self, note: str) -> None:
        """Take a note about what could not be read."""


class RecordedWorkflows:
    """A `WorkflowSink` that keeps what it is given, to hand on later (`replay`).

    The report reads the Workflows on a side thread and replays them into its tally in the
    caller's thread, after the pods.
    """

    def __init__(self) -> None:
        self.workflows: list[WorkflowFacts] = []
        self.notes: list[str] = []

    def add_workflow(self, workflow: WorkflowFacts) -> None:
        """Keep one Workflow."""
        self.workflows.append(workflow)

    def add_note(self, note: str) -> None:
        """Keep one note."""
        self.notes.append(note)

    def replay(self, sink: WorkflowSink) -> None:
        """Give the sink every Workflow, then every note, in the order they came."""
        for workflow in self.workflows:
            sink.add_workflow(workflow)
        for note in self.notes:
            sink.add_note(note)


def pod_name(workflow: str, node: Node, version: str = "v2") -> str:
    """Return the name Argo 3.7 gives the pod of a node (`workflow/util/pod_name.go`).

    v1 names a pod after its node id; v2 (the default since 3.4) after the Workflow, the
    template and the FNV-1a hash of the node's name, the prefix cut to 242 characters.
    """
    if version == "v1":
        return node.id
    if node.name == workflow:
        return workflow
    template = (node.templateRef.template if node.templateRef else None) or node.templateName
    prefix = f"{workflow}-{template}" if template else workflow
    return f"{prefix[:242]}-{fnv1a_32(node.name)}"


def fnv1a_32(text: str) -> int:
    """Return the 32-bit FNV-1a hash of the UTF-8 bytes of text, as Go's `hash/fnv` does."""
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def _nodes(status: WorkflowStatus) -> tuple[dict[str, Node], str]:
    if status.offloadNodeStatusVersion:
        return {}, "its nodes are offloaded to Argo's database"
    if status.nodes or not status.compressedNodes:
        return dict(status.nodes or {}), ""
    try:
        inflater = zlib.decompressobj(wbits=31)  # gzip, as Argo's packer writes it
        raw = inflater.decompress(base64.b64decode(status.compressedNodes), MAX_NODES_BYTES)
        if inflater.unconsumed_tail:
            return {}, f"its compressed nodes inflate to more than {MAX_NODES_BYTES >> 20} MiB"
        return msgspec.json.decode(raw, type=dict[str, Node]), ""
    except (binascii.Error, zlib.error, msgspec.DecodeError):
        return {}, "its compressed nodes cannot be decoded"


def _attempt(node: Node | None) -> bool:
    """Tell whether a child of a Retry node is one of its attempts (not a lifecycle hook)."""
    return node is not None and not (node.nodeFlag is not None and node.nodeFlag.hooked)


def workflow_facts(workflow: Workflow) -> WorkflowFacts:
    """Classify every failed pod attempt of a Workflow by what Argo recorded on it."""
    meta = workflow.metadata or WorkflowMeta()
    name, namespace = meta.name or "", meta.namespace or ""
    nodes, note = _nodes(workflow.status or WorkflowStatus())
    version = (meta.annotations or {}).get(POD_NAME_FORMAT_ANNOTATION, "v2")
    retried: set[str] = set()
    failed_steps = []
    for node in nodes.values():
        if node.type != "Retry":
            continue
        tries = [nodes[child] for child in node.children or [] if _attempt(nodes.get(child))]
        retried.update(attempt.id for attempt in tries[:-1])
        if node.phase in FAILED_PHASES and tries and tries[-1].type == "Pod":
            signals = [eviction_kind(a.phase or "", a.message or "") for a in tries]
            if signals[-1] is not None:
                step = _ATTEMPT_SUFFIX.sub("", node.name).removeprefix(f"{name}.")
                evicted = sum(signal is not None for signal in signals)
                failed_steps.append(FailedStep(step, evicted, len(tries), node.message or ""))
    attempts = tuple(
        ArgoAttempt(
            pod_name(name, node, version),
            node.phase or "",
            node.message or "",
            eviction_kind(node.phase or "", node.message or ""),
            node.id in retried,
        )
        for node in nodes.values()
        if node.type == "Pod" and node.phase in FAILED_PHASES
    )
    return WorkflowFacts(namespace, name, attempts, tuple(failed_steps), note)


def read_workflows(client: Client, namespace: str, sink: WorkflowSink) -> None:
    """Feed every Workflow of the namespace (or of all) into the sink, a page at a time.

    The CRD missing (404) or listing forbidden (403) is a note, not an error: the report then
    counts the evictions its pods show. Other API errors are raised to the caller.
    """
    workflows: Iterable[Workflow] = client.list(
        Workflow, namespace=namespace or ALL_NS, chunk_size=WORKFLOW_PAGE_SIZE
    )
    try:
        for workflow in workflows:
            facts = workflow_facts(workflow)
            sink.add_workflow(facts)
            if facts.note:
                sink.add_note(
                    f"Workflow {facts.namespace}/{facts.name}: {facts.note}, so evictions Argo"
                    " recorded in it are not counted"
                )
    except msgspec.ValidationError as error:
        # status is free-form in Argo's CRD: a Workflow the view cannot read stops the reading
        # of the rest (a page is decoded at once), never the report.
        sink.add_note(
            f"Argo Workflows could not be read ({error}): evictions are counted from"
            " pods only, and from the Workflows read before"
        )
    except (ApiError, httpx2.HTTPStatusError) as error:
        # Without the CRD kube-apiserver answers a plain-text 404, which lightkube raises as an
        # HTTPStatusError (seen on kube-apiserver 1.36); a 403 is a JSON Status, an ApiError.
        code = status_code(error)
        if code == 404:
            sink.add_note("Argo Workflows are not installed: evictions are counted from pods only")
        elif code == 403:
            sink.add_note(
                "listing Argo Workflows is forbidden: evictions are counted from pods only"
                " (those whose pods are gone are missed)"
            )
        else:
            raise
