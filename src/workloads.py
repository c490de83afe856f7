"""Kubeflow workload classes: which may use spot nodes, and how their pods are recognised.

This module is the single source of truth for "which class is this pod", shared by the renderer
(PodDefault selectors), the charm's config validation and the placement report. It imports
neither ops nor lightkube.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence

from label_selectors import LabelSelector, SelectorRequirement


class WorkloadClass(enum.StrEnum):
    """A kind of Kubeflow workload, as named in the `spot-workloads` option."""

    PIPELINES = "pipelines"
    TRAINING = "training"
    HPO = "hpo"
    BATCH = "batch"
    NOTEBOOKS = "notebooks"
    SERVING = "serving"
    DASHBOARDS = "dashboards"
    DATABASES = "databases"
    CONTROL_PLANE = "control-plane"
    OTHER = "other"
    """Reports only: a pod no rule recognises."""


SPOT_ELIGIBLE: tuple[WorkloadClass, ...] = (
    WorkloadClass.PIPELINES,
    WorkloadClass.TRAINING,
    WorkloadClass.HPO,
    WorkloadClass.BATCH,
)
"""Classes that may run on spot: batch work that can be retried or resumed after an eviction."""

NEVER_ELIGIBLE: dict[WorkloadClass, str] = {
    WorkloadClass.NOTEBOOKS: "an eviction kills an interactive session and its unsaved work",
    WorkloadClass.SERVING: "an eviction takes a model server offline",
    WorkloadClass.DASHBOARDS: "an eviction takes the Kubeflow UI offline",
    WorkloadClass.DATABASES: "an eviction interrupts the metadata and artifact stores",
    WorkloadClass.CONTROL_PLANE: "an eviction stops the controllers every other workload needs",
}
"""Classes that must never run on spot, with the reason shown to users who ask for them."""

BATCH_OPT_IN_LABEL = "kubeflow-spot/eligible"
"""Label a user puts on any pod (`"true"`) to make it a `batch` workload."""

NOTEBOOK_LABEL = "notebook-name"
"""Set by the notebook controller on every notebook pod."""

KSERVE_LABEL = "serving.kserve.io/inferenceservice"
"""Set by KServe on every predictor, transformer and explainer pod."""

LEGACY_KFSERVING_LABEL = "serving.kubeflow.org/inferenceservice"
ARGO_WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
"""Set by the Argo controller on every pod of a Workflow."""
ARGO_COMPONENT_LABEL = "workflows.argoproj.io/component"
"""Set on Argo's own agent and artifact-GC pods, which are not pipeline steps."""
TRAINING_JOB_LABEL = "training.kubeflow.org/job-name"
KATIB_TRIAL_LABEL = "katib.kubeflow.org/trial"

CONTROL_PLANE_NAMESPACES: frozenset[str] = frozenset(
    {"kubeflow", "istio-system", "knative-serving", "knative-eventing", "cert-manager", "auth"}
)
"""Namespaces Charmed Kubeflow's own components run in, besides the model's and `kube-*`."""


# Pods that must never get a spot toleration, whatever other labels they carry: a notebook that
# happens to carry a training label is still a notebook.
_NEVER_ON_SPOT = (
    SelectorRequirement(NOTEBOOK_LABEL, "DoesNotExist"),
    SelectorRequirement(KSERVE_LABEL, "DoesNotExist"),
    SelectorRequirement(LEGACY_KFSERVING_LABEL, "DoesNotExist"),
)

_CLASS_SELECTORS: dict[WorkloadClass, LabelSelector] = {
    # Training Operator v1 (TFJob, PyTorchJob, ...) labels every replica pod with its job name.
    WorkloadClass.TRAINING: LabelSelector(
        match_expressions=(SelectorRequirement(TRAINING_JOB_LABEL, "Exists"), *_NEVER_ON_SPOT)
    ),
    # Katib copies the Trial's labels onto each trial pod.
    WorkloadClass.HPO: LabelSelector(
        match_expressions=(SelectorRequirement(KATIB_TRIAL_LABEL, "Exists"), *_NEVER_ON_SPOT)
    ),
    WorkloadClass.BATCH: LabelSelector(
        match_labels={BATCH_OPT_IN_LABEL: "true"}, match_expressions=_NEVER_ON_SPOT
    ),
}

POD_DEFAULT_CLASSES: tuple[WorkloadClass, ...] = tuple(_CLASS_SELECTORS)
"""Eligible classes reached through PodDefaults; pipelines are reached through Argo instead."""


def pod_default_selector(workload: WorkloadClass) -> LabelSelector:
    """Return the PodDefault selector for an eligible non-pipeline class.

    Raises:
        KeyError: the class is not delivered through a PodDefault.

    """
    return _CLASS_SELECTORS[workload]


def selected_classes(labels: Mapping[str, str]) -> list[WorkloadClass]:
    """Return the PodDefault classes whose selectors pick a pod with these labels."""
    return [cls for cls, sel in _CLASS_SELECTORS.items() if sel.matches(labels)]


def classify_pod(
    labels: Mapping[str, str], namespace: str, control_plane_namespaces: Iterable[str]
) -> WorkloadClass:
    """Return the workload class of a pod from its labels and namespace.

    Exclusions come first, so a notebook or model server is never mistaken for batch work
    whatever else it is labelled with; a pod that a PodDefault of this module selects is
    classified as that PodDefault's class.
    """
    if NOTEBOOK_LABEL in labels:
        return WorkloadClass.NOTEBOOKS
    if KSERVE_LABEL in labels or LEGACY_KFSERVING_LABEL in labels:
        return WorkloadClass.SERVING
    if ARGO_WORKFLOW_LABEL in labels and ARGO_COMPONENT_LABEL not in labels:
        return WorkloadClass.PIPELINES
    for workload in POD_DEFAULT_CLASSES:
        if _CLASS_SELECTORS[workload].matches(labels):
            return workload
    if namespace in control_plane_namespaces or namespace.startswith("kube-"):
        return WorkloadClass.CONTROL_PLANE
    return WorkloadClass.OTHER


def parse_workload_list(raw: str) -> tuple[list[WorkloadClass], list[str], list[str]]:
    """Split a comma-separated `spot-workloads` value.

    Returns:
        The eligible classes in the order given (duplicates dropped), the names that are known
        but never eligible, and the names that are unknown.

    """
    eligible: list[WorkloadClass] = []
    ineligible: list[str] = []
    unknown: list[str] = []
    for name in _split_names(raw):
        if name in {c.value for c in SPOT_ELIGIBLE}:
            workload = WorkloadClass(name)
            if workload not in eligible:
                eligible.append(workload)
        elif name in {c.value for c in NEVER_ELIGIBLE}:
            ineligible.append(name)
        else:
            unknown.append(name)
    return eligible, ineligible, unknown


def _split_names(raw: str) -> Sequence[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]
