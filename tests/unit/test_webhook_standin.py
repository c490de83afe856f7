"""The PodDefault webhook stand-in merges and rejects exactly as Kubeflow's webhook does.

Tests build pods with it (localcluster/kubeflow_pods.py), so its rules decide what those tests can
see: these pin them to kubeflow/dashboard `components/poddefaults-webhooks/main.go`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube.models.core_v1 import Toleration

from applier import PodDefault
from localcluster.kubeflow_pods import (
    PodDefaultConflictError,
    apply_pod_defaults,
    katib_trial,
    notebook,
    training_worker,
)
from render import render
from spot_config import parse_config

SPOT_KEY = "kubernetes.azure.com/scalesetpriority"
CONFIG_DEFAULTS = {
    name: option.get("default", "")
    for name, option in yaml.safe_load((Path(__file__).parents[2] / "config.yaml").read_text())[
        "options"
    ].items()
}
CHARM_TOLERATION = {"key": SPOT_KEY, "operator": "Equal", "value": "spot", "effect": "NoSchedule"}


def charm_pod_defaults(namespace: str = "admin", **options: Any) -> list[Any]:
    """Return the charm's rendered PodDefaults as the API server lists them in a namespace."""
    rendered = render(
        parse_config({**CONFIG_DEFAULTS, **options}), app="kubeflow-spot"
    ).pod_defaults
    return [
        PodDefault.from_dict(
            {**pd, "metadata": {**pd["metadata"], "namespace": namespace, "resourceVersion": "7"}}
        )
        for pd in rendered
    ]


def with_tolerations(pod: Any, *tolerations: dict[str, Any]) -> Any:
    pod.spec.tolerations = [Toleration.from_dict(t) for t in tolerations]
    return pod


def test_a_selected_pod_gets_the_toleration_and_the_applied_annotation():
    pod = apply_pod_defaults(training_worker("mnist-worker-0", "admin"), charm_pod_defaults())

    assert [t.to_dict() for t in pod.spec.tolerations] == [CHARM_TOLERATION]
    assert pod.metadata.annotations == {
        "poddefault.admission.kubeflow.org/poddefault-kubeflow-spot-training": "7"
    }


def test_an_identical_toleration_is_kept_once():
    pod = with_tolerations(training_worker("mnist-worker-0", "admin"), CHARM_TOLERATION)

    admitted = apply_pod_defaults(pod, charm_pod_defaults())

    assert [t.to_dict() for t in admitted.spec.tolerations] == [CHARM_TOLERATION]


def test_a_toleration_for_another_key_stays_and_ours_is_appended():
    gpu = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    pod = with_tolerations(katib_trial("tune-lr-trial-1", "admin"), gpu)

    admitted = apply_pod_defaults(pod, charm_pod_defaults())

    assert [t.to_dict() for t in admitted.spec.tolerations] == [gpu, CHARM_TOLERATION]


@pytest.mark.parametrize(
    "own",
    [
        pytest.param({"key": SPOT_KEY, "operator": "Exists", "effect": "NoSchedule"}, id="exists"),
        # Semantically the same toleration, but Go's DeepEqual sees "" where ours has "Equal".
        pytest.param({"key": SPOT_KEY, "value": "spot", "effect": "NoSchedule"}, id="no-operator"),
        pytest.param({**CHARM_TOLERATION, "effect": "NoExecute"}, id="other-effect"),
        pytest.param({**CHARM_TOLERATION, "tolerationSeconds": 30}, id="seconds"),
    ],
)
def test_a_same_key_toleration_that_is_not_identical_is_denied(own):
    pod = with_tolerations(training_worker("mnist-worker-0", "admin"), own)

    with pytest.raises(PodDefaultConflictError) as denied:
        apply_pod_defaults(pod, charm_pod_defaults())

    assert str(denied.value).startswith(
        'admission webhook "admission-webhook.kubeflow.org" denied the request: conflict'
        " occurred while applying poddefaults: kubeflow-spot-training on pod: mnist-worker-0"
        f" err: merging tolerations for kubeflow-spot-training has a conflict on {SPOT_KEY}:"
    )
    assert denied.value.pod_defaults == ["kubeflow-spot-training"]
    assert len(denied.value.conflicts) == 1


def test_two_poddefaults_with_different_tolerations_for_one_key_deny_the_pod():
    foreign = PodDefault.from_dict(
        {
            "metadata": {"name": "team-spot", "namespace": "admin"},
            "spec": {
                "selector": {"matchLabels": {"training.kubeflow.org/job-name": "mnist-ddp"}},
                "tolerations": [{"key": SPOT_KEY, "operator": "Exists"}],
            },
        }
    )

    with pytest.raises(PodDefaultConflictError) as denied:
        apply_pod_defaults(
            training_worker("mnist-worker-0", "admin"), [*charm_pod_defaults(), foreign]
        )

    assert denied.value.pod_defaults == ["kubeflow-spot-training", "team-spot"]
    assert "merging tolerations for team-spot has a conflict" in str(denied.value)


def test_the_exclude_annotation_skips_every_poddefault():
    conflicting = {"key": SPOT_KEY, "operator": "Exists", "effect": "NoSchedule"}
    pod = with_tolerations(training_worker("mnist-worker-0", "admin"), conflicting)
    pod.metadata.annotations = {"poddefault.admission.kubeflow.org/exclude": "true"}

    admitted = apply_pod_defaults(pod, charm_pod_defaults())

    assert [t.to_dict() for t in admitted.spec.tolerations] == [conflicting]


def test_the_exclude_annotation_must_be_exactly_true():
    pod = with_tolerations(
        training_worker("mnist-worker-0", "admin"), {"key": SPOT_KEY, "operator": "Exists"}
    )
    pod.metadata.annotations = {"poddefault.admission.kubeflow.org/exclude": "True"}

    with pytest.raises(PodDefaultConflictError):
        apply_pod_defaults(pod, charm_pod_defaults())


def test_poddefaults_of_another_namespace_do_not_apply():
    pod = apply_pod_defaults(training_worker("w-0", "admin"), charm_pod_defaults("team-b"))

    assert pod.spec.tolerations is None
    assert pod.metadata.annotations is None


def test_unselected_pods_pass_untouched():
    pod = apply_pod_defaults(notebook("lab-0", "admin"), charm_pod_defaults())

    assert pod.spec.tolerations is None


def test_a_poddefault_field_the_standin_does_not_merge_is_refused():
    with_env = PodDefault.from_dict(
        {
            "metadata": {"name": "add-env", "namespace": "admin"},
            "spec": {"selector": {}, "env": [{"name": "A", "value": "1"}]},
        }
    )

    with pytest.raises(NotImplementedError, match="env"):
        apply_pod_defaults(training_worker("w-0", "admin"), [with_env])
