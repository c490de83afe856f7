"""Workload classes and label selectors, with Kubernetes' selector semantics."""

from __future__ import annotations

import pytest

from workloads import (
    LabelSelector,
    SelectorRequirement,
    WorkloadClass,
    parse_workload_list,
    pod_default_selector,
    selected_classes,
)

TRAINING_WORKER = {
    "training.kubeflow.org/job-name": "mnist",
    "training.kubeflow.org/replica-type": "worker",
    "training.kubeflow.org/replica-index": "0",
    "training.kubeflow.org/operator-name": "pytorchjob-controller",
}
KATIB_TRIAL = {"katib.kubeflow.org/experiment": "tune", "katib.kubeflow.org/trial": "tune-x7k2"}
NOTEBOOK = {"notebook-name": "lab", "statefulset": "lab", "app": "lab"}
PREDICTOR = {"serving.kserve.io/inferenceservice": "sklearn-iris", "component": "predictor"}


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (TRAINING_WORKER, [WorkloadClass.TRAINING]),
        (KATIB_TRIAL, [WorkloadClass.HPO]),
        ({"kubeflow-spot/eligible": "true", "app": "scoring"}, [WorkloadClass.BATCH]),
        ({"kubeflow-spot/eligible": "yes"}, []),
        (NOTEBOOK, []),
        (PREDICTOR, []),
    ],
)
def test_pods_are_selected_by_their_class_labels(labels, expected):
    assert selected_classes(labels) == expected


def test_a_notebook_carrying_a_training_label_is_still_excluded():
    assert selected_classes({**NOTEBOOK, **TRAINING_WORKER, "kubeflow-spot/eligible": "true"}) == []


def test_a_predictor_in_a_katib_trial_is_still_excluded():
    assert selected_classes({**PREDICTOR, **KATIB_TRIAL}) == []


@pytest.mark.parametrize(
    ("operator", "values", "labels", "expected"),
    [
        ("In", ("a", "b"), {"k": "b"}, True),
        ("In", ("a",), {}, False),
        ("NotIn", ("a",), {}, True),
        ("NotIn", ("a",), {"k": "a"}, False),
        ("Exists", (), {"k": ""}, True),
        ("DoesNotExist", (), {"k": ""}, False),
    ],
)
def test_selector_operators(operator, values, labels, expected):
    selector = LabelSelector(match_expressions=(SelectorRequirement("k", operator, values),))

    assert selector.matches(labels) is expected


def test_selector_round_trips_through_its_manifest_form():
    selector = pod_default_selector(WorkloadClass.BATCH)

    assert LabelSelector.from_dict(selector.to_dict()) == selector


def test_workload_list_sorts_names_into_eligible_ineligible_unknown():
    assert parse_workload_list("hpo,notebooks,gpu,hpo") == ([WorkloadClass.HPO], ["notebooks"], ["gpu"])
