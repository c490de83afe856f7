"""Pods shaped the way Kubeflow's components create them, for tests and the demo.

No Argo controller, PodDefault webhook, Katib, Training Operator, Trainer, Spark operator,
notebook controller or KServe runs on the local control plane, so this module plays their part on
the pod spec: labels as each component sets them (see argo-kfp-semantics.md §4), scheduling
fields the way Argo merges workflowDefaults into a step pod, and tolerations the way the
PodDefault webhook merges them, rejections included. The real kube-scheduler then decides where
each pod goes.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

from lightkube import Client
from lightkube.models.batch_v1 import JobSpec
from lightkube.models.core_v1 import (
    Affinity,
    Container,
    EventSource,
    ObjectReference,
    PodSpec,
    PodTemplateSpec,
    ResourceRequirements,
    Toleration,
)
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Event, Pod

from applier import PodDefault
from label_selectors import LabelSelector

KFP_V2_STEP_LABELS = {
    "workflows.argoproj.io/completed": "false",
    "pipelines.kubeflow.org/v2_component": "true",
    "pipeline/runid": "0f7c1d2e-run",
}


WEBHOOK_NAME = "admission-webhook.kubeflow.org"
"""The CKF admission-webhook charm's MutatingWebhookConfiguration entry (its
`src/templates/webhook_configuration.yaml.j2`); the API server names it in a denial."""
EXCLUDE_ANNOTATION = "poddefault.admission.kubeflow.org/exclude"
APPLIED_ANNOTATION_PREFIX = "poddefault.admission.kubeflow.org/poddefault-"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"


class PodDefaultConflictError(ValueError):
    """The PodDefault webhook would deny the pod; the message is the API server's.

    The webhook answers with a Status message and no code; the API server turns that into a
    400 whose message starts `admission webhook "<name>" denied the request: ` (k8s.io/apiserver
    `admission/plugin/webhook/errors` ToStatusErr). Workload controllers record that message in
    their FailedCreate events, prefixed `Error creating: `.
    """

    def __init__(self, pod_defaults: list[str], pod_name: str, conflicts: list[str]):
        self.pod_defaults = pod_defaults
        self.conflicts = list(dict.fromkeys(conflicts))  # utilerrors.NewAggregate drops repeats
        err = self.conflicts[0] if len(self.conflicts) == 1 else f"[{', '.join(self.conflicts)}]"
        self.webhook_message = (
            f"conflict occurred while applying poddefaults: {','.join(pod_defaults)}"
            f" on pod: {pod_name} err: {err}"
        )
        super().__init__(
            f'admission webhook "{WEBHOOK_NAME}" denied the request: {self.webhook_message}'
        )


def _pod(name: str, namespace: str, labels: Mapping[str, str], spec: dict[str, Any]) -> Pod:
    container = Container(
        name="main",
        image="registry.invalid/kubeflow-spot/workload:demo",
        resources=ResourceRequirements(requests={"cpu": "250m", "memory": "256Mi"}),
    )
    return Pod(
        metadata=ObjectMeta(name=name, namespace=namespace, labels=dict(labels)),
        spec=PodSpec(containers=[container], **spec),
    )


# spot-fallback-after's tags: `{{=asInt(retries) >= N ... ? 'then' : 'else'}}`.
_RETRIES_TAG = re.compile(r"\{\{=asInt\(retries\) >= [0-9]+[^}]* \? '([^']*)' : '([^']*)'\}\}")


def resolve_fallback(value: Any, *, fell_back: bool = False) -> Any:
    """Resolve the charm's Argo expression tags for a first attempt, or one that fell back.

    A first attempt has `retries` 0, so every `asInt(retries) >= N` (N >= 1) is false; the
    real controller's resolution is what tests/e2e/test_fallback.py checks.
    """
    return json.loads(_RETRIES_TAG.sub(r"\1" if fell_back else r"\2", json.dumps(value)))


def pipeline_step(name: str, namespace: str, workflow_defaults: Mapping[str, Any]) -> Pod:
    """Build a KFP v2 step pod as Argo does for a Workflow with no scheduling fields of its own.

    Argo merges `workflowDefaults` under the Workflow, then gives each pod the workflow-level
    tolerations and affinity, unless its template has an affinity (here: from
    `templateDefaults`, which spot-fallback-after sets), and `podMetadata` and template labels.
    The pod is the step's first attempt.
    """
    spec = resolve_fallback(workflow_defaults.get("spec", {}))
    template = spec.get("templateDefaults", {})
    labels = {
        **KFP_V2_STEP_LABELS,
        "workflows.argoproj.io/workflow": name.rsplit("-", 1)[0],
        **spec.get("podMetadata", {}).get("labels", {}),
        **template.get("metadata", {}).get("labels", {}),
    }
    scheduling: dict[str, Any] = {}
    if "tolerations" in spec:
        scheduling["tolerations"] = [Toleration.from_dict(t) for t in spec["tolerations"]]
    if "affinity" in template or "affinity" in spec:
        scheduling["affinity"] = Affinity.from_dict(template.get("affinity") or spec["affinity"])
    return _pod(name, namespace, labels, scheduling)


def katib_trial(name: str, namespace: str) -> Pod:
    """Build a Katib trial pod, labelled with its experiment and trial."""
    labels = {"katib.kubeflow.org/experiment": "tune-lr", "katib.kubeflow.org/trial": name}
    return _pod(name, namespace, labels, {})


def training_worker(name: str, namespace: str) -> Pod:
    """Build a Training Operator v1 PyTorchJob worker pod."""
    labels = {
        "training.kubeflow.org/job-name": "mnist-ddp",
        "training.kubeflow.org/operator-name": "pytorchjob-controller",
        "training.kubeflow.org/replica-type": "worker",
        "training.kubeflow.org/replica-index": "0",
    }
    return _pod(name, namespace, labels, {})


# Kubeflow Trainer v2 runs a TrainJob as a JobSet; labels as kubernetes-sigs/jobset v0.8.2 (the
# version kubeflow/trainer v2.0.0's go.mod requires) puts them on each child Job and its pod
# template in `labelAndAnnotateObject`, plus what the Job controller adds to an Indexed Job's pods.
# ReplicatedJob names from kubeflow/trainer v2.0.0 `pkg/constants/constants.go` and
# `manifests/base/runtimes/*.yaml`: `node`, `dataset-initializer`, `model-initializer`,
# `launcher` (MPI). `trainer.kubeflow.org/trainjob-ancestor-step` is on the Job only, not the pod.
TRAINJOB_REPLICATED_JOBS = ("node", "dataset-initializer", "model-initializer", "launcher")


def trainjob_pod(
    name: str, namespace: str, replicated_job: str = "node", *, trainjob: str = "llama-ft"
) -> Pod:
    """Build a pod of a Trainer v2 TrainJob: one of its JobSet's ReplicatedJobs' Job pods."""
    job = f"{trainjob}-{replicated_job}-0"
    job_key = hashlib.sha1(f"{namespace}/{job}".encode()).hexdigest()  # noqa: S324, as JobSet
    labels = {
        "jobset.sigs.k8s.io/jobset-name": trainjob,
        "jobset.sigs.k8s.io/replicatedjob-name": replicated_job,
        "jobset.sigs.k8s.io/restart-attempt": "0",
        "jobset.sigs.k8s.io/replicatedjob-replicas": "1",
        "jobset.sigs.k8s.io/job-index": "0",
        "jobset.sigs.k8s.io/job-key": job_key,
        "batch.kubernetes.io/job-name": job,
        "job-name": job,
        "batch.kubernetes.io/job-completion-index": "0",
    }
    pod = _pod(name, namespace, labels, {})
    assert pod.metadata is not None
    pod.metadata.annotations = {
        "jobset.sigs.k8s.io/jobset-name": trainjob,
        "jobset.sigs.k8s.io/replicatedjob-name": replicated_job,
        "batch.kubernetes.io/job-completion-index": "0",
    }
    pod.metadata.ownerReferences = [_owner("batch/v1", "Job", job)]
    return pod


# Kubeflow Spark operator pods: `sparkoperator.k8s.io/*` labels from kubeflow/spark-operator
# `pkg/common/spark.go` and `internal/controller/sparkapplication/submission.go`
# (driverConfOption, executorConfOption: app-name, launched-by-spark-operator, submission-id,
# mutated-by-spark-operator without a pod template); `spark-role`, `spark-app-selector` and
# `spark-exec-id` are Spark's own (org.apache.spark.deploy.k8s.Constants). The driver belongs to
# the SparkApplication, each executor to the driver pod.
def spark_pod(name: str, namespace: str, role: str, *, app: str = "spark-pi") -> Pod:
    """Build a Spark driver or executor pod of a SparkApplication."""
    labels = {
        "spark-role": role,
        "spark-app-selector": "spark-8f4c1d2e7a9b4c03b1e2d3f4a5b6c7d8",
        "sparkoperator.k8s.io/app-name": app,
        "sparkoperator.k8s.io/launched-by-spark-operator": "true",
        "sparkoperator.k8s.io/submission-id": "0907b7aa-3049-4149-81e8-0d1135b0bc5f",
        "sparkoperator.k8s.io/mutated-by-spark-operator": "true",
    }
    if role == "executor":
        labels |= {"spark-exec-id": "1", "spark-exec-resourceprofile-id": "0"}
    pod = _pod(name, namespace, labels, {})
    assert pod.metadata is not None
    pod.metadata.ownerReferences = [
        _owner("sparkoperator.k8s.io/v1beta2", "SparkApplication", app)
        if role == "driver"
        else _owner("v1", "Pod", f"{app}-driver")
    ]
    return pod


def _owner(api_version: str, kind: str, name: str) -> OwnerReference:
    uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}/{name}"))
    return OwnerReference(apiVersion=api_version, kind=kind, name=name, uid=uid, controller=True)


def eligible_job(name: str, namespace: str, tolerations: list[dict[str, Any]]) -> Job:
    """Build a suspended batch/v1 Job whose pods opt in to spot as `batch`, with tolerations.

    Suspended, so no controller would create its pods: the charm has to find a conflict in the
    template before any pod is rejected.
    """
    template = _pod(name, namespace, {"kubeflow-spot/eligible": "true"}, {})
    assert template.spec is not None
    template.spec.restartPolicy = "Never"
    template.spec.tolerations = [cast(Toleration, Toleration.from_dict(t)) for t in tolerations]
    return Job(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=JobSpec(
            suspend=True,
            template=PodTemplateSpec(metadata=template.metadata, spec=template.spec),
        ),
    )


def failed_create_event(owner: Job, error: PodDefaultConflictError) -> Event:
    """Build the Warning event the Job controller records when a pod create is denied.

    kubernetes `pkg/controller/controller_utils.go` RealPodControl: reason `FailedCreate`,
    message `Error creating: <API error>`; the Training Operator v1 records the same message
    with reason `FailedCreatePod`.
    """
    metadata = owner.metadata
    assert metadata is not None
    assert metadata.name is not None
    now = datetime.now(UTC)
    return Event(
        metadata=ObjectMeta(
            name=f"{metadata.name}.{now.strftime('%H%M%S%f')}", namespace=metadata.namespace
        ),
        involvedObject=ObjectReference(
            apiVersion="batch/v1",
            kind="Job",
            name=metadata.name,
            namespace=metadata.namespace,
            uid=metadata.uid,
        ),
        reason="FailedCreate",
        message=f"Error creating: {error}",
        type="Warning",
        source=EventSource(component="job-controller"),
        count=1,
        firstTimestamp=now,
        lastTimestamp=now,
    )


def notebook(name: str, namespace: str) -> Pod:
    """Build a notebook pod as the notebook controller's StatefulSet creates it."""
    labels = {"notebook-name": name.rsplit("-", 1)[0], "statefulset": name.rsplit("-", 1)[0]}
    return _pod(name, namespace, labels, {})


