"""The charm's reconcile against a real kube-apiserver, and placement by the real kube-scheduler.

The charm runs under ops.testing with the control plane's client behind its lightkube seam;
every assertion reads what the API server stored or where the scheduler bound a pod.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
import yaml
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Node, Pod
from ops import testing

from charm import KubeflowSpotCharm
from localcluster import kubeflow_pods
from localcluster.harness import argo_config_check
from localcluster.seed import (
    ARGO_CONFIGMAP,
    ARGO_FIELD_MANAGER,
    KUBEFLOW_NAMESPACE,
    REGULAR_POOL,
    SPOT_POOL,
    cordon,
    uncordon,
    wait_for_binding,
    wait_for_unschedulable,
)
from tests.charm_context import charm_context

BIND_TIMEOUT = 30.0
PodDefault = kubeflow_pods.PodDefault
ARGO_CONTROLLER_KEYS = {"artifactRepository", "executor", "metricsConfig"}


@pytest.fixture
def ctx(client: Client, monkeypatch: pytest.MonkeyPatch) -> testing.Context:
    """Return a Context for the charm whose lightkube seam is the real control plane."""
    monkeypatch.setattr(KubeflowSpotCharm, "lightkube_client", lambda self: client)
    return charm_context()


def reconcile(ctx: testing.Context, **config: object) -> testing.State:
    state = testing.State(leader=True, config=config, model=testing.Model(name=KUBEFLOW_NAMESPACE))
    return ctx.run(ctx.on.config_changed(), state)


def argo_configmap(client: Client) -> ConfigMap:
    return client.get(ConfigMap, ARGO_CONFIGMAP, namespace=KUBEFLOW_NAMESPACE)


def owners(configmap: ConfigMap) -> dict[str, set[str]]:
    """Return, per data key, the field managers that own it."""
    by_key: dict[str, set[str]] = {}
    for entry in configmap.metadata.managedFields or []:
        for key in (entry.fieldsV1 or {}).get("f:data", {}):
            by_key.setdefault(key.removeprefix("f:"), set()).add(entry.manager)
    return by_key


def poddefaults(client: Client, namespace: str) -> dict[str, dict]:
    return {p.metadata.name: p.spec for p in client.list(PodDefault, namespace=namespace)}


@pytest.fixture
def regular_pool_cordoned(client: Client) -> Iterator[None]:
    cordon(client, REGULAR_POOL)
    yield
    uncordon(client, REGULAR_POOL)


@pytest.fixture
def spot_pool_cordoned(client: Client) -> Iterator[None]:
    cordon(client, SPOT_POOL)
    yield
    uncordon(client, SPOT_POOL)


def create(client: Client, pod: Pod) -> str:
    """Create a pod after the PodDefault webhook's part; return its name."""
    client.create(kubeflow_pods.admit(client, pod))
    return pod.metadata.name


def pool_of(client: Client, node: str | None) -> str | None:
    if node is None:
        return None
    return client.get(Node, node).metadata.labels["kubernetes.azure.com/agentpool"]


def workflow_defaults(client: Client) -> dict:
    return yaml.safe_load(argo_configmap(client).data["workflowDefaults"])


# 1. What the API server stores.


def test_poddefaults_keep_their_tolerations_after_the_round_trip(ctx, client, profile_pods):
    out = reconcile(ctx)

    stored = poddefaults(client, profile_pods)
    assert set(stored) == {"kubeflow-spot-training", "kubeflow-spot-hpo"}
    assert stored["kubeflow-spot-hpo"]["tolerations"] == [
        {
            "key": "kubernetes.azure.com/scalesetpriority",
            "operator": "Equal",
            "value": "spot",
            "effect": "NoSchedule",
        }
    ]
    assert out.unit_status.name == "active"


def test_workflow_defaults_key_is_ours_and_argo_controller_keys_stay_its_own(ctx, client):
    before = {k: argo_configmap(client).data[k] for k in ARGO_CONTROLLER_KEYS}

    reconcile(ctx)

    configmap = argo_configmap(client)
    assert {k: configmap.data[k] for k in ARGO_CONTROLLER_KEYS} == before
    assert "retryStrategy" in workflow_defaults(client)["spec"]
    assert owners(configmap)["workflowDefaults"] == {"kubeflow-spot"}
    for key in ARGO_CONTROLLER_KEYS:
        assert owners(configmap)[key] == {ARGO_FIELD_MANAGER}


def test_argo_controller_reapplying_its_configmap_keeps_our_key(ctx, client):
    reconcile(ctx)
    configmap = argo_configmap(client)
    theirs = ConfigMap(
        metadata=ObjectMeta(name=ARGO_CONFIGMAP, namespace=KUBEFLOW_NAMESPACE),
        data={k: configmap.data[k] for k in ARGO_CONTROLLER_KEYS},
    )

    # argo-controller's charm applies its whole ConfigMap with force, as field manager lightkube.
    client.apply(theirs, field_manager=ARGO_FIELD_MANAGER, force=True)

    assert "workflowDefaults" in argo_configmap(client).data


