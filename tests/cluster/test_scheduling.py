"""Where the real kube-scheduler puts pods built from the charm's rendered defaults.

Pods are built the way Argo and the PodDefault webhook would build them (see
localcluster/kubeflow_pods.py); no kubelet runs, so assertions read `spec.nodeName` and the
PodScheduled condition.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Node, Pod

from localcluster import kubeflow_pods
from localcluster.seed import (
    AGENTPOOL_LABEL,
    REGULAR_POOL,
    SPOT_POOL,
    cordon,
    uncordon,
    wait_for_binding,
    wait_for_unschedulable,
)
from tests.cluster.charm_on_cluster import reconcile, workflow_defaults

BIND_TIMEOUT = 30.0


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
    return client.get(Node, node).metadata.labels[AGENTPOOL_LABEL]


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


TRAINJOB_NODE = partial(kubeflow_pods.trainjob_pod, replicated_job="node")
MPI_LAUNCHER = partial(kubeflow_pods.trainjob_pod, replicated_job="launcher")
SPARK_EXECUTOR = partial(kubeflow_pods.spark_pod, role="executor")
SPARK_DRIVER = partial(kubeflow_pods.spark_pod, role="driver")
WITH_SPARK = {"spot-workloads": "pipelines,training,hpo,spark,batch"}


@pytest.mark.usefixtures("regular_pool_cordoned")
@pytest.mark.parametrize(
    ("build", "name"),
    [(TRAINJOB_NODE, "llama-ft-node-0-0-abcde"), (SPARK_EXECUTOR, "spark-exec-1")],
)
def test_trainer_nodes_and_spark_executors_use_spot_when_on_demand_is_full(
    ctx, client, profile_pods, build, name
):
    reconcile(ctx, **WITH_SPARK)

    node = wait_for_binding(
        client, profile_pods, create(client, build(name, profile_pods)), BIND_TIMEOUT
    )

    assert pool_of(client, node) == SPOT_POOL


@pytest.mark.usefixtures("regular_pool_cordoned")
@pytest.mark.parametrize(
    ("build", "name"), [(SPARK_DRIVER, "spark-pi-driver"), (MPI_LAUNCHER, "pi-mpi-launcher-0-0-x")]
)
def test_spark_drivers_and_mpi_launchers_never_use_spot_even_when_opted_in(
    ctx, client, profile_pods, build, name
):
    reconcile(ctx, **WITH_SPARK)
    pod = build(name, profile_pods)
    pod.metadata.labels["kubeflow-spot/eligible"] = "true"  # as if its job opted into batch

    created = create(client, pod)

    assert wait_for_unschedulable(client, profile_pods, created, BIND_TIMEOUT) is not None
    assert client.get(Pod, created, namespace=profile_pods).spec.nodeName is None
