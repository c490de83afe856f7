"""Workloads whose pods the PodDefault webhook rejects because of the charm's spot toleration.

Kubeflow's PodDefault webhook (kubeflow/dashboard `components/poddefaults-webhooks/main.go`,
`mergeTolerations`) indexes a pod's tolerations by key and denies the pod when a PodDefault that
selects it carries a toleration with a key the pod already tolerates, unless the two are
identical field by field (`reflect.DeepEqual`: an omitted operator is not "Equal" there). A
training job that tolerates the spot taint its own way therefore stops starting once the charm's
PodDefault selects it. This module finds such workloads, pure: from pod templates before any pod
is created, and from the `FailedCreate` events controllers record when a create was denied.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from label_selectors import LabelSelector
from render import pod_default_name, rendered_rules
from spot_config import SpotConfig
from workloads import (
    JOBSET_NAME_LABEL,
    KATIB_TRIAL_LABEL,
    REPLICATED_JOB_LABEL,
    TRAINING_JOB_LABEL,
    WorkloadClass,
    classify_pod,
)

EXCLUDE_ANNOTATION = "poddefault.admission.kubeflow.org/exclude"
"""The webhook skips a pod annotated with this, exactly `"true"`."""
DENIAL_MARKER = "conflict occurred while applying poddefaults: "
"""What the webhook's denial says; controllers copy it into their FailedCreate events."""
_DENIAL_RE = re.compile(r"conflict occurred while applying poddefaults: (?P<names>\S*) on pod:")
FAILED_CREATE_REASONS = frozenset({"FailedCreate", "FailedCreatePod"})
"""`FailedCreate`: Kubernetes' Job, ReplicaSet and StatefulSet controllers; `FailedCreatePod`:
the Training Operator (kubeflow/common pod control)."""


_TOLERATION_FIELDS = ("key", "operator", "value", "effect", "tolerationSeconds")


def go_toleration(toleration: Mapping[str, object]) -> tuple[object, ...]:
    """Return a toleration's fields as Go's corev1.Toleration holds them, for DeepEqual."""
    return tuple(
        toleration.get(name) or ("" if name != "tolerationSeconds" else None)
        for name in _TOLERATION_FIELDS
    )


def conflicting_toleration(
    tolerations: Iterable[Mapping[str, object]], ours: Mapping[str, object]
) -> Mapping[str, object] | None:
    """Return the pod's toleration that makes the webhook reject ours, or None.

    Like `mergeTolerations`, the last of several tolerations with our key is the one compared.
    """
    same_key = [t for t in tolerations if (t.get("key") or "") == ours["key"]]
    if not same_key or go_toleration(same_key[-1]) == go_toleration(ours):
        return None
    return same_key[-1]


def format_toleration(toleration: Mapping[str, object]) -> str:
    """Write a toleration compactly, as JSON, its fields in the order the API documents them."""
    ordered = {name: toleration[name] for name in _TOLERATION_FIELDS if name in toleration}
    return json.dumps(ordered, separators=(", ", ": "))


@dataclass(frozen=True)
class ChargedPodDefault:
    """One PodDefault the charm renders: its name, class, selector and toleration."""

    name: str
    workload: WorkloadClass
    selector: LabelSelector
    toleration: Mapping[str, object]


@dataclass(frozen=True)
class PodTemplateFacts:
    """A workload object's pod template, with the labels its pods will carry."""

    kind: str
    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, object], ...] = ()


@dataclass(frozen=True)
class Conflict:
    """A workload whose pods the webhook rejects (or will) because of one of our PodDefaults."""

    kind: str
    namespace: str
    name: str
    pod_default: str
    workload: WorkloadClass | None
    toleration: Mapping[str, object] | None
    """The workload's own toleration for the spot key; None when only an event tells."""
    seen_in: str
    """`pod template` (found before any pod is rejected) or `FailedCreate event`."""

    def describe(self, ours: Mapping[str, object] | None) -> str:
        """Say which workload conflicts, with what, and how to fix it."""
        what = f"{self.kind} {self.namespace}/{self.name}"
        if self.workload is not None:
            what += f" ({self.workload})"
        if self.toleration is not None:
            what += f" tolerates {format_toleration(self.toleration)}"
        fix = (
            f"use exactly {format_toleration(ours)} (show-defaults), or drop its own"
            if ours is not None
            else "drop its own toleration for the spot key"
        )
        return (
            f"{what}; the PodDefault webhook rejects its pods ({self.pod_default}, seen in"
            f" {self.seen_in}). Fix: {fix}; or keep it off spot with the pod label"
            f' kubeflow-spot/eligible: "false" or the annotation {EXCLUDE_ANNOTATION}: "true"'
        )


def template_conflict(
    template: PodTemplateFacts, pod_defaults: Sequence[ChargedPodDefault]
) -> Conflict | None:
    """Return the conflict a pod of this template meets at admission, or None."""
    if template.annotations.get(EXCLUDE_ANNOTATION) == "true":
        return None
    for pod_default in pod_defaults:
        if not pod_default.selector.matches(template.labels):
            continue
        own = conflicting_toleration(template.tolerations, pod_default.toleration)
        if own is not None:
            workload = classify_pod(template.labels, template.namespace, ())
            return Conflict(
                template.kind,
                template.namespace,
                template.name,
                pod_default.name,
                workload,
                own,
                "pod template",
            )
    return None


@dataclass(frozen=True)
class EventFacts:
    """A Warning event about a workload object."""

    namespace: str
    reason: str
    message: str
    kind: str
    name: str


