"""Config parsing: every option's accepted values, defaults and error messages."""

from __future__ import annotations

import pytest

from spot_config import (
    ConfigError,
    Placement,
    PodDefaultsDelivery,
    RetryOn,
)
from spot_profiles import AKS, Taint
from tests.unit.shared import parse
from workloads import WorkloadClass


def problems(**overrides: object) -> str:
    with pytest.raises(ConfigError) as error:
        parse(**overrides)
    return str(error.value)


def test_defaults_match_the_spot_guide():
    config = parse()

    assert config.workloads == (WorkloadClass.PIPELINES, WorkloadClass.TRAINING, WorkloadClass.HPO)
    assert config.placement is Placement.REQUIRE
    assert config.profile == AKS
    assert (config.retry.limit, config.retry.backoff, config.retry.on) == (
        5,
        "5m",
        RetryOn.EVICTIONS,
    )


def test_workload_list_tolerates_spaces_and_drops_duplicates():
    assert parse(spot_workloads=" batch , hpo,batch").workloads == (
        WorkloadClass.BATCH,
        WorkloadClass.HPO,
    )


def test_empty_workload_list_puts_nothing_on_spot():
    assert parse(spot_workloads="").workloads == ()


@pytest.mark.parametrize(
    "ineligible", ["notebooks", "serving", "dashboards", "databases", "control-plane"]
)
def test_never_eligible_class_is_invalid_and_says_why(ineligible):
    message = problems(spot_workloads=f"pipelines,{ineligible}")

    assert f"{ineligible} never runs on spot (an eviction" in message


def test_unknown_class_lists_the_accepted_ones():
    assert (
        "unknown class gpus; a comma-separated list of pipelines, training, hpo, spark, batch"
        in problems(spot_workloads="gpus")
    )


@pytest.mark.parametrize(
    ("profile", "label", "taint"),
    [
        ("eks", "eks.amazonaws.com/capacityType=SPOT", None),
        ("gke", "cloud.google.com/gke-spot=true", "cloud.google.com/gke-spot=true:NoSchedule"),
        ("karpenter", "karpenter.sh/capacity-type=spot", None),
    ],
)
def test_cloud_profiles(profile, label, taint):
    config = parse(spot_profile=profile)

    assert str(config.profile.label) == label
    assert (str(config.profile.taint) if config.profile.taint else None) == taint


def test_aks_recognises_both_spot_labels():
    labels = [str(label) for label in parse().profile.spot_labels()]

    assert labels == [
        "kubernetes.azure.com/scalesetpriority=spot",
        "kubernetes.azure.com/priority=spot",
    ]


def test_label_and_taint_override_the_profile():
    config = parse(spot_node_label="pool=cheap", spot_node_taint="pool=cheap:PreferNoSchedule")

    assert str(config.profile.label) == "pool=cheap"
    assert config.profile.taint == Taint("pool", "cheap", "PreferNoSchedule")
    assert config.profile.also_spot == ()


def test_taint_none_removes_the_profile_taint():
    assert parse(spot_node_taint="none").profile.taint is None


def test_taint_without_value_tolerates_with_exists():
    taint = parse(spot_node_taint="spot-only:NoExecute").profile.taint

    assert taint.toleration() == {"key": "spot-only", "operator": "Exists", "effect": "NoExecute"}


def test_custom_profile_needs_label_and_taint():
    message = problems(spot_profile="custom")

    assert (
        "spot-node-label='' is invalid: key=value is required with spot-profile=custom" in message
    )
    assert "spot-node-taint='' is invalid: key=value:Effect or none is required" in message


def test_custom_profile_from_options():
    config = parse(spot_profile="custom", spot_node_label="lifecycle=spot", spot_node_taint="none")

    assert (str(config.profile.label), config.profile.taint) == ("lifecycle=spot", None)


@pytest.mark.parametrize(
    "label", ["spot", "=spot", "a b=c", "x=" + "v" * 64, "bad_prefix!/k=v", "-k=v"]
)
def test_malformed_node_label_is_invalid(label):
    assert "spot-node-label=" in problems(spot_node_label=label)


@pytest.mark.parametrize("taint", ["k=v", "k=v:Never", ":NoSchedule", "k=v w:NoSchedule"])
def test_malformed_taint_is_invalid(taint):
    assert "spot-node-taint=" in problems(spot_node_taint=taint)


@pytest.mark.parametrize("text", ["30s", "5m", "1h30m", "1.5h", "2h0m10s"])
def test_go_durations_are_accepted(text):
    assert parse(retry_backoff=text).retry.backoff == text


@pytest.mark.parametrize("text", ["", "0s", "0", "5 m", "5min", "-5m", "25h", "86401", "1d"])
def test_bad_backoff_is_invalid(text):
    assert "retry-backoff=" in problems(retry_backoff=text)


