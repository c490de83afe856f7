"""Kubeflow workload classes: which may use spot nodes, and how their pods are recognised.

This module is the single source of truth for "which class is this pod", shared by the renderer
(PodDefault selectors), the charm's config validation and the placement report. The exclusions
below classify a pod as ineligible, and their negations are in every PodDefault selector, so a
pod the report calls ineligible can never get a spot toleration from the charm. It imports
neither ops nor lightkube.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from label_selectors import LabelSelector, SelectorRequirement


class WorkloadClass(enum.StrEnum):
    """A kind of Kubeflow workload, as named in the `spot-workloads` option."""

    PIPELINES = "pipelines"
    TRAINING = "training"
    HPO = "hpo"
    SPARK = "spark"
    """Spark executors of the Kubeflow Spark operator (never the driver)."""
    BATCH = "batch"
    NOTEBOOKS = "notebooks"
    SERVING = "serving"
    DRIVERS = "drivers"
    """Spark drivers and Trainer v2 MPI launchers: the one pod that coordinates a job."""
    OPTED_OUT = "opted-out"
    """Pods labelled `kubeflow-spot/eligible: "false"`, whatever their workload."""
    DASHBOARDS = "dashboards"
    DATABASES = "databases"
    CONTROL_PLANE = "control-plane"
    OTHER = "other"
    """Reports only: a pod no rule recognises."""


SPOT_ELIGIBLE: tuple[WorkloadClass, ...] = (
    WorkloadClass.PIPELINES,
    WorkloadClass.TRAINING,
    WorkloadClass.HPO,
    WorkloadClass.SPARK,
    WorkloadClass.BATCH,
)
"""Classes that may run on spot: batch work that can be retried or resumed after an eviction."""

NEVER_ELIGIBLE: dict[WorkloadClass, str] = {
    WorkloadClass.NOTEBOOKS: "an eviction kills an interactive session and its unsaved work",
    WorkloadClass.SERVING: "an eviction takes a model server offline",
    WorkloadClass.DRIVERS: (
        "a Spark driver or MPI launcher coordinates its whole job: an eviction fails the job,"
        " and every executor's or node's work with it"
    ),
    WorkloadClass.OPTED_OUT: 'its pods are labelled kubeflow-spot/eligible: "false"',
    WorkloadClass.DASHBOARDS: "an eviction takes the Kubeflow UI offline",
    WorkloadClass.DATABASES: "an eviction interrupts the metadata and artifact stores",
    WorkloadClass.CONTROL_PLANE: "an eviction stops the controllers every other workload needs",
}
"""Classes that must never run on spot, with the reason shown to users who ask for them."""

ELIGIBLE_LABEL = "kubeflow-spot/eligible"
"""`"true"` makes any pod a `batch` workload; `"false"` keeps any pod off spot (`opted-out`)."""

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

# Kubeflow Trainer v2 runs a TrainJob as a JobSet. Labels from kubernetes-sigs/jobset v0.8.2 (the
# version kubeflow/trainer v2.0.0 requires) `labelAndAnnotateObject`, which labels each child
# Job's pod template: jobset-name, replicatedjob-name, restart-attempt, replicatedjob-replicas,
# job-index, job-key. ReplicatedJob names from Trainer v2.0.0 `pkg/constants/constants.go`.
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
REPLICATED_JOB_LABEL = "jobset.sigs.k8s.io/replicatedjob-name"
TRAINER_WORKER_JOBS = ("node", "dataset-initializer", "model-initializer")
"""Training nodes and the initializers that download a dataset or model before them: all of them
restart from their checkpoint or input after an eviction."""
TRAINER_LAUNCHER_JOB = "launcher"
"""The MPI launcher runs `mpirun` and drives every node over SSH: losing it fails the run."""

# Kubeflow Spark operator (kubeflow/spark-operator `pkg/common/spark.go`): Spark labels each
# pod with its role; the operator adds its `sparkoperator.k8s.io/*` labels to driver and executors.
SPARK_ROLE_LABEL = "spark-role"
SPARK_APP_LABEL = "sparkoperator.k8s.io/app-name"
SPARK_COORDINATOR_ROLES = ("driver", "connect-server")
"""The driver holds the application's state (losing it kills the application); a Spark Connect
server is a long-running server. Executors are restarted by the driver."""

CONTROL_PLANE_NAMESPACES: frozenset[str] = frozenset(
    {"kubeflow", "istio-system", "knative-serving", "knative-eventing", "cert-manager", "auth"}
)
"""Namespaces Charmed Kubeflow's own components run in, besides the model's and `kube-*`."""


@dataclass(frozen=True)
class Exclusion:
    """A label rule that makes a pod ineligible, whatever else it is labelled with."""

    workload: WorkloadClass
    """The ineligible class a pod that matches is reported as."""
    requirement: SelectorRequirement
    """An `Exists` or `In` requirement; every PodDefault selector carries its negation."""

    @property
    def negation(self) -> SelectorRequirement:
        """Return the requirement that holds exactly when this one does not."""
        negated = {"Exists": "DoesNotExist", "In": "NotIn"}[self.requirement.operator]
        return SelectorRequirement(self.requirement.key, negated, self.requirement.values)


EXCLUSIONS: tuple[Exclusion, ...] = (
    Exclusion(WorkloadClass.NOTEBOOKS, SelectorRequirement(NOTEBOOK_LABEL, "Exists")),
    Exclusion(WorkloadClass.SERVING, SelectorRequirement(KSERVE_LABEL, "Exists")),
    Exclusion(WorkloadClass.SERVING, SelectorRequirement(LEGACY_KFSERVING_LABEL, "Exists")),
    Exclusion(WorkloadClass.OPTED_OUT, SelectorRequirement(ELIGIBLE_LABEL, "In", ("false",))),
    Exclusion(
        WorkloadClass.DRIVERS,
        SelectorRequirement(SPARK_ROLE_LABEL, "In", SPARK_COORDINATOR_ROLES),
    ),
    Exclusion(
        WorkloadClass.DRIVERS,
        SelectorRequirement(REPLICATED_JOB_LABEL, "In", (TRAINER_LAUNCHER_JOB,)),
    ),
)
"""Checked in order before any eligible class: a notebook carrying a training label is still a
notebook."""

_NEVER_ON_SPOT = tuple(exclusion.negation for exclusion in EXCLUSIONS)


@dataclass(frozen=True)
class PodDefaultRule:
    """One PodDefault the charm renders for an eligible class, and the pods it selects."""

    name: str
    """The PodDefault's name after the application's: `<app>-<name>`."""
    workload: WorkloadClass
    selector: LabelSelector
    describes: str
    """Which pods it selects, for show-defaults."""


POD_DEFAULT_RULES: tuple[PodDefaultRule, ...] = (
    # Training Operator v1 (TFJob, PyTorchJob, ...) labels every replica pod with its job name.
    PodDefaultRule(
        "training",
        WorkloadClass.TRAINING,
        LabelSelector(
            match_expressions=(SelectorRequirement(TRAINING_JOB_LABEL, "Exists"), *_NEVER_ON_SPOT)
        ),
        "Training Operator v1 replicas (training.kubeflow.org/job-name)",
    ),
    PodDefaultRule(
        "trainjob",
        WorkloadClass.TRAINING,
        LabelSelector(
            match_expressions=(
                SelectorRequirement(JOBSET_NAME_LABEL, "Exists"),
                SelectorRequirement(REPLICATED_JOB_LABEL, "In", TRAINER_WORKER_JOBS),
                *_NEVER_ON_SPOT,
            )
        ),
        "Trainer v2 TrainJob nodes and initializers"
        f" ({REPLICATED_JOB_LABEL} in {', '.join(TRAINER_WORKER_JOBS)})",
    ),
    # Katib copies the Trial's labels onto each trial pod.
    PodDefaultRule(
        "hpo",
        WorkloadClass.HPO,
        LabelSelector(
            match_expressions=(SelectorRequirement(KATIB_TRIAL_LABEL, "Exists"), *_NEVER_ON_SPOT)
        ),
        "Katib trial pods (katib.kubeflow.org/trial)",
    ),
    PodDefaultRule(
        "spark",
        WorkloadClass.SPARK,
        LabelSelector(
            match_labels={SPARK_ROLE_LABEL: "executor"},
            match_expressions=(SelectorRequirement(SPARK_APP_LABEL, "Exists"), *_NEVER_ON_SPOT),
        ),
        "Spark operator executors (spark-role=executor, sparkoperator.k8s.io/app-name)",
    ),
    PodDefaultRule(
        "batch",
        WorkloadClass.BATCH,
        LabelSelector(match_labels={ELIGIBLE_LABEL: "true"}, match_expressions=_NEVER_ON_SPOT),
        f'pods labelled {ELIGIBLE_LABEL}: "true"',
    ),
)
"""Every PodDefault the charm can render, in classification order."""

POD_DEFAULT_CLASSES: tuple[WorkloadClass, ...] = tuple(
    dict.fromkeys(rule.workload for rule in POD_DEFAULT_RULES)
)
"""Eligible classes reached through PodDefaults; pipelines are reached through Argo instead."""


def pod_default_rules(workload: WorkloadClass) -> tuple[PodDefaultRule, ...]:
    """Return the PodDefaults that reach a class (none for pipelines)."""
    return tuple(rule for rule in POD_DEFAULT_RULES if rule.workload is workload)


def selected_classes(labels: Mapping[str, str]) -> list[WorkloadClass]:
    """Return the PodDefault classes whose selectors pick a pod with these labels."""
    selected = (rule.workload for rule in POD_DEFAULT_RULES if rule.selector.matches(labels))
    return list(dict.fromkeys(selected))


def exclusion_of(labels: Mapping[str, str]) -> WorkloadClass | None:
    """Return the ineligible class the labels put a pod in, or None."""
    for exclusion, selector in _EXCLUSION_SELECTORS:
        if selector.matches(labels):
            return exclusion.workload
    return None


_EXCLUSION_SELECTORS = tuple(
    (exclusion, LabelSelector(match_expressions=(exclusion.requirement,)))
    for exclusion in EXCLUSIONS
)


def classify_pod(
    labels: Mapping[str, str], namespace: str, control_plane_namespaces: Iterable[str]
) -> WorkloadClass:
    """Return the workload class of a pod from its labels and namespace.

    Exclusions come first, so a notebook, model server, driver or opted-out pod is never
    mistaken for batch work whatever else it is labelled with; a pod that a PodDefault of this
    module selects is classified as that PodDefault's class.
    """
    return _class_by_labels(labels) or _class_by_namespace(namespace, control_plane_namespaces)


def _class_by_namespace(namespace: str, control_plane_namespaces: Iterable[str]) -> WorkloadClass:
    if namespace in control_plane_namespaces or namespace.startswith("kube-"):
        return WorkloadClass.CONTROL_PLANE
    return WorkloadClass.OTHER


def _class_by_labels(labels: Mapping[str, str]) -> WorkloadClass | None:
    """Return the class the labels alone give a pod, or None: it goes by its namespace."""
    excluded = exclusion_of(labels)
    if excluded is not None:
        return excluded
    if ARGO_WORKFLOW_LABEL in labels and ARGO_COMPONENT_LABEL not in labels:
        return WorkloadClass.PIPELINES
    for rule in POD_DEFAULT_RULES:
        if rule.selector.matches(labels):
            return rule.workload
    return None


def _classifying_keys() -> tuple[frozenset[str], frozenset[str]]:
    """Return the label keys `_class_by_labels` reads, and those of them whose value it reads."""
    requirements = [exclusion.requirement for exclusion in EXCLUSIONS]
    keys = {ARGO_WORKFLOW_LABEL, ARGO_COMPONENT_LABEL}
    valued: set[str] = set()
    for rule in POD_DEFAULT_RULES:
        requirements.extend(rule.selector.match_expressions)
        keys.update(rule.selector.match_labels)
        valued.update(rule.selector.match_labels)
    for requirement in requirements:
        keys.add(requirement.key)
        if requirement.operator in ("In", "NotIn"):
            valued.add(requirement.key)
    return frozenset(keys), frozenset(valued)


_CLASSIFYING_KEYS, _VALUED_KEYS = _classifying_keys()


class PodClassifier:
    """`classify_pod` for a stream of pods, each distinct shape of labels classified once.

    A pod's class depends only on the few labels the rules read, and for most of those only on
    whether they are there; the rest (job and run names, hashes) varies from pod to pod. Pods
    of one workload share that shape, so 10,000 pods take a few dozen classifications (issue 13).
    At most `MAX_SHAPES` shapes are kept.
    """

    MAX_SHAPES = 4096

    def __init__(self, control_plane_namespaces: Iterable[str]):
        self._control_plane = frozenset(control_plane_namespaces)
        self._by_shape: dict[tuple[tuple[str, str], ...], WorkloadClass | None] = {}

    def __call__(self, labels: Mapping[str, str], namespace: str) -> WorkloadClass:
        """Return `classify_pod(labels, namespace, control_plane_namespaces)`."""
        shape = tuple(
            (key, value if key in _VALUED_KEYS else "")
            for key, value in labels.items()
            if key in _CLASSIFYING_KEYS
        )
        try:
            by_labels = self._by_shape[shape]
        except KeyError:
            if len(self._by_shape) >= self.MAX_SHAPES:
                self._by_shape.clear()
            by_labels = self._by_shape[shape] = _class_by_labels(dict(shape))
        return by_labels or _class_by_namespace(namespace, self._control_plane)


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
