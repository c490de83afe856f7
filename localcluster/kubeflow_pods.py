"""Pods shaped the way Kubeflow's components create them, for tests and the demo.

No Argo controller, PodDefault webhook, Katib, Training Operator, notebook controller or KServe
runs on the local control plane, so this module plays their part on the pod spec: labels as each
component sets them (see argo-kfp-semantics.md §4), scheduling fields the way Argo merges
workflowDefaults into a step pod, and tolerations the way the PodDefault webhook merges them.
The real kube-scheduler then decides where each pod goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from lightkube import Client
from lightkube.models.core_v1 import Affinity, Container, PodSpec, ResourceRequirements, Toleration
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod

from applier import PodDefault
from label_selectors import LabelSelector

KFP_V2_STEP_LABELS = {
    "workflows.argoproj.io/completed": "false",
    "pipelines.kubeflow.org/v2_component": "true",
    "pipeline/runid": "0f7c1d2e-run",
}


class PodDefaultConflictError(ValueError):
    """The PodDefault webhook would reject the pod: two different tolerations for one key."""


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


def pipeline_step(name: str, namespace: str, workflow_defaults: Mapping[str, Any]) -> Pod:
    """Build a KFP v2 step pod as Argo does for a Workflow with no scheduling fields of its own.

    Argo merges `workflowDefaults` under the Workflow, then gives each pod the workflow-level
    tolerations and affinity (a template's own would replace them) and `podMetadata` labels.
    """
    spec = workflow_defaults.get("spec", {})
    labels = {
        **KFP_V2_STEP_LABELS,
        "workflows.argoproj.io/workflow": name.rsplit("-", 1)[0],
        **spec.get("podMetadata", {}).get("labels", {}),
    }
    scheduling: dict[str, Any] = {}
    if "tolerations" in spec:
        scheduling["tolerations"] = [Toleration.from_dict(t) for t in spec["tolerations"]]
    if "affinity" in spec:
        scheduling["affinity"] = Affinity.from_dict(spec["affinity"])
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

    Only tolerations are merged (the only field the charm's PodDefaults set). The webhook adds a
    toleration whose key is new and rejects the pod when an existing toleration with the same key
    differs; this does the same, so a test sees the conflicts a real cluster would.

    Raises:
        PodDefaultConflictError: the webhook would deny the pod.

    """
    assert pod.metadata is not None
    assert pod.spec is not None
    labels = pod.metadata.labels or {}
    tolerations = list(pod.spec.tolerations or [])
    for pod_default in client.list(PodDefault, namespace=pod.metadata.namespace):
        spec = pod_default.spec or {}
        if not LabelSelector.from_dict(spec.get("selector", {})).matches(labels):
            continue
        for raw in spec.get("tolerations", []):
            _merge_toleration(tolerations, cast(Toleration, Toleration.from_dict(raw)))
    pod.spec.tolerations = tolerations or None
    return pod


def _merge_toleration(tolerations: list[Toleration], new: Toleration) -> None:
    for existing in tolerations:
        if existing.key == new.key:
            if existing != new:
                raise PodDefaultConflictError(f"toleration {new.key} differs: {existing} vs {new}")
            return
    tolerations.append(new)