@pytest.mark.parametrize("value", [-1, 21, True, "5"])
def test_retry_limit_must_be_a_small_integer(value):
    assert "retry-limit=" in problems(retry_limit=value)


def test_zero_retry_limit_disables_retry():
    assert not parse(retry_limit=0).retry.enabled


def test_max_duration_must_outlast_the_first_wait():
    assert "longer than retry-backoff (5m)" in problems(retry_max_duration="5m")
    assert parse(retry_max_duration="2h").retry.max_duration == "2h"


@pytest.mark.parametrize(
    ("given", "minor"), [("3.4", "3.4"), ("v3.7.17", "3.7"), ("4.0.5", "4.0")]
)
def test_argo_version_keeps_the_minor(given, minor):
    assert parse(argo_version=given).argo_version == minor


@pytest.mark.parametrize("given", ["3", "3.3", "4.1", "latest", "3.7-rc1"])
def test_unsupported_argo_version_is_invalid(given):
    assert "argo-version=" in problems(argo_version=given)


@pytest.mark.parametrize("delivery", ["auto", "resource-dispatcher"])
def test_pod_defaults_delivery_modes(delivery):
    assert parse(pod_defaults_delivery=delivery).pod_defaults_delivery is PodDefaultsDelivery(
        delivery
    )


@pytest.mark.parametrize("delivery", ["direct", "dispatcher", ""])
def test_unknown_pod_defaults_delivery_is_invalid_and_lists_the_modes(delivery):
    assert f"pod-defaults-delivery={delivery!r} is invalid: one of auto, resource-dispatcher" in (
        problems(pod_defaults_delivery=delivery)
    )


def test_summary_line():
    config = parse(retry_backoff_factor=2, spot_placement="prefer", retry_on="all")

    assert (
        config.summary() == "spot: pipelines,training,hpo · prefer · retry 5×5m ×2 backoff on all"
    )


def test_summary_line_says_evictions_are_retried_at_once_and_set_retry_keeps_its_policy():
    assert parse(spot_fallback_after=0).summary() == (
        "spot: pipelines,training,hpo · require · retry 5× at once on evictions"
        " (set_retry steps: their own policy)"
    )


def test_summary_line_says_after_how_many_evictions_a_step_may_use_on_demand():
    assert parse().summary().endswith(" · on-demand after 2 evictions")
    assert parse(spot_fallback_after=1).summary().endswith(" · on-demand after 1 eviction")


@pytest.mark.parametrize(
    "overrides",
    [
        {"argo_version": "3.4"},
        {"argo_version": "3.6", "retry_on": "all"},
        {"spot_placement": "prefer"},
        {"spot_workloads": "training"},
        {"retry_limit": 0},
    ],
)
def test_summary_line_leaves_out_a_fallback_that_is_not_rendered(overrides):
    config = parse(**overrides)

    assert config.fallback_after == 2
    assert not config.falls_back()
    assert "on-demand after" not in config.summary()


@pytest.mark.parametrize("value", [-1, 21, "2", True, 2.0])
def test_fallback_after_must_be_a_small_integer(value):
    assert "spot-fallback-after=" in problems(spot_fallback_after=value)


def test_fallback_after_more_evictions_than_retries_is_invalid():
    assert "spot-fallback-after=4 is invalid: 0 (off) or 1 to retry-limit (3)" in problems(
        spot_fallback_after=4, retry_limit=3
    )
    assert parse(spot_fallback_after=3, retry_limit=3).fallback_after == 3


def test_fallback_needs_no_retry_limit_check_when_retries_are_off():
    assert parse(spot_fallback_after=20, retry_limit=0).fallback_after == 20


@pytest.mark.parametrize(
    ("labels", "taints", "expected"),
    [
        ({"kubernetes.azure.com/scalesetpriority": "spot"}, (), True),
        ({"kubernetes.azure.com/priority": "spot"}, (), True),
        ({}, ("kubernetes.azure.com/scalesetpriority",), True),
        ({"kubernetes.azure.com/priority": "regular"}, (), False),
        ({"kubernetes.azure.com/scalesetpriority": "regular"}, ("other",), False),
    ],
)
def test_aks_spot_nodes_are_recognised_by_either_label_or_the_taint(labels, taints, expected):
    assert AKS.is_spot_node(labels, taints) is expected


def test_untainted_profile_recognises_spot_nodes_by_label_only():
    eks = parse(spot_profile="eks").profile

    assert eks.is_spot_node({"eks.amazonaws.com/capacityType": "SPOT"})
    assert not eks.is_spot_node({"eks.amazonaws.com/capacityType": "ON_DEMAND"}, ("x",))