def test_reconciling_again_changes_nothing(ctx, client, profile_pods):
    reconcile(ctx)
    before = {
        p.metadata.name: p.metadata.resourceVersion
        for p in client.list(PodDefault, namespace=profile_pods)
    }
    configmap_version = argo_configmap(client).metadata.resourceVersion

    reconcile(ctx)

    after = {
        p.metadata.name: p.metadata.resourceVersion
        for p in client.list(PodDefault, namespace=profile_pods)
    }
    assert after == before
    assert argo_configmap(client).metadata.resourceVersion == configmap_version


# 2. Where the real scheduler puts pods built from the rendered defaults.


def test_required_placement_binds_a_pipeline_step_to_spot(ctx, client, profile_pods):
    reconcile(ctx, **{"spot-placement": "require"})
    step = kubeflow_pods.pipeline_step("iris-x2k9p-1", profile_pods, workflow_defaults(client))

    node = wait_for_binding(client, profile_pods, create(client, step), BIND_TIMEOUT)

    assert pool_of(client, node) == SPOT_POOL


@pytest.mark.usefixtures("regular_pool_cordoned")
@pytest.mark.parametrize("build", [kubeflow_pods.katib_trial, kubeflow_pods.training_worker])
def test_toleration_only_classes_tolerate_spot_when_on_demand_is_full(
    ctx, client, profile_pods, build
):
    reconcile(ctx)
    pod = build(f"{build.__name__.replace('_', '-')}-0", profile_pods)

    node = wait_for_binding(client, profile_pods, create(client, pod), BIND_TIMEOUT)

    assert pool_of(client, node) == SPOT_POOL


@pytest.mark.parametrize("build", [kubeflow_pods.notebook, kubeflow_pods.kserve_predictor])
def test_notebooks_and_servers_land_on_demand(ctx, client, profile_pods, build):
    reconcile(ctx, **{"spot-workloads": "pipelines,training,hpo,batch"})
    pod = build(f"{build.__name__.replace('_', '-')}-0", profile_pods)

    node = wait_for_binding(client, profile_pods, create(client, pod), BIND_TIMEOUT)

    assert pool_of(client, node) == REGULAR_POOL


@pytest.mark.usefixtures("regular_pool_cordoned")
@pytest.mark.parametrize("build", [kubeflow_pods.notebook, kubeflow_pods.kserve_predictor])
def test_notebooks_and_servers_stay_pending_rather_than_use_spot(ctx, client, profile_pods, build):
    reconcile(ctx, **{"spot-workloads": "pipelines,training,hpo,batch"})
    pod = build(f"{build.__name__.replace('_', '-')}-1", profile_pods)
    name = create(client, pod)

    assert wait_for_unschedulable(client, profile_pods, name, BIND_TIMEOUT) is not None
    assert client.get(Pod, name, namespace=profile_pods).spec.nodeName is None


@pytest.mark.usefixtures("spot_pool_cordoned")
def test_preferred_placement_falls_back_to_on_demand(ctx, client, profile_pods):
    reconcile(ctx, **{"spot-placement": "prefer"})
    step = kubeflow_pods.pipeline_step("iris-p8w2c-1", profile_pods, workflow_defaults(client))

    node = wait_for_binding(client, profile_pods, create(client, step), BIND_TIMEOUT)

    assert pool_of(client, node) == REGULAR_POOL


# 3. Argo's own config loader, built from each pinned Argo release, reads what the charm wrote.

ARGO_CONFIG_CASES = {
    "defaults": {},
    "prefer-backoff-window": {
        "spot-placement": "prefer",
        "retry-backoff": "90s",
        "retry-backoff-factor": 2,
        "retry-max-duration": "6h",
    },
    "errors-tolerate": {"retry-on": "errors", "spot-placement": "tolerate"},
    "eks-all": {"spot-profile": "eks", "retry-on": "all"},
}


