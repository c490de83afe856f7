"""The fields of a Pod, a Node, a Job and an Event that the placement report reads, and no more.

lightkube decodes a LIST page into whatever msgspec struct the resource class is, so these
classes are lightkube resources (`views.Pod` has the API path of lightkube's `Pod`) whose
structs hold only what `placement.reader` copies into fact records. msgspec skips every other field
without building it: on 10,000 pods, `managedFields` alone is about 40% of the bytes, and
decoding full models was half the report's time (issue 13; `make bench` shows the floor).
Attribute names and nesting are the API's, as in lightkube's own models, so the reader reads
either. This module does not import ops.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from lightkube.core import resource
from lightkube.core.dictmixin import DictMixin
from lightkube.resources import batch_v1, core_v1


class _View(DictMixin, kw_only=True, gc=False):
    """A part of an API object; unknown fields are skipped, absent ones are None.

    Untracked by the garbage collector (`gc=False`: these hold no cycles): a page of 500 pods
    is about 6,000 of them, and collections walking them took a third of the decoding. The
    top-level `Pod` and `Node` are tracked: msgspec requires it of a lightkube resource class.
    """


class OwnerReference(_View):
    kind: str


class ObjectMeta(_View):
    name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    creationTimestamp: datetime | None = None
    ownerReferences: list[OwnerReference] | None = None


class _Shared(msgspec.Struct, kw_only=True, gc=False, frozen=True, omit_defaults=True):
    """A part that the pods of one template have alike: hashable, so it is copied once for all."""


class Toleration(_Shared, frozen=True):
    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None


class NodeSelectorRequirement(_Shared, frozen=True):
    key: str
    operator: str
    values: tuple[str, ...] | None = None


class NodeSelectorTerm(_Shared, frozen=True):
    matchExpressions: tuple[NodeSelectorRequirement, ...] | None = None


class NodeSelector(_Shared, frozen=True):
    nodeSelectorTerms: tuple[NodeSelectorTerm, ...]


class NodeAffinity(_Shared, frozen=True):
    requiredDuringSchedulingIgnoredDuringExecution: NodeSelector | None = None


class Affinity(_Shared, frozen=True):
    nodeAffinity: NodeAffinity | None = None


class PodSpec(_View):
    nodeName: str | None = None
    tolerations: tuple[Toleration, ...] | None = None
    nodeSelector: dict[str, str] | None = None
    affinity: Affinity | None = None


class Condition(_View):
    """One entry of a Pod's or a Node's `status.conditions`: the fields the report reads."""

    type: str
    status: str
    reason: str | None = None
    message: str | None = None


class ContainerStateRunning(_View):
    startedAt: datetime | None = None


class ContainerStateTerminated(_View):
    startedAt: datetime | None = None
    finishedAt: datetime | None = None


class ContainerState(_View):
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None


class ContainerStatus(_View):
    state: ContainerState | None = None


class PodStatus(_View):
    phase: str | None = None
    reason: str | None = None
    message: str | None = None
    conditions: list[Condition] | None = None
    containerStatuses: list[ContainerStatus] | None = None


class Taint(_View):
    key: str


class NodeSpec(_View):
    taints: list[Taint] | None = None
    unschedulable: bool | None = None


class NodeStatus(_View):
    conditions: list[Condition] | None = None


class Pod(resource.NamespacedResourceG, _View, gc=True):
    """What the report reads of a Pod; listed like lightkube's `Pod`."""

    _api_info = resource.api_info(core_v1.Pod)
    metadata: ObjectMeta | None = None
    spec: PodSpec | None = None
    status: PodStatus | None = None


class Node(resource.GlobalResource, _View, gc=True):
    """What the report reads of a Node; listed like lightkube's `Node`."""

    _api_info = resource.api_info(core_v1.Node)
    metadata: ObjectMeta | None = None
    spec: NodeSpec | None = None
    status: NodeStatus | None = None


class Job(resource.NamespacedResourceG, _View, gc=True):
    """What the conflict check reads of a batch/v1 Job: its metadata and spec, as plain mappings.

    `conflicts.job_templates` reads them as a manifest, and the webhook compares tolerations
    field by field, so the pod template stays whole; msgspec builds plain dicts for it, faster
    than lightkube's full models and their `to_dict()`, and skips `status` unbuilt.
    """

    _api_info = resource.api_info(batch_v1.Job)
    metadata: dict[str, Any] | None = None
    spec: dict[str, Any] | None = None


class InvolvedObject(_View):
    namespace: str | None = None
    kind: str | None = None
    name: str | None = None


class Event(resource.NamespacedResourceG, _View, gc=True):
    """What the conflict check reads of a Warning Event: which object, why, what it says."""

    _api_info = resource.api_info(core_v1.Event)
    involvedObject: InvolvedObject | None = None
    reason: str | None = None
    message: str | None = None
