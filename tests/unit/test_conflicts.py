"""Workloads whose pods the PodDefault webhook rejects because of the charm's spot toleration."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lightkube.models.core_v1 import Toleration

from conflicts import (
    EventFacts,
    PodTemplateFacts,
    charged_pod_defaults,
    event_conflict,
    experiment_templates,
    job_templates,
    template_conflict,
    training_job_templates,
    trainjob_templates,
)
from localcluster.kubeflow_pods import (
    PodDefaultConflictError,
    apply_pod_defaults,
    eligible_job,
    training_worker,
)
from tests.unit.shared import parse
from tests.unit.test_webhook_standin import CHARM_TOLERATION, SPOT_KEY, charm_pod_defaults

APP = "kubeflow-spot"
EXISTS = {"key": SPOT_KEY, "operator": "Exists", "effect": "NoSchedule"}
WORKER = {
    "training.kubeflow.org/job-name": "mnist-ddp",
    "training.kubeflow.org/replica-type": "worker",
}


def ours(**overrides: object):
    return charged_pod_defaults(parse(**overrides), APP)


def pytorchjob(tolerations: list[dict[str, Any]], **template_meta: Any) -> dict[str, Any]:
    template = {"metadata": template_meta, "spec": {"tolerations": tolerations, "containers": []}}
    return {
        "metadata": {"name": "mnist-ddp", "namespace": "admin"},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"template": template},
                "Worker": {"template": template},
            }
        },
    }


def test_a_hand_written_spot_toleration_conflicts_with_the_training_poddefault():
    (template, _) = training_job_templates("PyTorchJob", pytorchjob([EXISTS]))

    conflict = template_conflict(template, ours())

    assert conflict is not None
    assert (conflict.kind, conflict.namespace, conflict.name) == (
        "PyTorchJob",
        "admin",
        "mnist-ddp",
    )
    assert (conflict.pod_default, conflict.toleration) == ("kubeflow-spot-training", EXISTS)
    described = conflict.describe(CHARM_TOLERATION)
    assert described.startswith("PyTorchJob admin/mnist-ddp (training) tolerates")
    assert '"operator": "Equal", "value": "spot"' in described  # the fix names ours exactly
    assert 'kubeflow-spot/eligible: "false"' in described
    assert 'poddefault.admission.kubeflow.org/exclude: "true"' in described


@pytest.mark.parametrize(
    "template_meta",
    [
        {"labels": {"kubeflow-spot/eligible": "false"}},
        {"annotations": {"poddefault.admission.kubeflow.org/exclude": "true"}},
    ],
)
def test_an_opted_out_or_excluded_template_does_not_conflict(template_meta):
    (template, _) = training_job_templates("PyTorchJob", pytorchjob([EXISTS], **template_meta))

    assert template_conflict(template, ours()) is None


def test_the_identical_toleration_does_not_conflict():
    (template, _) = training_job_templates("PyTorchJob", pytorchjob([CHARM_TOLERATION]))

    assert template_conflict(template, ours()) is None


def test_a_class_left_out_of_spot_workloads_has_no_poddefault_to_conflict_with():
    (template, _) = training_job_templates("PyTorchJob", pytorchjob([EXISTS]))

    assert template_conflict(template, ours(spot_workloads="pipelines,hpo")) is None


def test_without_a_spot_taint_nothing_is_rendered_so_nothing_conflicts():
    assert ours(spot_profile="eks") == ()


def test_a_job_template_is_labelled_as_the_job_controller_labels_its_pods():
    job = eligible_job("etl", "admin", [EXISTS]).to_dict()
    job["metadata"]["ownerReferences"] = [{"kind": "Trial", "name": "tune-x7k2"}]

    (template,) = job_templates(job)

    assert template.labels == {
        "kubeflow-spot/eligible": "true",
        "job-name": "etl",
        "batch.kubernetes.io/job-name": "etl",
        "katib.kubeflow.org/trial": "tune-x7k2",
    }
    assert template_conflict(template, ours(spot_workloads="batch")).pod_default == (
        "kubeflow-spot-batch"
    )


def test_a_trainjob_override_toleration_is_checked_for_the_jobs_it_targets():
    trainjob = {
        "metadata": {"name": "llama-ft", "namespace": "admin"},
        "spec": {
            "podSpecOverrides": [
                {"targetJobs": [{"name": "node"}, {"name": "launcher"}], "tolerations": [EXISTS]}
            ]
        },
    }

    node, launcher = trainjob_templates(trainjob)

    assert template_conflict(node, ours()).pod_default == "kubeflow-spot-trainjob"
    assert template_conflict(launcher, ours()) is None  # no PodDefault selects a launcher


def test_a_katib_experiment_trial_job_is_an_hpo_workload():
    experiment = {
        "metadata": {"name": "tune-lr", "namespace": "admin"},
        "spec": {
            "trialTemplate": {
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {"template": {"spec": {"tolerations": [EXISTS]}}},
                }
            }
        },
    }

    (template,) = experiment_templates(experiment)

    conflict = template_conflict(template, ours())
    assert (conflict.kind, conflict.pod_default) == ("Experiment", "kubeflow-spot-hpo")


def denial(pod_defaults: str, pod_default_with_conflict: str) -> str:
    return (
        'Error creating: admission webhook "admission-webhook.kubeflow.org" denied the request:'
        f" conflict occurred while applying poddefaults: {pod_defaults} on pod:  err: merging"
        f" tolerations for {pod_default_with_conflict} has a conflict on {SPOT_KEY}: ..."
    )


@pytest.mark.parametrize("reason", ["FailedCreate", "FailedCreatePod"])
def test_a_failed_create_event_naming_our_poddefault_is_a_conflict(reason):
    event = EventFacts(
        "admin",
        reason,
        denial("kubeflow-spot-training", "kubeflow-spot-training"),
        "PyTorchJob",
        "mnist-ddp",
    )

    conflict = event_conflict(event, ["kubeflow-spot-training", "kubeflow-spot-hpo"])

    assert (conflict.kind, conflict.name, conflict.pod_default) == (
        "PyTorchJob",
        "mnist-ddp",
        "kubeflow-spot-training",
    )
    assert conflict.seen_in == f"{reason} event"


def test_a_denial_by_another_charms_poddefault_is_not_ours():
    event = EventFacts(
        "admin", "FailedCreate", denial("mlflow-minio", "mlflow-minio"), "Job", "etl"
    )

    assert event_conflict(event, ["kubeflow-spot-training"]) is None


def test_other_failed_creates_are_not_conflicts():
    event = EventFacts(
        "admin",
        "FailedCreate",
        'Error creating: pods "x" is forbidden: exceeded quota',
        "Job",
        "etl",
    )

    assert event_conflict(event, ["kubeflow-spot-training"]) is None


_tolerations = st.lists(
    st.fixed_dictionaries(
        {"key": st.sampled_from([SPOT_KEY, "nvidia.com/gpu", ""])},
        optional={
            "operator": st.sampled_from(["Equal", "Exists"]),
            "value": st.sampled_from(["spot", "x"]),
            "effect": st.sampled_from(["NoSchedule", "NoExecute"]),
            "tolerationSeconds": st.sampled_from([30, 300]),
        },
    ),
    max_size=3,
)


@settings(deadline=None, max_examples=300)
@given(tolerations=_tolerations)
def test_the_charm_flags_exactly_the_pods_the_webhook_rejects(tolerations):
    pod = training_worker("mnist-ddp-worker-0", "admin")
    pod.spec.tolerations = [Toleration.from_dict(t) for t in tolerations] or None
    try:
        apply_pod_defaults(pod, charm_pod_defaults())
        rejected = False
    except PodDefaultConflictError:
        rejected = True
    template = PodTemplateFacts(
        "Pod", "admin", pod.metadata.name, dict(pod.metadata.labels), {}, tuple(tolerations)
    )

    assert (template_conflict(template, ours()) is not None) == rejected