def load_with_argo(
    control_plane, argo_minor: str, *attempts: str
) -> subprocess.CompletedProcess[str]:
    """Run Argo's config loader of that release against the cluster's Argo ConfigMap.

    Each attempt is `STATUS:MESSAGE` of a failed step; the output says whether the default
    retry expression lets Argo retry it.
    """
    command = [
        str(argo_config_check(argo_minor)),
        str(control_plane.kubeconfig_path),
        KUBEFLOW_NAMESPACE,
        ARGO_CONFIGMAP,
        *attempts,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("case", ARGO_CONFIG_CASES)
@pytest.mark.parametrize("argo_minor", ["3.4", "3.5", "3.6", "3.7"])
def test_argo_loads_the_workflow_defaults_the_charm_wrote(
    ctx, client, control_plane, argo_minor, case
):
    reconcile(ctx, **{"argo-version": argo_minor, **ARGO_CONFIG_CASES[case]})

    loaded = load_with_argo(control_plane, argo_minor)

    assert loaded.returncode == 0, loaded.stderr
    ours = workflow_defaults(client)["spec"]
    theirs = json.loads(loaded.stdout)["workflowDefaults"]["spec"]
    assert theirs["retryStrategy"]["retryPolicy"] == ours["retryStrategy"]["retryPolicy"]
    assert theirs.get("tolerations") == ours.get("tolerations")
    assert theirs.get("affinity") == ours.get("affinity")


# What Argo records for a step whose pod died with its node, and for ordinary failures.
EVICTED_ATTEMPTS = [
    "Error:pod deleted",
    "Failed:Pod was terminated in response to imminent node shutdown.",
    "Failed:Pod was rejected as the node is shutting down.",
    "Failed:The node was low on resource: memory. Threshold quantity: 100Mi.",
    "Failed:pod failed: neither main nor wait container completed successfully",
]
FAILED_ATTEMPTS = [
    "Failed:Error (exit code 1)",
    "Error:Error (exit code 2): failed to load artifact",
    "Failed:child 'iris-x2k9p-1460' failed",
    "Failed:",
]


@pytest.mark.parametrize("argo_minor", ["3.5", "3.6", "3.7"])
def test_argo_retries_evicted_steps_and_not_application_failures(ctx, control_plane, argo_minor):
    reconcile(ctx, **{"argo-version": argo_minor, "retry-on": "evictions"})

    loaded = load_with_argo(control_plane, argo_minor, *EVICTED_ATTEMPTS, *FAILED_ATTEMPTS)

    assert loaded.returncode == 0, loaded.stderr
    retries = json.loads(loaded.stdout)["retries"]
    assert {a for a in EVICTED_ATTEMPTS if not retries[a]} == set()
    assert {a for a in FAILED_ATTEMPTS if retries[a]} == set()


def test_argo_rejects_a_workflow_defaults_field_it_does_not_know(ctx, client, control_plane):
    reconcile(ctx, **{"argo-version": "3.6"})
    document = workflow_defaults(client)
    document["spec"]["retryStrategy"]["backoff"]["cap"] = "10m"  # Argo 3.7 and later only.
    broken = ConfigMap(
        metadata=ObjectMeta(name=ARGO_CONFIGMAP, namespace=KUBEFLOW_NAMESPACE),
        data={"workflowDefaults": yaml.safe_dump(document)},
    )
    client.apply(broken, field_manager="kubeflow-spot")
    try:
        assert load_with_argo(control_plane, "3.7").returncode == 0
        rejected = load_with_argo(control_plane, "3.6")

        assert rejected.returncode == 1
        assert 'unknown field "cap"' in rejected.stderr
    finally:
        client.apply(
            ConfigMap(metadata=ObjectMeta(name=ARGO_CONFIGMAP, namespace=KUBEFLOW_NAMESPACE)),
            field_manager="kubeflow-spot",
        )
        reconcile(ctx)


# 4. Pruning and removal.


def test_dropping_training_prunes_exactly_its_poddefault(ctx, client, profile_pods):
    reconcile(ctx)

    reconcile(ctx, **{"spot-workloads": "pipelines,hpo"})

    assert set(poddefaults(client, profile_pods)) == {"kubeflow-spot-hpo"}


def test_removal_deletes_what_the_charm_labelled_and_only_our_key(ctx, client, profile_pods):
    reconcile(ctx)
    state = testing.State(
        leader=True, planned_units=0, model=testing.Model(name=KUBEFLOW_NAMESPACE)
    )

    ctx.run(ctx.on.remove(), state)

    configmap = argo_configmap(client)
    assert poddefaults(client, profile_pods) == {}
    assert set(configmap.data) == ARGO_CONTROLLER_KEYS
    assert set(owners(configmap)) == ARGO_CONTROLLER_KEYS
    reconcile(ctx)  # Leave the cluster configured for the next test.


def test_a_foreign_owner_of_the_key_blocks_without_forcing(ctx, client):
    reconcile(ctx, **{"spot-workloads": "", "retry-limit": 0})
    foreign = ConfigMap(
        metadata=ObjectMeta(name=ARGO_CONFIGMAP, namespace=KUBEFLOW_NAMESPACE),
        data={"workflowDefaults": "spec: {}\n"},
    )
    client.apply(foreign, field_manager="kubectl-edit")
    try:
        out = reconcile(ctx)

        assert out.unit_status.name == "blocked"
        assert "kubectl-edit" in out.unit_status.message
        assert argo_configmap(client).data["workflowDefaults"] == "spec: {}\n"
    finally:
        client.apply(
            ConfigMap(metadata=ObjectMeta(name=ARGO_CONFIGMAP, namespace=KUBEFLOW_NAMESPACE)),
            field_manager="kubectl-edit",
        )
