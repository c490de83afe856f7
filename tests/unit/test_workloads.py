"""Workload classes and label selectors, with Kubernetes' selector semantics."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from label_selectors import LabelSelector, SelectorRequirement, parse_label_selector
from localcluster.kubeflow_pods import spark_pod, trainjob_pod
from workloads import (
    NEVER_ELIGIBLE,
    PodClassifier,
    WorkloadClass,
    classify_pod,
    parse_workload_list,
    pod_default_rules,
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


def pod_labels(build, *args) -> dict[str, str]:
    """Return the labels of a pod built like the real component builds it."""
    return dict(build(*args).metadata.labels)


TRAINJOB_NODE = pod_labels(trainjob_pod, "llama-ft-node-0-0-x", "admin", "node")
TRAINJOB_DATASET = pod_labels(trainjob_pod, "llama-ft-d-0-0-x", "admin", "dataset-initializer")
TRAINJOB_MODEL = pod_labels(trainjob_pod, "llama-ft-m-0-0-x", "admin", "model-initializer")
MPI_LAUNCHER = pod_labels(trainjob_pod, "pi-mpi-launcher-0-0-x", "admin", "launcher")
SPARK_DRIVER = pod_labels(spark_pod, "spark-pi-driver", "admin", "driver")
SPARK_EXECUTOR = pod_labels(spark_pod, "spark-pi-exec-1", "admin", "executor")
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
        (TRAINJOB_NODE, [WorkloadClass.TRAINING]),
        (TRAINJOB_DATASET, [WorkloadClass.TRAINING]),
        (TRAINJOB_MODEL, [WorkloadClass.TRAINING]),
        (MPI_LAUNCHER, []),
        (SPARK_EXECUTOR, [WorkloadClass.SPARK]),
        (SPARK_DRIVER, []),
        ({**TRAINING_WORKER, "kubeflow-spot/eligible": "false"}, []),
        ({**SPARK_DRIVER, "kubeflow-spot/eligible": "true"}, []),
        ({**MPI_LAUNCHER, "kubeflow-spot/eligible": "true"}, []),
    ],
)
def test_pods_are_selected_by_their_class_labels(labels, expected):
    assert selected_classes(labels) == expected


def test_a_notebook_carrying_a_training_label_is_still_excluded():
    assert (
        selected_classes({**NOTEBOOK, **TRAINING_WORKER, "kubeflow-spot/eligible": "true"}) == []
    )


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
    (rule,) = pod_default_rules(WorkloadClass.BATCH)
    selector = rule.selector

    assert LabelSelector.from_dict(selector.to_dict()) == selector


def test_workload_list_sorts_names_into_eligible_ineligible_unknown():
    assert parse_workload_list("hpo,notebooks,gpu,hpo,spark,drivers,opted-out") == (
        [WorkloadClass.HPO, WorkloadClass.SPARK],
        ["notebooks", "drivers", "opted-out"],
        ["gpu"],
    )


KFP_V2_STEP = {
    "workflows.argoproj.io/workflow": "iris-pipeline-x2k9p",
    "workflows.argoproj.io/completed": "false",
    "pipelines.kubeflow.org/v2_component": "true",
    "pipeline/runid": "4f1c",
}
ARGO_AGENT = {"workflows.argoproj.io/workflow": "wf", "workflows.argoproj.io/component": "agent"}


@pytest.mark.parametrize(
    ("labels", "namespace", "expected"),
    [
        (KFP_V2_STEP, "admin", WorkloadClass.PIPELINES),
        (TRAINING_WORKER, "admin", WorkloadClass.TRAINING),
        (KATIB_TRIAL, "admin", WorkloadClass.HPO),
        ({"kubeflow-spot/eligible": "true"}, "admin", WorkloadClass.BATCH),
        (NOTEBOOK, "admin", WorkloadClass.NOTEBOOKS),
        (PREDICTOR, "admin", WorkloadClass.SERVING),
        ({"serving.kubeflow.org/inferenceservice": "old"}, "admin", WorkloadClass.SERVING),
        ({"app": "ml-pipeline"}, "kubeflow", WorkloadClass.CONTROL_PLANE),
        ({"k8s-app": "kube-dns"}, "kube-system", WorkloadClass.CONTROL_PLANE),
        (ARGO_AGENT, "admin", WorkloadClass.OTHER),
        ({"app": "web"}, "admin", WorkloadClass.OTHER),
        (TRAINJOB_NODE, "admin", WorkloadClass.TRAINING),
        (TRAINJOB_DATASET, "admin", WorkloadClass.TRAINING),
        (MPI_LAUNCHER, "admin", WorkloadClass.DRIVERS),
        (SPARK_EXECUTOR, "admin", WorkloadClass.SPARK),
        (SPARK_DRIVER, "admin", WorkloadClass.DRIVERS),
        ({**SPARK_DRIVER, "spark-role": "connect-server"}, "admin", WorkloadClass.DRIVERS),
        ({**TRAINING_WORKER, "kubeflow-spot/eligible": "false"}, "admin", WorkloadClass.OPTED_OUT),
        ({**KFP_V2_STEP, "kubeflow-spot/eligible": "false"}, "admin", WorkloadClass.OPTED_OUT),
        ({**NOTEBOOK, "kubeflow-spot/eligible": "false"}, "admin", WorkloadClass.NOTEBOOKS),
    ],
)
def test_pods_are_classified_by_labels_then_namespace(labels, namespace, expected):
    assert classify_pod(labels, namespace, control_plane_namespaces={"kubeflow"}) == expected


def test_a_notebook_inside_a_pipeline_is_still_a_notebook():
    assert classify_pod({**NOTEBOOK, **KFP_V2_STEP}, "admin", ()) == WorkloadClass.NOTEBOOKS


_rule_label_keys = st.sampled_from(
    [
        "notebook-name",
        "serving.kserve.io/inferenceservice",
        "serving.kubeflow.org/inferenceservice",
        "training.kubeflow.org/job-name",
        "katib.kubeflow.org/trial",
        "kubeflow-spot/eligible",
        "workflows.argoproj.io/workflow",
        "workflows.argoproj.io/component",
        "jobset.sigs.k8s.io/jobset-name",
        "jobset.sigs.k8s.io/replicatedjob-name",
        "spark-role",
        "sparkoperator.k8s.io/app-name",
    ]
)
_any_labels = st.dictionaries(
    _rule_label_keys,
    st.sampled_from(
        ["true", "false", "x", "node", "launcher", "model-initializer", "driver", "executor"]
    ),
)


@settings(deadline=None)
@given(labels=_any_labels)
def test_a_pod_a_poddefault_selects_is_classified_as_one_of_the_selecting_classes(labels):
    selecting = selected_classes(labels)
    workload = classify_pod(labels, "admin", ())

    if selecting and workload is not WorkloadClass.PIPELINES:
        assert workload in selecting
    if workload in NEVER_ELIGIBLE:
        assert selecting == []


_SHARED_CLASSIFIER = PodClassifier({"kubeflow"})
_TINY_CLASSIFIER = PodClassifier({"kubeflow"})
_TINY_CLASSIFIER.MAX_SHAPES = 3  # forgets often: what it forgets it works out again


@settings(deadline=None, max_examples=300)
@given(
    labels=st.dictionaries(
        st.one_of(_rule_label_keys, st.sampled_from(["app", "pipeline/runid"])),
        st.sampled_from(["true", "false", "x", "node", "launcher", "driver", "executor", ""]),
    ),
    namespace=st.sampled_from(["admin", "kubeflow", "kube-system", "team-001"]),
)
def test_the_classifier_of_a_stream_of_pods_classifies_as_classify_pod(labels, namespace):
    expected = classify_pod(labels, namespace, {"kubeflow"})

    assert _SHARED_CLASSIFIER(labels, namespace) == expected
    assert _TINY_CLASSIFIER(labels, namespace) == expected


def test_pods_that_differ_only_in_names_are_classified_once():
    classifier = PodClassifier(())
    workers = [
        {**TRAINING_WORKER, "training.kubeflow.org/job-name": f"job-{i}"} for i in range(50)
    ]
    trials = [{**KATIB_TRIAL, "katib.kubeflow.org/trial": f"tune-{i}"} for i in range(50)]

    classes = {classifier(labels, "admin") for labels in workers + trials}

    assert classes == {WorkloadClass.TRAINING, WorkloadClass.HPO}
    assert len(classifier._by_shape) == 2


# Label selectors in kubectl's syntax (the report-placement `selector` param)

_label_name = st.from_regex(r"\A[a-z0-9]([-a-z0-9_.]{0,10}[a-z0-9])?\Z")
_dns_label = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?\Z")
_label_key = st.one_of(_label_name, st.builds(lambda p, n: f"{p}.io/{n}", _dns_label, _label_name))
_label_value = st.one_of(st.just(""), _label_name)
_requirement = st.one_of(
    st.builds(lambda k: SelectorRequirement(k, "Exists"), _label_key),
    st.builds(lambda k: SelectorRequirement(k, "DoesNotExist"), _label_key),
    st.builds(lambda k, v: SelectorRequirement(k, "In", (v,)), _label_key, _label_value),
    st.builds(lambda k, v: SelectorRequirement(k, "NotIn", (v,)), _label_key, _label_value),
    st.builds(
        lambda k, op, vs: SelectorRequirement(k, op, tuple(vs)),
        _label_key,
        st.sampled_from(["In", "NotIn"]),
        st.lists(_label_name, min_size=1, max_size=3),
    ),
)


def _kubectl_syntax(req: SelectorRequirement) -> str:
    match req.operator, req.values:
        case "Exists", _:
            return req.key
        case "DoesNotExist", _:
            return f"!{req.key}"
        case "In", (value,):
            return f"{req.key}={value}"
        case "NotIn", (value,):
            return f"{req.key} != {value}"
    word = "in" if req.operator == "In" else "notin"
    return f"{req.key} {word} ({', '.join(req.values)})"


@given(st.lists(_requirement, max_size=4))
def test_selectors_written_as_kubectl_takes_them_parse_back(requirements):
    text = ", ".join(_kubectl_syntax(req) for req in requirements)
    assert parse_label_selector(text).match_expressions == tuple(requirements)


@pytest.mark.parametrize(
    "text", ["a=b=c", "app in (x", "tier notin ()", "a,,b", "Bad Key", "x=" + "v" * 64, "-a=b"]
)
def test_selectors_kubectl_would_reject_do_not_parse(text):
    with pytest.raises(ValueError, match=r"\S"):
        parse_label_selector(text)
