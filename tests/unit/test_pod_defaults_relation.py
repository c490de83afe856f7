"""PodDefaults via resource-dispatcher: the `pod-defaults` relation, its secret and fallback."""

from __future__ import annotations

import dataclasses

import ops
import pytest
import yaml
from ops import testing

from render import render
from spot_config import parse_config
from tests.resource_dispatcher import ResourceDispatcher
from tests.unit.fake_k8s import FakeCluster
from tests.unit.shared import (
    APP,
    ARGO_CONFIGMAP,
    DEFAULT_POD_DEFAULTS,
    DEFAULT_SUMMARY,
    DEFAULTS,
    MODEL,
    PROFILES,
    leader_state,
)


@pytest.fixture
def dispatcher() -> ResourceDispatcher:
    return ResourceDispatcher()


def related(state: testing.State, dispatcher: ResourceDispatcher) -> testing.State:
    return dataclasses.replace(state, relations={dispatcher.relation})


def reconfigured(state: testing.State, **config: object) -> testing.State:
    return dataclasses.replace(state, config={**state.config, **config})


def names_and_specs(manifests) -> list[tuple[str, dict]]:
    return [(m["metadata"]["name"], m["spec"]) for m in manifests]


def direct_poddefaults(cluster: FakeCluster) -> dict[str, set[str]]:
    return {ns: set(cluster.find("PodDefault", ns)) for ns in PROFILES}


def test_relation_created_hands_the_rendered_poddefaults_to_the_dispatcher(ctx, dispatcher):
    out = ctx.run(
        ctx.on.relation_created(dispatcher.relation), related(leader_state(), dispatcher)
    )

    expected = render(parse_config(DEFAULTS), app=APP).pod_defaults
    assert names_and_specs(dispatcher.received(out)) == names_and_specs(expected)
    assert out.unit_status == testing.ActiveStatus(f"{DEFAULT_SUMMARY} · via resource-dispatcher")


def test_databag_and_secret_are_exactly_what_the_dispatcher_reads(ctx, dispatcher):
    out = ctx.run(
        ctx.on.relation_created(dispatcher.relation), related(leader_state(), dispatcher)
    )

    secret = dispatcher.secret(out)
    assert out.get_relation(dispatcher.relation.id).local_app_data == {
        "kubernetes_manifests": secret.id,
        "is_secret": "true",
    }
    assert secret.owner == "app"
    assert secret.label == f"manifest.pod-defaults.{dispatcher.relation.id}"
    assert list(secret.latest_content) == ["manifests"]


def test_sent_manifests_have_no_namespace_and_app_prefixed_names(ctx, dispatcher):
    out = ctx.run(
        ctx.on.relation_created(dispatcher.relation), related(leader_state(), dispatcher)
    )

    for manifest in dispatcher.received(out):
        assert "namespace" not in manifest["metadata"]
        assert manifest["metadata"]["name"].startswith(f"{APP}-")


def test_sent_manifests_come_through_the_dispatchers_jinja_rendering_unchanged(ctx, dispatcher):
    state = related(leader_state(**{"spot-workloads": "pipelines,training,hpo,batch"}), dispatcher)
    out = ctx.run(ctx.on.relation_created(dispatcher.relation), state)

    text = dispatcher.secret(out).latest_content["manifests"]
    assert "{{" not in text
    assert "{%" not in text
    assert "{#" not in text
    assert dispatcher.files_for(out, "admin") == dispatcher.received(out)


def test_config_change_updates_the_same_secret(ctx, dispatcher):
    first = ctx.run(
        ctx.on.relation_created(dispatcher.relation), related(leader_state(), dispatcher)
    )

    out = ctx.run(ctx.on.config_changed(), reconfigured(first, **{"spot-workloads": "hpo"}))

    assert [s.id for s in out.secrets] == [dispatcher.secret(first).id]
    assert [m["metadata"]["name"] for m in dispatcher.received(out)] == [f"{APP}-hpo"]


def test_unchanged_manifests_add_no_secret_revision(ctx, dispatcher, monkeypatch):
    first = ctx.run(
        ctx.on.relation_created(dispatcher.relation), related(leader_state(), dispatcher)
    )
    new_revisions = []
    set_content = ops.Secret.set_content

    def recording_set_content(secret: ops.Secret, content: dict[str, str]) -> None:
        new_revisions.append(content)
        set_content(secret, content)

    monkeypatch.setattr(ops.Secret, "set_content", recording_set_content)

    out = ctx.run(ctx.on.update_status(), first)

    assert new_revisions == []
    assert dispatcher.received(out) == dispatcher.received(first)