def event_conflict(event: EventFacts, our_pod_defaults: Iterable[str]) -> Conflict | None:
    """Return the conflict a FailedCreate event reports for one of our PodDefaults, or None."""
    if event.reason not in FAILED_CREATE_REASONS:
        return None
    match = _DENIAL_RE.search(event.message)
    if match is None:
        return None
    names = match["names"].split(",")
    ours = [name for name in names if name in set(our_pod_defaults)]
    if not ours:
        return None
    conflicted = [name for name in ours if f"merging tolerations for {name} " in event.message]
    return Conflict(
        event.kind,
        event.namespace,
        event.name,
        (conflicted or ours)[0],
        None,
        None,
        f"{event.reason} event",
    )


def unique_conflicts(conflicts: Iterable[Conflict]) -> list[Conflict]:
    """Return one conflict per workload, preferring what its pod template tells."""
    by_workload: dict[tuple[str, str, str], Conflict] = {}
    for conflict in conflicts:
        key = (conflict.kind, conflict.namespace, conflict.name)
        if key not in by_workload or conflict.toleration is not None:
            by_workload[key] = conflict
    return list(by_workload.values())


def charged_pod_defaults(config: SpotConfig, app: str) -> tuple[ChargedPodDefault, ...]:
    """Return the PodDefaults the config renders, as the conflict checks need them."""
    taint = config.profile.taint
    if taint is None:
        return ()
    return tuple(
        ChargedPodDefault(
            pod_default_name(rule, app), rule.workload, rule.selector, taint.toleration()
        )
        for rule in rendered_rules(config)
    )


# --- Pod templates of the workload objects whose controllers create the pods ------------------

Manifest = Mapping[str, Any]

TRAINING_OPERATOR_KINDS = ("PyTorchJob", "TFJob", "XGBoostJob", "MPIJob", "PaddleJob", "JAXJob")
"""Training Operator v1 (`kubeflow.org/v1`) jobs: `spec.<x>ReplicaSpecs.<type>.template`."""


def _meta(obj: Manifest) -> tuple[str, str, Mapping[str, Any]]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or "", meta


def _template(
    kind: str, namespace: str, name: str, template: Manifest, extra: Mapping[str, str]
) -> PodTemplateFacts:
    meta = template.get("metadata") or {}
    spec = template.get("spec") or {}
    return PodTemplateFacts(
        kind,
        namespace,
        name,
        {**(meta.get("labels") or {}), **extra},
        dict(meta.get("annotations") or {}),
        tuple(spec.get("tolerations") or ()),
    )


def job_templates(job: Manifest) -> list[PodTemplateFacts]:
    """Return a batch/v1 Job's pod template, labelled as the Job controller labels its pods.

    JobSet's child Jobs (Trainer v2) carry the JobSet labels in this template already; a Job a
    Katib Trial owns gets the trial label on its pods from Katib's webhook.
    """
    namespace, name, meta = _meta(job)
    extra = {"job-name": name, "batch.kubernetes.io/job-name": name}
    for owner in meta.get("ownerReferences") or ():
        if owner.get("kind") == "Trial":
            extra[KATIB_TRIAL_LABEL] = owner.get("name") or name
    template = (job.get("spec") or {}).get("template") or {}
    return [_template("Job", namespace, name, template, extra)]


def training_job_templates(
    kind: str, job: Manifest, extra: Mapping[str, str] | None = None
) -> list[PodTemplateFacts]:
    """Return the replica templates of a Training Operator v1 job, as its pods are labelled."""
    namespace, name, _ = _meta(job)
    templates = []
    for field_name, replicas in (job.get("spec") or {}).items():
        if not field_name.endswith("ReplicaSpecs") or not isinstance(replicas, Mapping):
            continue
        for replica_type, replica in replicas.items():
            labels = {
                TRAINING_JOB_LABEL: name,
                "training.kubeflow.org/replica-type": str(replica_type).lower(),
                **(extra or {}),
            }
            template = (replica or {}).get("template") or {}
            templates.append(_template(kind, namespace, name, template, labels))
    return templates


def trainjob_templates(trainjob: Manifest) -> list[PodTemplateFacts]:
    """Return what a TrainJob's `podSpecOverrides` add to the pods of each job they target."""
    namespace, name, _ = _meta(trainjob)
    templates = []
    for override in (trainjob.get("spec") or {}).get("podSpecOverrides") or ():
        for target in override.get("targetJobs") or ():
            labels = {JOBSET_NAME_LABEL: name, REPLICATED_JOB_LABEL: target.get("name") or ""}
            template = {"spec": {"tolerations": override.get("tolerations") or []}}
            templates.append(_template("TrainJob", namespace, name, template, labels))
    return templates


def experiment_templates(experiment: Manifest) -> list[PodTemplateFacts]:
    """Return the pod templates of a Katib Experiment's trial spec (a Job or a training job)."""
    namespace, name, _ = _meta(experiment)
    trial = ((experiment.get("spec") or {}).get("trialTemplate") or {}).get("trialSpec") or {}
    extra = {KATIB_TRIAL_LABEL: f"{name}-trial"}
    if trial.get("kind") == "Job":
        template = (trial.get("spec") or {}).get("template") or {}
        return [_template("Experiment", namespace, name, template, extra)]
    if trial.get("kind") in TRAINING_OPERATOR_KINDS:
        renamed = {**trial, "metadata": {"namespace": namespace, "name": name}}
        return training_job_templates("Experiment", renamed, extra)
    return []
