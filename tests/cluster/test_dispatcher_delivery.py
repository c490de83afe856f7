"""Switching between direct and resource-dispatcher delivery, against a real kube-apiserver.

The charm runs under ops.testing with a `pod-defaults` relation in its State; the dispatcher's
copies are applied the way Metacontroller would, from what `ResourceDispatcher` reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from lightkube import Client

from applier import PodDefault
from tests.cluster.charm_on_cluster import argo_configmap, poddefaults, reconcile
from tests.resource_dispatcher import ResourceDispatcher, render_as_dispatcher
from tests.unit.shared import DEFAULT_POD_DEFAULTS

OURS = DEFAULT_POD_DEFAULTS


@pytest.fixture
def dispatcher(client: Client, profile_pods: str) -> Iterator[ResourceDispatcher]:
    """Yield the dispatcher; afterwards delete what a test applied in its place."""
    yield ResourceDispatcher()
    for name in poddefaults(client, profile_pods):
        client.delete(PodDefault, name, namespace=profile_pods)


def test_relating_removes_the_direct_poddefaults_and_breaking_restores_them(
    ctx, client, profile_pods, dispatcher
):
    direct = reconcile(ctx)
    assert set(poddefaults(client, profile_pods)) == OURS
    state = dataclasses.replace(direct, relations={dispatcher.relation})

    linked = ctx.run(ctx.on.relation_created(dispatcher.relation), state)

    assert poddefaults(client, profile_pods) == {}
    assert "workflowDefaults" in argo_configmap(client).data

    ctx.run(ctx.on.relation_broken(linked.get_relation(dispatcher.relation.id)), linked)

    assert set(poddefaults(client, profile_pods)) == OURS


def test_the_dispatchers_copies_are_valid_poddefaults_the_charm_leaves_alone(
    ctx, client, profile_pods, dispatcher
):
    state = dataclasses.replace(reconcile(ctx), relations={dispatcher.relation})
    linked = ctx.run(ctx.on.relation_created(dispatcher.relation), state)
    for manifest in dispatcher.received(linked):
        copy = render_as_dispatcher(manifest, profile_pods)
        copy["metadata"]["namespace"] = profile_pods
        client.apply(PodDefault.from_dict(copy), field_manager="metacontroller")
    stored = {p.metadata.name: p for p in client.list(PodDefault, namespace=profile_pods)}

    ctx.run(ctx.on.update_status(), linked)

    after = {p.metadata.name: p for p in client.list(PodDefault, namespace=profile_pods)}
    assert set(after) == OURS
    for manifest in dispatcher.received(linked):
        name = manifest["metadata"]["name"]
        # The CRD's schema pruned nothing, and the charm neither deleted nor rewrote the copy.
        assert after[name].spec == manifest["spec"]
        assert after[name].metadata.resourceVersion == stored[name].metadata.resourceVersion