def test_nothing_to_deliver_sends_an_empty_list(ctx, dispatcher):
    state = related(leader_state(**{"spot-workloads": "pipelines"}), dispatcher)

    out = ctx.run(ctx.on.relation_created(dispatcher.relation), state)

    assert dispatcher.received(out) == []


def test_relating_removes_the_directly_applied_poddefaults_but_not_argo_defaults(
    ctx, cluster, dispatcher
):
    direct = ctx.run(ctx.on.config_changed(), leader_state())
    assert direct_poddefaults(cluster) == dict.fromkeys(PROFILES, DEFAULT_POD_DEFAULTS)

    ctx.run(ctx.on.relation_created(dispatcher.relation), related(direct, dispatcher))

    assert direct_poddefaults(cluster) == {ns: set() for ns in PROFILES}
    assert "workflowDefaults" in cluster.find("ConfigMap", MODEL)[ARGO_CONFIGMAP]["data"]


def test_the_dispatchers_copies_are_never_pruned_as_the_charms_own(ctx, cluster, dispatcher):
    out = ctx.run(
        ctx.on.relation_created(dispatcher.relation), related(leader_state(), dispatcher)
    )
    for manifest in dispatcher.files_for(out, "admin"):
        cluster.add(
            "PodDefault", {**manifest, "metadata": {**manifest["metadata"], "namespace": "admin"}}
        )

    ctx.run(ctx.on.update_status(), out)

    assert set(cluster.find("PodDefault", "admin")) == DEFAULT_POD_DEFAULTS
    assert not any(verb == "delete" for verb, *_ in cluster.writes)


def test_relation_broken_returns_to_direct_delivery(ctx, cluster, dispatcher):
    linked = ctx.run(
        ctx.on.relation_created(dispatcher.relation), related(leader_state(), dispatcher)
    )

    out = ctx.run(ctx.on.relation_broken(linked.get_relation(dispatcher.relation.id)), linked)

    assert direct_poddefaults(cluster) == dict.fromkeys(PROFILES, DEFAULT_POD_DEFAULTS)
    assert out.unit_status == testing.ActiveStatus(f"{DEFAULT_SUMMARY} · direct to 2 namespaces")


def test_relation_broken_with_dispatcher_only_delivery_withdraws_and_blocks(
    ctx, cluster, dispatcher
):
    state = related(leader_state(**{"pod-defaults-delivery": "resource-dispatcher"}), dispatcher)
    linked = ctx.run(ctx.on.relation_created(dispatcher.relation), state)

    out = ctx.run(ctx.on.relation_broken(linked.get_relation(dispatcher.relation.id)), linked)

    assert direct_poddefaults(cluster) == {ns: set() for ns in PROFILES}
    assert out.unit_status == testing.BlockedStatus(
        f"PodDefaults withdrawn: run juju integrate {APP}:pod-defaults"
        " resource-dispatcher:pod-defaults, or set pod-defaults-delivery=auto"
    )
    assert "workflowDefaults" in cluster.find("ConfigMap", MODEL)[ARGO_CONFIGMAP]["data"]


def test_dispatcher_only_delivery_without_poddefaults_to_deliver_is_not_blocked(ctx):
    config = {"pod-defaults-delivery": "resource-dispatcher", "spot-workloads": "pipelines"}

    out = ctx.run(ctx.on.config_changed(), leader_state(**config))

    assert out.unit_status == testing.ActiveStatus(
        "spot: pipelines · require · retry 5× at once on evictions"
        " (set_retry steps: their own policy) · on-demand after 2 evictions"
        " · withdrawn (pod-defaults-delivery=resource-dispatcher, no relation)"
    )


def test_dispatcher_only_delivery_withdraws_directly_applied_poddefaults(ctx, cluster):
    direct = ctx.run(ctx.on.config_changed(), leader_state())

    ctx.run(
        ctx.on.config_changed(),
        reconfigured(direct, **{"pod-defaults-delivery": "resource-dispatcher"}),
    )

    assert direct_poddefaults(cluster) == {ns: set() for ns in PROFILES}


def test_non_leader_writes_no_secret_and_no_databag(ctx, cluster, dispatcher):
    state = testing.State(
        leader=False, relations={dispatcher.relation}, model=testing.Model(name=MODEL)
    )

    out = ctx.run(ctx.on.relation_created(dispatcher.relation), state)

    assert out.secrets == frozenset()
    assert out.get_relation(dispatcher.relation.id).local_app_data == {}
    assert cluster.requests == 0


