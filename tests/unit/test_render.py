"""Rendering: what each config gives PodDefaults and Argo, checked against Argo's own schema."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import jinja2
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from evictions import EVICTION_MESSAGE_PATTERN
from explain import explain, status_warnings
from label_selectors import LabelSelector
from render import TEMPLATES_DIR, render
from spot_config import SUPPORTED_ARGO_VERSIONS
from tests.unit.argo_schema import workflow_errors
from tests.unit.shared import APP, parse, parse_valid, valid_options
from workloads import KSERVE_LABEL, NOTEBOOK_LABEL


def workflow_defaults(**overrides: object) -> dict | None:
    text = render(parse(**overrides), app=APP).workflow_defaults
    return None if text is None else yaml.safe_load(text)


def spec(**overrides: object) -> dict:
    document = workflow_defaults(**overrides)
    assert document is not None
    return document["spec"]


def test_require_renders_a_required_affinity_on_the_profile_label():
    terms = spec(spot_fallback_after=0)["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]

    assert terms["nodeSelectorTerms"] == [
        {
            "matchExpressions": [
                {
                    "key": "kubernetes.azure.com/scalesetpriority",
                    "operator": "In",
                    "values": ["spot"],
                }
            ]
        }
    ]


def test_prefer_renders_a_preferred_affinity():
    preferred = spec(spot_placement="prefer")["affinity"]["nodeAffinity"]

    assert list(preferred) == ["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 100


SPOT_TERM = {"key": "kubernetes.azure.com/scalesetpriority", "operator": "In", "values": ["spot"]}


def _choice(tag: str) -> tuple[str, str, str]:
    """Split an Argo tag `{{=CONDITION ? 'A' : 'B'}}` into its condition and outcomes."""
    found = re.fullmatch(r"\{\{=(.+) \? '([^']*)' : '([^']*)'\}\}", tag)
    assert found, tag
    return found.group(1), found.group(2), found.group(3)


def test_fallback_moves_the_spot_affinity_into_template_defaults_with_an_any_node_term():
    rendered = spec()
    affinity = rendered["templateDefaults"]["affinity"]["nodeAffinity"]
    spot, any_node = affinity["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    [preferred] = affinity["preferredDuringSchedulingIgnoredDuringExecution"]
    [not_spot] = preferred["preference"]["matchExpressions"]

    assert "affinity" not in rendered  # a template's affinity would replace spec.affinity
    assert spot == {"matchExpressions": [SPOT_TERM]}
    assert any_node["matchExpressions"][0]["operator"] == "Exists"
    assert _choice(any_node["matchExpressions"][0]["key"])[1:] == (
        "kubernetes.io/os",
        "kubeflow-spot/fallback",
    )
    assert (not_spot["operator"], not_spot["values"]) == ("NotIn", ["spot"])
    assert _choice(not_spot["key"])[1:] == (
        "kubernetes.azure.com/scalesetpriority",
        "kubeflow-spot/fallback",
    )
    assert preferred["weight"] == 100


def test_fallback_labels_each_pod_with_whether_it_fell_back():
    labels = spec()["templateDefaults"]["metadata"]["labels"]

    assert list(labels) == ["kubeflow-spot/fallback"]
    assert _choice(labels["kubeflow-spot/fallback"])[1:] == ("true", "false")


@pytest.mark.parametrize(
    ("argo_version", "needs_an_eviction_last"), [("3.5", False), ("3.6", False), ("3.7", True)]
)
def test_fallback_counts_earlier_attempts_and_from_argo_37_needs_the_last_to_be_an_eviction(
    argo_version, needs_an_eviction_last
):
    rendered = spec(spot_fallback_after=3, argo_version=argo_version)
    affinity = rendered["templateDefaults"]["affinity"]["nodeAffinity"]
    terms = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    label = rendered["templateDefaults"]["metadata"]["labels"]["kubeflow-spot/fallback"]
    conditions = {
        _choice(terms[1]["matchExpressions"][0]["key"])[0],
        _choice(
            affinity["preferredDuringSchedulingIgnoredDuringExecution"][0]["preference"][
                "matchExpressions"
            ][0]["key"]
        )[0],
        _choice(label)[0],
    }
    eviction_last = f" && lastRetry.message matches '{EVICTION_MESSAGE_PATTERN}'"

    assert conditions == {"asInt(retries) >= 3" + eviction_last * needs_an_eviction_last}


@pytest.mark.parametrize(
    "overrides",
    [
        {"spot_fallback_after": 0},
        {"argo_version": "3.4"},
        {"argo_version": "3.5", "retry_on": "errors"},
        {"spot_placement": "prefer"},
        {"retry_limit": 0, "spot_placement": "tolerate"},
    ],
)
def test_no_fallback_renders_no_template_defaults(overrides):
    assert "templateDefaults" not in spec(**overrides)


def test_fallback_follows_the_profile_label():
    rendered = spec(spot_profile="eks")
    affinity = rendered["templateDefaults"]["affinity"]["nodeAffinity"]
    [preferred] = affinity["preferredDuringSchedulingIgnoredDuringExecution"]
    [not_spot] = preferred["preference"]["matchExpressions"]

    assert _choice(not_spot["key"])[1] == "eks.amazonaws.com/capacityType"
    assert not_spot["values"] == ["SPOT"]


def test_tolerate_renders_no_affinity_but_the_toleration():
    rendered = spec(spot_placement="tolerate")

    assert "affinity" not in rendered
    assert rendered["tolerations"] == [
        {
            "key": "kubernetes.azure.com/scalesetpriority",
            "operator": "Equal",
            "value": "spot",
            "effect": "NoSchedule",
        }
    ]


def test_evictions_on_argo_37_retry_at_once_only_on_eviction_messages_counted_in_the_expression():
    strategy = spec()["retryStrategy"]

    assert strategy == {
        "retryPolicy": "Always",
        "expression": f"asInt(retries) < 5 && lastRetry.message matches"
        f" '{EVICTION_MESSAGE_PATTERN}'",
    }


def test_evictions_keep_a_backoff_only_to_carry_the_retry_window():
    strategy = spec(retry_max_duration="2h")["retryStrategy"]

    assert "limit" not in strategy
    assert strategy["backoff"] == {"duration": "5m", "factor": "1", "maxDuration": "2h"}


@pytest.mark.parametrize("placement", ["prefer", "tolerate"])
def test_retries_avoid_tried_nodes_unless_spot_is_required(placement):
    assert spec(spot_placement=placement)["retryStrategy"]["affinity"] == {"nodeAntiAffinity": {}}
    assert "affinity" not in spec(spot_placement="require")["retryStrategy"]


def test_retry_modes_other_than_evictions_keep_limit_and_backoff():
    strategy = spec(retry_on="all")["retryStrategy"]

    assert strategy["limit"] == "5"
    assert strategy["backoff"] == {"duration": "5m", "factor": "1"}


def test_evictions_on_argo_34_fall_back_to_on_error_and_say_so():
    config = parse(argo_version="3.4")
    rendered = render(config, app=APP)
    strategy = yaml.safe_load(rendered.workflow_defaults)["spec"]["retryStrategy"]

    assert strategy["retryPolicy"] == "OnError"
    assert "expression" not in strategy
    assert any("falls back to OnError" in note for note in explain(config))


@pytest.mark.parametrize(("retry_on", "policy"), [("errors", "OnError"), ("all", "Always")])
def test_other_retry_modes_map_to_argo_policies(retry_on, policy):
    strategy = spec(retry_on=retry_on)["retryStrategy"]

    assert strategy["retryPolicy"] == policy
    assert "expression" not in strategy


def test_backoff_options_render_as_strings():
    backoff = spec(retry_backoff="90s", retry_backoff_factor=2, retry_max_duration="6h")[
        "retryStrategy"
    ]["backoff"]

    assert backoff == {"duration": "90s", "factor": "2", "maxDuration": "6h"}


def test_zero_retry_limit_renders_no_retry_strategy():
    assert "retryStrategy" not in spec(retry_limit=0)


def test_no_pipelines_and_no_retry_renders_no_argo_defaults():
    assert workflow_defaults(spot_workloads="training", retry_limit=0) is None


def test_retry_default_stays_when_pipelines_are_not_on_spot():
    rendered = spec(spot_workloads="training")

    assert "retryStrategy" in rendered
    assert "tolerations" not in rendered
    assert "affinity" not in rendered


def test_untainted_profile_renders_affinity_but_no_tolerations_anywhere():
    config = parse(spot_profile="eks")
    rendered = render(config, app=APP)

    assert rendered.pod_defaults == ()
    assert "tolerations" not in yaml.safe_load(rendered.workflow_defaults)["spec"]
    assert any("carry no taint" in note for note in explain(config))


def test_one_poddefault_per_eligible_non_pipeline_class():
    rendered = render(parse(spot_workloads="batch,pipelines,hpo"), app="spot")

    assert [m["metadata"]["name"] for m in rendered.pod_defaults] == ["spot-hpo", "spot-batch"]
    assert all("namespace" not in m["metadata"] for m in rendered.pod_defaults)


def test_poddefaults_are_labelled_for_pruning():
    labels = render(parse(), app="spot").pod_defaults[0]["metadata"]["labels"]

    assert labels["app.kubernetes.io/managed-by"] == "kubeflow-spot"
    assert labels["app.kubernetes.io/instance"] == "spot"


def test_every_poddefault_and_argo_carry_the_identical_toleration():
    # The PodDefault webhook rejects a pod that would get two different tolerations for one key.
    rendered = render(parse(spot_workloads="pipelines,training,hpo,spark,batch"), app=APP)
    tolerations = [m["spec"]["tolerations"] for m in rendered.pod_defaults]
    tolerations.append(yaml.safe_load(rendered.workflow_defaults)["spec"]["tolerations"])

    assert len(tolerations) == 6  # training, trainjob, hpo, spark, batch, Argo
    assert all(t == tolerations[0] for t in tolerations)


def test_rendered_output_has_no_jinja_markers():
    rendered = render(parse(spot_workloads="pipelines,training,hpo,batch"), app=APP)

    text = yaml.safe_dump(list(rendered.pod_defaults)) + rendered.workflow_defaults
    # Argo's own expression tags ({{=...}}, spot-fallback-after) are meant for Argo.
    assert "{{" not in re.sub(r"\{\{=[^}]*\}\}", "", text)
    assert "{%" not in text


def test_a_template_with_an_undefined_variable_fails_instead_of_rendering_empty(tmp_path: Path):
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, templates)
    broken = templates / "workflow-defaults.yaml.j2"
    broken.write_text(broken.read_text() + "\n# {{ not_passed }}\n")

    with pytest.raises(jinja2.UndefinedError):
        render(parse(), app=APP, templates_dir=templates)


@pytest.mark.parametrize(
    "message",
    [
        "pod deleted",
        "Pod was terminated in response to imminent node shutdown.",
        "Pod was rejected as the node is shutting down.",
        "Node is shutting, evicting pods",
        "The node was low on resource: memory.",
        "Preempted by scheduler",
        "pod failed: neither main nor wait container completed successfully",
    ],
)
def test_eviction_pattern_matches_what_argo_records_for_evictions(message):
    assert re.search(EVICTION_MESSAGE_PATTERN, message)


@pytest.mark.parametrize(
    "message", ["Error (exit code 1)", "main: Error (exit code 2)", "child 'train' failed", ""]
)
def test_eviction_pattern_leaves_application_failures_and_dag_wrappers_alone(message):
    assert not re.search(EVICTION_MESSAGE_PATTERN, message)


# Argo's schema, made strict, must accept what we render and reject what Argo would reject.


@pytest.mark.parametrize("argo_version", SUPPORTED_ARGO_VERSIONS)
def test_default_document_validates_against_that_argo_versions_schema(argo_version):
    document = workflow_defaults(argo_version=argo_version)

    assert workflow_errors(document, argo_version) == []


def test_strict_schema_rejects_a_misspelt_field():
    document = workflow_defaults()
    document["spec"]["retryStrategy"]["retryPolcy"] = "Always"

    assert any("retryPolcy" in error for error in workflow_errors(document, "3.7"))


def test_strict_schema_rejects_a_field_newer_than_the_version():
    document = workflow_defaults(retry_on="all")
    document["spec"]["retryStrategy"]["backoff"]["cap"] = "10m"

    assert workflow_errors(document, "3.7") == []
    assert any("cap" in error for error in workflow_errors(document, "3.6"))


# Property tests over every valid combination of options (`valid_options`).

_pod_labels = st.dictionaries(
    st.sampled_from(
        [
            "training.kubeflow.org/job-name",
            "katib.kubeflow.org/trial",
            "kubeflow-spot/eligible",
            "workflows.argoproj.io/workflow",
            "pipelines.kubeflow.org/v2_component",
            "jobset.sigs.k8s.io/jobset-name",
            "sparkoperator.k8s.io/app-name",
            "app",
        ]
    ),
    st.sampled_from(["true", "x", "node"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    options=valid_options,
    labels=_pod_labels,
    excluded=st.sampled_from(
        [
            {NOTEBOOK_LABEL: "lab"},
            {KSERVE_LABEL: "sklearn-iris"},
            {"spark-role": "driver"},
            {"spark-role": "connect-server"},
            {"jobset.sigs.k8s.io/replicatedjob-name": "launcher"},
            {"kubeflow-spot/eligible": "false"},
        ]
    ),
)
def test_no_valid_config_gives_a_notebook_server_driver_or_launcher_a_spot_toleration(
    options, labels, excluded
):
    rendered = render(parse_valid(options), app=APP)
    pod_labels = {**labels, **excluded}

    for manifest in rendered.pod_defaults:
        assert not LabelSelector.from_dict(manifest["spec"]["selector"]).matches(pod_labels)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(options=valid_options)
def test_every_valid_config_renders_a_document_argo_accepts(options):
    config = parse_valid(options)
    text = render(config, app=APP).workflow_defaults
    assume(text is not None)

    assert workflow_errors(yaml.safe_load(text), config.argo_version) == []


@pytest.mark.parametrize(
    ("overrides", "warned"),
    [
        ({"argo_version": "3.4"}, True),
        ({"argo_version": "3.6", "retry_on": "all"}, True),
        ({"spot_placement": "prefer"}, False),
        ({"retry_limit": 0}, False),
        ({}, False),
    ],
)
def test_the_status_warns_when_the_argo_version_cannot_take_the_fallback(overrides, warned):
    warnings = status_warnings(parse(**overrides), [])

    assert any(w.startswith("spot-fallback-after=2 is not applied: Argo") for w in warnings) == (
        warned
    )


def test_show_defaults_notes_say_what_the_fallback_does_and_what_it_does_not():
    notes = [n for n in explain(parse()) if n.startswith("spot-fallback-after")]

    assert len(notes) == 3
    assert "labelled kubeflow-spot/fallback=true" in notes[0]
    assert "its retry stays Pending" in notes[1]
    assert "keeps it and never falls back" in notes[2]
    assert any(
        n.startswith("spot-fallback-after=2: nothing rendered: Argo 3.4")
        for n in explain(parse(argo_version="3.4"))
    )