def kserve_predictor(name: str, namespace: str) -> Pod:
    """Build a KServe predictor pod of an InferenceService."""
    labels = {"serving.kserve.io/inferenceservice": "sklearn-iris", "component": "predictor"}
    return _pod(name, namespace, labels, {})


def admit(client: Client, pod: Pod) -> Pod:
    """Apply the pod's namespace's PodDefaults to it, as the Kubeflow PodDefault webhook does.

    The PodDefaults are listed from the API server (in its name order); see `apply_pod_defaults`
    for the rules.

    Raises:
        PodDefaultConflictError: the webhook would deny the pod.

    """
    assert pod.metadata is not None
    pod_defaults = list(client.list(PodDefault, namespace=pod.metadata.namespace))
    return apply_pod_defaults(pod, pod_defaults)


def apply_pod_defaults(pod: Pod, pod_defaults: Iterable[Any]) -> Pod:
    """Merge the PodDefaults that select the pod into it, or reject it, as the webhook does.

    Read from kubeflow/dashboard `components/poddefaults-webhooks/main.go` (stored copy at
    634378711ff3, the code the CKF admission-webhook image builds): `mutatePods` returns at once
    for a pod annotated `poddefault.admission.kubeflow.org/exclude: "true"` or a mirror pod;
    `filterPodDefaults` keeps PodDefaults of the pod's namespace whose selector matches;
    `safeToApplyPodDefaultsOnPod` checks every merge first and denies the pod with all conflicts
    at once. `mergeTolerations` indexes the pod's tolerations by key alone: a PodDefault
    toleration with a new key is appended (later PodDefaults then compare with it), one with a
    known key must be `reflect.DeepEqual` to it, field by field, or the pod is denied. DeepEqual
    compares the fields as written: an omitted operator is not "Equal" there. Labels and
    annotations merge the same way (`mergeMap`, a known key with another value conflicts). Each
    applied PodDefault leaves the annotation `poddefault.admission.kubeflow.org/poddefault-<name>`.
    Only these fields are merged; a PodDefault with any other (env, volumes, ...) is refused here
    rather than merged wrongly, since the charm's PodDefaults never carry them.

    Raises:
        PodDefaultConflictError: the webhook would deny the pod.

    """
    metadata, spec = pod.metadata, pod.spec
    assert metadata is not None
    assert spec is not None
    annotations = dict(metadata.annotations or {})
    if annotations.get(EXCLUDE_ANNOTATION) == "true" or MIRROR_POD_ANNOTATION in annotations:
        return pod
    labels = dict(metadata.labels or {})
    matching = [
        pd
        for pd in pod_defaults
        if pd.metadata.namespace == metadata.namespace
        and LabelSelector.from_dict((pd.spec or {}).get("selector", {})).matches(labels)
    ]
    if not matching:
        return pod
    for pd in matching:
        unsupported = set(pd.spec) - _MERGED_FIELDS
        if unsupported:
            raise NotImplementedError(
                f"the webhook stand-in does not merge {sorted(unsupported)} of {pd.metadata.name}"
            )
    tolerations, conflicts = _merge_tolerations(list(spec.tolerations or []), matching)
    merged_labels, label_conflicts = _merge_map(labels, [pd.spec.get("labels") for pd in matching])
    merged_annotations, annotation_conflicts = _merge_map(
        annotations, [pd.spec.get("annotations") for pd in matching]
    )
    conflicts += annotation_conflicts + label_conflicts
    if conflicts:
        raise PodDefaultConflictError(
            [pd.metadata.name for pd in matching], metadata.name or "", conflicts
        )
    spec.tolerations = tolerations or None
    metadata.labels = merged_labels
    for pd in matching:
        merged_annotations[f"{APPLIED_ANNOTATION_PREFIX}{pd.metadata.name}"] = (
            pd.metadata.resourceVersion or ""
        )
    metadata.annotations = merged_annotations
    return pod