def test_invalid_config_sends_nothing_to_the_dispatcher(ctx, cluster, dispatcher):
    state = related(leader_state(**{"spot-workloads": "notebooks"}), dispatcher)

    out = ctx.run(ctx.on.relation_created(dispatcher.relation), state)

    assert out.unit_status.name == "blocked"
    assert out.secrets == frozenset()
    assert out.get_relation(dispatcher.relation.id).local_app_data == {}
    assert cluster.requests == 0


def test_invalid_config_keeps_what_the_dispatcher_already_has(ctx, dispatcher):
    first = ctx.run(
        ctx.on.relation_created(dispatcher.relation), related(leader_state(), dispatcher)
    )

    out = ctx.run(ctx.on.config_changed(), reconfigured(first, **{"retry-limit": -1}))

    assert out.secrets == first.secrets
    assert dispatcher.received(out) == dispatcher.received(first)


# secret-remove: obsolete revisions of the manifests secret are removed, and only those.


def _secret_with_three_revisions(ctx, dispatcher) -> testing.State:
    state = related(leader_state(), dispatcher)
    state = ctx.run(ctx.on.relation_created(dispatcher.relation), state)
    state = ctx.run(ctx.on.config_changed(), reconfigured(state, **{"spot-workloads": "hpo"}))
    return ctx.run(ctx.on.config_changed(), reconfigured(state, **{"spot-workloads": "batch"}))


def test_secret_remove_removes_the_obsolete_revision(ctx, dispatcher):
    state = _secret_with_three_revisions(ctx, dispatcher)

    ctx.run(ctx.on.secret_remove(dispatcher.secret(state), revision=2), state)

    assert ctx.removed_secret_revisions == [2]


def test_secret_remove_leaves_other_secrets_of_the_app_alone(ctx):
    other = testing.Secret({"password": "x"}, owner="app", label="database-password")
    state = dataclasses.replace(leader_state(), secrets={other})

    ctx.run(ctx.on.secret_remove(other, revision=1), state)

    assert ctx.removed_secret_revisions == []


def test_secret_remove_on_a_non_leader_removes_nothing(ctx, dispatcher):
    state = _secret_with_three_revisions(ctx, dispatcher)

    ctx.run(
        ctx.on.secret_remove(dispatcher.secret(state), revision=2),
        dataclasses.replace(state, leader=False),
    )

    assert ctx.removed_secret_revisions == []


# show-defaults names the delivery path and shows what that path delivers.


def test_show_defaults_shows_the_manifests_as_sent_to_the_dispatcher(ctx, dispatcher):
    ctx.run(ctx.on.action("show-defaults"), related(leader_state(), dispatcher))

    document = yaml.safe_load(ctx.action_results["defaults"])["podDefaults"]
    assert ctx.action_results["delivery"] == "via resource-dispatcher"
    assert document["delivery"] == "via resource-dispatcher"
    labels = document["manifests"][0]["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "resource-dispatcher"


def test_show_defaults_without_the_relation_says_direct(ctx):
    ctx.run(ctx.on.action("show-defaults"), leader_state())

    assert ctx.action_results["delivery"] == "direct to every profile namespace"


def test_show_defaults_says_withdrawn_with_dispatcher_only_delivery_and_no_relation(ctx):
    ctx.run(
        ctx.on.action("show-defaults"),
        leader_state(**{"pod-defaults-delivery": "resource-dispatcher"}),
    )

    document = yaml.safe_load(ctx.action_results["defaults"])["podDefaults"]
    assert ctx.action_results["delivery"].startswith("withdrawn")
    assert document["manifests"] == []


def test_a_secret_removed_out_of_band_is_recreated_and_announced(ctx, dispatcher):
    stale = {"kubernetes_manifests": "secret:d0gone0000000000000g", "is_secret": "true"}
    relation = dataclasses.replace(dispatcher.relation, local_app_data=stale)
    state = dataclasses.replace(leader_state(), relations={relation})

    out = ctx.run(ctx.on.update_status(), state)

    assert dispatcher.secret(out).id != stale["kubernetes_manifests"]
    assert len(dispatcher.received(out)) == len(DEFAULT_POD_DEFAULTS)


def test_relation_broken_while_the_application_is_removed_restores_nothing(
    ctx, cluster, dispatcher
):
    linked = ctx.run(
        ctx.on.relation_created(dispatcher.relation), related(leader_state(), dispatcher)
    )
    cluster.writes.clear()

    ctx.run(
        ctx.on.relation_broken(linked.get_relation(dispatcher.relation.id)),
        dataclasses.replace(linked, planned_units=0),
    )

    assert cluster.writes == []
