"""Issue 11's defects that show on a real API server: identity, namespace state, races, hangs.

Each test was written to fail on the code the issue was filed against (marked xfail(strict)
until its fix lands). The charm gets its own real client with a counting transport, so tests
count the requests it made, and `before` lets a test change the cluster between the charm's
read and its write.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx2
import pytest
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace, NamespaceFinalize
from ops import testing

import applier as applier_module
import charm as charm_module
from applier import PodDefault
from localcluster.charm_context import charm_context
from localcluster.harness import CountingTransport
from localcluster.seed import (
    ARGO_CONFIGMAP,
    KUBEFLOW_NAMESPACE,
    PROFILE_NAMESPACE,
    apply_argo_configmap,
)
from tests.cluster.charm_on_cluster import argo_configmap, owners, poddefaults, reconcile

PROFILE_LABELS = {"app.kubernetes.io/part-of": "kubeflow-profile"}


@pytest.fixture
def spot_ctx(client: Client, charm_client: CountingTransport) -> Iterator[testing.Context]:
    """Yield a Context whose charm uses the counting client; remove what it applied after."""
    context = charm_context()
    yield context
    charm_client.before = None
    last_unit = testing.State(
        leader=True, planned_units=0, model=testing.Model(name=KUBEFLOW_NAMESPACE)
    )
    context.run(context.on.remove(), last_unit)


def remove(ctx: testing.Context) -> testing.State:
    state = testing.State(
        leader=True, planned_units=0, model=testing.Model(name=KUBEFLOW_NAMESPACE)
    )
    return ctx.run(ctx.on.remove(), state)


def _drop_namespace(client: Client, name: str) -> None:
    """Delete a namespace for good: no namespace controller runs here to finalize it."""
    try:
        client.delete(Namespace, name)
        client.replace(NamespaceFinalize(metadata=ObjectMeta(name=name), spec={"finalizers": []}))
        client.delete(Namespace, name)
    except ApiError as error:
        if error.status.code != 404:
            raise


# Defect 4: a user's PodDefault that has the charm's name.

USERS_PODDEFAULT = {
    "apiVersion": "kubeflow.org/v1alpha1",
    "kind": "PodDefault",
    "metadata": {
        "name": "kubeflow-spot-training",
        "namespace": PROFILE_NAMESPACE,
        "labels": {"team": "ml"},
    },
    "spec": {
        "desc": "GPU for our training jobs",
        "selector": {"matchLabels": {"team": "ml"}},
        "env": [{"name": "CUDA_VISIBLE_DEVICES", "value": "0"}],
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
    },
}


@pytest.fixture
def users_poddefault(client: Client) -> Iterator[dict]:
    client.create(PodDefault.from_dict(USERS_PODDEFAULT), field_manager="kubectl-create")
    stored = client.get(PodDefault, "kubeflow-spot-training", namespace=PROFILE_NAMESPACE)
    yield {"labels": stored.metadata.labels, "spec": stored.spec}
    try:
        client.delete(PodDefault, "kubeflow-spot-training", namespace=PROFILE_NAMESPACE)
    except ApiError as error:
        if error.status.code != 404:
            raise


def test_a_users_poddefault_of_our_name_is_left_alone_and_named_in_the_status(
    client, spot_ctx, users_poddefault
):
    state = reconcile(spot_ctx, **{"spot-workloads": "pipelines,training"})
    again = reconcile(spot_ctx, **{"spot-workloads": "pipelines,training"})
    remove(spot_ctx)

    stored = client.get(PodDefault, "kubeflow-spot-training", namespace=PROFILE_NAMESPACE)
    assert stored.spec == users_poddefault["spec"]
    assert stored.metadata.labels == users_poddefault["labels"]
    assert f"{PROFILE_NAMESPACE}/kubeflow-spot-training" in state.unit_status.message
    assert again.unit_status == state.unit_status


# Defect 5: a profile namespace being deleted.


@pytest.fixture
def terminating_namespace(client: Client) -> Iterator[str]:
    name = "leaving-user"
    client.create(Namespace(metadata=ObjectMeta(name=name, labels=PROFILE_LABELS)))
    client.delete(Namespace, name)  # stays Terminating: no namespace controller runs here
    assert client.get(Namespace, name).status.phase == "Terminating"
    yield name
    _drop_namespace(client, name)


def test_a_terminating_profile_namespace_is_skipped_without_a_trust_hint(
    client, spot_ctx, terminating_namespace
):
    state = reconcile(spot_ctx, **{"spot-workloads": "pipelines,training"})

    assert state.unit_status.name == "active", state.unit_status.message
    assert "juju trust" not in state.unit_status.message
    assert "kubeflow-spot-training" in poddefaults(client, PROFILE_NAMESPACE)
    assert "workflowDefaults" in (argo_configmap(client).data or {})


# Defect 6: withdrawing our key from an Argo ConfigMap deleted meanwhile.


def test_withdrawing_the_key_never_recreates_a_deleted_configmap(client, spot_ctx, charm_client):
    reconcile(spot_ctx)
    assert "kubeflow-spot" in owners(argo_configmap(client))["workflowDefaults"]

    def delete_first(request: httpx2.Request) -> None:
        # argo-controller removes its ConfigMap just after the charm read it.
        if request.method == "PATCH" and request.url.path.endswith(
            f"/configmaps/{ARGO_CONFIGMAP}"
        ):
            charm_client.before = None
            client.delete(ConfigMap, ARGO_CONFIGMAP, namespace=KUBEFLOW_NAMESPACE)

    charm_client.before = delete_first
    try:
        remove(spot_ctx)
        with pytest.raises(ApiError) as missing:
            argo_configmap(client)
        assert missing.value.status.code == 404
    finally:
        charm_client.before = None
        apply_argo_configmap(client)


# Defect 7: an immutable Argo ConfigMap.

IMMUTABLE = "immutable-argo-config"


@pytest.fixture
def immutable_configmap(client: Client) -> Iterator[str]:
    apply_argo_configmap(client, IMMUTABLE, immutable=True)
    yield IMMUTABLE
    client.delete(ConfigMap, IMMUTABLE, namespace=KUBEFLOW_NAMESPACE)


def test_an_immutable_argo_configmap_blocks_with_what_to_do(spot_ctx, immutable_configmap):
    state = reconcile(spot_ctx, **{"argo-configmap": immutable_configmap})

    assert state.unit_status.name == "blocked", state.unit_status.message
    assert "immutable" in state.unit_status.message
    assert immutable_configmap in state.unit_status.message


# Defect 9: a reconcile against a stalled API server ends at its deadline.

DEADLINE_SECONDS = 3.0
STALL_SECONDS = 0.5
PROFILES = 12


@pytest.fixture
def many_profiles(client: Client) -> Iterator[list[str]]:
    names = [f"team-{n:02d}" for n in range(PROFILES)]
    for name in names:
        client.apply(
            Namespace(metadata=ObjectMeta(name=name, labels=PROFILE_LABELS)), field_manager="test"
        )
    yield names
    for name in names:
        _drop_namespace(client, name)


def test_a_reconcile_on_a_stalled_api_server_stops_at_its_deadline_and_waits(
    control_plane, spot_ctx, charm_client, many_profiles, monkeypatch
):
    monkeypatch.setattr(applier_module, "RECONCILE_DEADLINE_SECONDS", DEADLINE_SECONDS)

    def stall(request: httpx2.Request) -> None:
        # Every answer comes late: the API server is frozen for a while before each request.
        with control_plane.paused():
            time.sleep(STALL_SECONDS)

    charm_client.before = stall
    state = reconcile(spot_ctx, **{"spot-workloads": "pipelines,training,hpo"})
    charm_client.before = None

    # 3 PodDefaults into 12 namespaces alone are 36 writes; the deadline allows about 6 requests.
    assert len(charm_client.requests) <= DEADLINE_SECONDS / STALL_SECONDS + 2
    assert state.unit_status.name == "waiting"
    assert "deadline" in state.unit_status.message
    converged = reconcile(spot_ctx, **{"spot-workloads": "pipelines,training,hpo"})
    assert converged.unit_status.name == "active", converged.unit_status.message


ACTION_DEADLINE_SECONDS = 1.0


def test_report_placement_on_a_stalled_api_server_fails_at_its_deadline(
    control_plane, spot_ctx, charm_client, monkeypatch
):
    monkeypatch.setattr(charm_module, "ACTION_DEADLINE_SECONDS", ACTION_DEADLINE_SECONDS)

    def stall(request: httpx2.Request) -> None:
        with control_plane.paused():
            time.sleep(STALL_SECONDS)

    charm_client.before = stall
    state = testing.State(leader=True, model=testing.Model(name=KUBEFLOW_NAMESPACE))
    with pytest.raises(testing.ActionFailed) as failed:
        spot_ctx.run(spot_ctx.on.action("report-placement"), state)
    charm_client.before = None

    assert "deadline" in failed.value.message
    # Three conversations go at once (the pods' pages, the nodes, and the dozen Workflow and
    # conflict LISTs on a side thread), each checking the deadline before its next request:
    # none sends more stalled requests than the deadline holds, plus the one under way.
    per_conversation = ACTION_DEADLINE_SECONDS / STALL_SECONDS + 1
    assert len(charm_client.requests) <= 3 * per_conversation
