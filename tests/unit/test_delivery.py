"""Delivery decisions: which path PodDefaults take, and what resource-dispatcher is given."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delivery import DeliveryPath, choose_path, dispatcher_manifests, plan_delivery
from render import render
from spot_config import PodDefaultsDelivery
from tests.resource_dispatcher import render_as_dispatcher
from tests.unit.shared import parse, parse_valid, valid_options

AUTO = PodDefaultsDelivery.AUTO
DISPATCHER_ONLY = PodDefaultsDelivery.RESOURCE_DISPATCHER


@pytest.mark.parametrize(
    ("mode", "related", "path"),
    [
        (AUTO, True, DeliveryPath.RESOURCE_DISPATCHER),
        (AUTO, False, DeliveryPath.DIRECT),
        (DISPATCHER_ONLY, True, DeliveryPath.RESOURCE_DISPATCHER),
        (DISPATCHER_ONLY, False, DeliveryPath.WITHDRAWN),
    ],
)
def test_path_follows_the_relation_and_the_mode(mode, related, path):
    assert choose_path(mode, related=related) is path


def test_dispatcher_manifests_drop_the_namespace_and_name_the_dispatcher_as_manager():
    manifest = {
        "metadata": {"name": "spot-hpo", "namespace": "admin", "labels": {"a": "b"}},
        "spec": {"desc": "x"},
    }

    [sent] = dispatcher_manifests([manifest])

    assert sent == {
        "metadata": {
            "name": "spot-hpo",
            "labels": {"a": "b", "app.kubernetes.io/managed-by": "resource-dispatcher"},
        },
        "spec": {"desc": "x"},
    }
    assert manifest["metadata"]["namespace"] == "admin"  # The rendered manifest is untouched.


def test_direct_plan_applies_the_rendered_manifests_and_sends_nothing():
    rendered = render(parse(), app="spot").pod_defaults

    plan = plan_delivery(AUTO, related=False, pod_defaults=rendered)

    assert plan.applied_directly == rendered
    assert plan.sent_to_dispatcher is None


def test_dispatcher_plan_applies_nothing_directly():
    rendered = render(parse(), app="spot").pod_defaults

    plan = plan_delivery(AUTO, related=True, pod_defaults=rendered)

    assert plan.applied_directly == ()
    assert plan.sent_to_dispatcher == dispatcher_manifests(rendered)


def test_withdrawn_plan_delivers_nothing_either_way():
    plan = plan_delivery(
        DISPATCHER_ONLY, related=False, pod_defaults=render(parse(), app="s").pod_defaults
    )

    assert (plan.applied_directly, plan.sent_to_dispatcher, plan.manifests) == ((), None, ())


@pytest.mark.parametrize(
    ("related", "namespaces", "described"),
    [
        (True, 0, "via resource-dispatcher"),
        (False, 1, "direct to 1 namespace"),
        (False, 3, "direct to 3 namespaces"),
        (False, None, "direct to every profile namespace"),
    ],
)
def test_describe_names_the_path(related, namespaces, described):
    assert plan_delivery(AUTO, related=related, pod_defaults=()).describe(namespaces) == described


# Juju application names: lowercase letters, digits and hyphens, starting with a letter.
_app_names = st.from_regex(r"\A[a-z][a-z0-9]{0,8}(-[a-z][a-z0-9]{0,8}){0,2}\Z")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(options=valid_options, app=_app_names)
def test_no_valid_config_sends_the_dispatcher_a_jinja_marker(options, app):
    sent = dispatcher_manifests(render(parse_valid(options), app=app).pod_defaults)

    text = json.dumps(sent)
    assert not any(marker in text for marker in ("{{", "{%", "{#"))
    assert [render_as_dispatcher(m, "admin") for m in sent] == sent


@settings(max_examples=50, deadline=None)
@given(app=_app_names)
def test_names_are_prefixed_with_the_app_and_unique(app):
    config = parse(spot_workloads="pipelines,training,hpo,spark,batch")
    names = [
        m["metadata"]["name"] for m in dispatcher_manifests(render(config, app=app).pod_defaults)
    ]

    assert all(name.startswith(f"{app}-") for name in names)
    assert len(set(names)) == len(names) == 5  # training, trainjob, hpo, spark, batch
