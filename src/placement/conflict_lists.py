"""Read the workloads whose pods the PodDefault webhook rejects because of our PodDefaults.

The reconcile's conflict check (every update-status) and `report-placement` (on a side thread,
while the pods stream) both list these: Jobs, Warning events and, for the report, every
Training Operator, Trainer and Katib kind whose CRD is installed. The templates and events are
judged by the pure `conflicts` module. This module only reads, and it does not import ops.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import httpx2
from lightkube import ALL_NS, ApiError, Client
from lightkube.generic_resource import create_namespaced_resource

from conflicts import (
    TRAINING_OPERATOR_KINDS,
    ChargedPodDefault,
    Conflict,
    EventFacts,
    PodTemplateFacts,
    event_conflict,
    experiment_templates,
    job_templates,
    template_conflict,
    training_job_templates,
    trainjob_templates,
    unique_conflicts,
)
from identity import status_code
from placement import views
from placement.paging import PAGE_SIZE

_TRAINING_RESOURCES = {
    kind: create_namespaced_resource("kubeflow.org", "v1", kind, f"{kind.lower()}s")
    for kind in TRAINING_OPERATOR_KINDS
}
_TRAINJOB = create_namespaced_resource("trainer.kubeflow.org", "v1alpha1", "TrainJob", "trainjobs")
_EXPERIMENT = create_namespaced_resource("kubeflow.org", "v1beta1", "Experiment", "experiments")


def read_conflicts(
    client: Client,
    namespace: str,
    pod_defaults: Sequence[ChargedPodDefault],
    *,
    every_kind: bool,
) -> list[Conflict]:
    """Return the workloads whose pods the PodDefault webhook rejects because of our PodDefaults.

    One paginated LIST of batch/v1 Jobs (which covers the Jobs JobSet creates for TrainJobs and
    Katib for trials) and one of Warning events (FailedCreate of pods already rejected); with
    `every_kind`, also one LIST per Training Operator v1 kind, TrainJobs and Katib Experiments,
    each skipped when its CRD is not installed. Nothing is read without PodDefaults to conflict
    with. API errors are raised to the caller.
    """
    if not pod_defaults:
        return []
    scope = namespace or ALL_NS
    found: list[Conflict] = []
    templates: list[PodTemplateFacts] = []
    for job in client.list(views.Job, namespace=scope, chunk_size=PAGE_SIZE):
        templates.extend(job_templates({"metadata": job.metadata or {}, "spec": job.spec or {}}))
    if every_kind:
        sources: list[tuple[Any, Callable[[Mapping[str, Any]], list[PodTemplateFacts]]]] = [
            (resource, partial(training_job_templates, kind))
            for kind, resource in _TRAINING_RESOURCES.items()
        ]
        sources += [(_TRAINJOB, trainjob_templates), (_EXPERIMENT, experiment_templates)]
        for resource, extract in sources:
            try:
                for obj in client.list(resource, namespace=scope, chunk_size=PAGE_SIZE):
                    templates.extend(extract(obj.to_dict()))
            except (ApiError, httpx2.HTTPStatusError) as error:
                # Without the CRD the API server answers a plain-text 404 ("404 page not
                # found", seen on kube-apiserver 1.36), which lightkube raises as an
                # HTTPStatusError rather than an ApiError.
                if status_code(error) != 404:
                    raise
    for template in templates:
        conflict = template_conflict(template, pod_defaults)
        if conflict is not None:
            found.append(conflict)
    ours = [pod_default.name for pod_default in pod_defaults]
    events = client.list(
        views.Event, namespace=scope, fields={"type": "Warning"}, chunk_size=PAGE_SIZE
    )
    for event in events:
        involved = event.involvedObject or views.InvolvedObject()
        facts = EventFacts(
            involved.namespace or "",
            event.reason or "",
            event.message or "",
            involved.kind or "",
            involved.name or "",
        )
        conflict = event_conflict(facts, ours)
        if conflict is not None:
            found.append(conflict)
    return unique_conflicts(found)