_MERGED_FIELDS = frozenset({"selector", "desc", "tolerations", "labels", "annotations"})


def _go_toleration(toleration: Mapping[str, Any]) -> tuple[str, str, str, str, int | None]:
    """Return a toleration's fields as Go's corev1.Toleration holds them (unset string is "")."""
    return (
        toleration.get("key") or "",
        toleration.get("operator") or "",
        toleration.get("value") or "",
        toleration.get("effect") or "",
        toleration.get("tolerationSeconds"),
    )


def _go_repr(fields: tuple[str, str, str, str, int | None]) -> str:
    """Format a toleration the way Go's %#v does in the webhook's message."""
    key, operator, value, effect, seconds = fields
    pointer = "(*int64)(nil)" if seconds is None else f"(*int64)({seconds})"
    quoted = [json.dumps(part) for part in (key, operator, value, effect)]
    return (
        f"v1.Toleration{{Key:{quoted[0]}, Operator:{quoted[1]}, Value:{quoted[2]},"
        f" Effect:{quoted[3]}, TolerationSeconds:{pointer}}}"
    )


def _merge_tolerations(
    tolerations: list[Toleration], pod_defaults: list[Any]
) -> tuple[list[Toleration], list[str]]:
    by_key = {_go_toleration(t.to_dict())[0]: _go_toleration(t.to_dict()) for t in tolerations}
    merged = list(tolerations)
    conflicts: list[str] = []
    for pd in pod_defaults:
        for raw in pd.spec.get("tolerations") or []:
            new = _go_toleration(raw)
            found = by_key.get(new[0])
            if found is None:
                by_key[new[0]] = new
                merged.append(cast(Toleration, Toleration.from_dict(raw)))
            elif found != new:
                conflicts.append(
                    f"merging tolerations for {pd.metadata.name} has a conflict on {new[0]}:"
                    f" \n{_go_repr(new)}\ndoes not match\n{_go_repr(found)}\n in container"
                )
    return merged, conflicts


def _merge_map(
    existing: Mapping[str, str], defaults: list[Mapping[str, str] | None]
) -> tuple[dict[str, str], list[str]]:
    merged = dict(existing)
    conflicts: list[str] = []
    for default in defaults:
        for key, value in (default or {}).items():
            if key not in merged:
                merged[key] = value
            elif merged[key] != value:
                conflicts.append(
                    f"merging has conflict on {key}: \n{json.dumps(value)}\ndoes not match"
                    f"\n{json.dumps(merged[key])}\n in pod"
                )
    return merged, conflicts
