"""Fill a real control plane with a Kubeflow fleet: 500 nodes, 200 profiles, 10,000 bound pods.

Pods are created already bound (`spec.nodeName`), as if the scheduler had placed them, and their
status is then written through `pods/status` under the field manager `kubelet`, as a kubelet
reports a running container: the objects, and their `managedFields`, have the shape and size of
a real cluster's. Requests go out from a pool of threads, each with its own client.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Node, Pod
from lightkube.types import PatchType

from localcluster.seed import (
    PROFILE_NAMESPACE,
    REGULAR_POOL,
    SPOT_LABEL,
    SPOT_POOL,
    SPOT_TAINT,
    node_labels,
)

NODES = 500
PROFILES = 200
PODS = 10_000
THREADS = 16
FIELD_MANAGER = "kubeflow-spot-bench"
PROFILE_LABELS = {
    "app.kubernetes.io/part-of": "kubeflow-profile",
    "user.kubeflow.org/enabled": "true",
}
_STARTED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
_NODE_RESOURCES = {"cpu": "16", "memory": "64Gi", "pods": "110"}
_SPOT_TOLERATION = {
    "key": SPOT_LABEL,
    "operator": "Equal",
    "value": "spot",
    "effect": "NoSchedule",
}
_SPOT_AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": SPOT_LABEL, "operator": "In", "values": ["spot"]}]}
            ]
        }
    }
}

# One profile's 50 pods: (kind, how many, on spot). Mostly pipeline steps, as in a busy KFP
# installation; a few eligible pods missed spot, one notebook sits on spot (at risk).
# Batch pods are labelled eligible but batch is not in the default spot-workloads.
_PROFILE_MIX = (
    ("pipelines", 26, True),
    ("pipelines", 4, False),
    ("training", 5, True),
    ("training", 1, False),
    ("hpo", 6, True),
    ("notebooks", 3, False),
    ("notebooks", 1, True),
    ("serving", 2, False),
    ("batch", 2, False),
)
assert sum(n for _, n, _ in _PROFILE_MIX) * PROFILES == PODS


@dataclass(frozen=True)
class Fleet:
    """What `populate` created."""

    nodes: int
    profiles: tuple[str, ...]
    pods: int
    seconds: float


def profile_names() -> tuple[str, ...]:
    """Return the profile namespaces: the seeded `admin`, then team-001 to team-199."""
    return (PROFILE_NAMESPACE, *(f"team-{index:03d}" for index in range(1, PROFILES)))


def node_name(pool: str, index: int) -> str:
    """Return an AKS-style VM scale set node name."""
    return f"aks-{pool}-31207962-vmss{index:06x}"


def _node(pool: str, index: int) -> dict[str, Any]:
    name = node_name(pool, index)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": node_labels(pool, name)},
        "spec": {"taints": [SPOT_TAINT.to_dict()]} if pool == SPOT_POOL else {},
        "status": {"allocatable": _NODE_RESOURCES, "capacity": _NODE_RESOURCES},
    }


def _pod(kind: str, namespace: str, index: int, node: str, spot: bool) -> dict[str, Any]:
    labels: dict[str, str]
    workflow = f"{namespace}-training-{index // 10:04d}"
    if kind == "pipelines":
        labels = {
            "workflows.argoproj.io/workflow": workflow,
            "workflows.argoproj.io/completed": "false",
            "pipelines.kubeflow.org/v2_component": "true",
            "pipeline/runid": f"0f7c1d2e-{index // 10:04d}",
        }
        name = f"{workflow}-system-container-impl-{3_000_000_000 + index}"
    elif kind == "training":
        labels = {
            "training.kubeflow.org/job-name": f"mnist-ddp-{index // 6:03d}",
            "training.kubeflow.org/operator-name": "pytorchjob-controller",
            "training.kubeflow.org/replica-type": "worker",
            "training.kubeflow.org/replica-index": str(index % 6),
        }
        name = f"mnist-ddp-{index // 6:03d}-worker-{index % 6}"
    elif kind == "hpo":
        labels = {
            "katib.kubeflow.org/experiment": "tune-lr",
            "katib.kubeflow.org/trial": f"tune-lr-{index:04d}",
        }
        name = f"tune-lr-{index:04d}-kdr9f"
    elif kind == "notebooks":
        labels = {"notebook-name": f"nb-{index:02d}", "statefulset": f"nb-{index:02d}"}
        name = f"nb-{index:02d}-0"
    elif kind == "serving":
        labels = {
            "serving.kserve.io/inferenceservice": f"sklearn-iris-{index:02d}",
            "component": "predictor",
        }
        name = f"sklearn-iris-{index:02d}-predictor-7d9f8b6c5-x2x9q"
    else:
        labels = {"kubeflow-spot/eligible": "true", "job-name": f"etl-{index:03d}"}
        name = f"etl-{index:03d}-g7m2k"
    spec: dict[str, Any] = {
        "nodeName": node,
        "restartPolicy": "Never" if kind in ("pipelines", "hpo", "batch") else "Always",
        "containers": [
            {
                "name": "main",
                "image": "registry.invalid/kubeflow-spot/workload:bench",
                "command": ["python", "-m", "train", "--epochs", "10"],
                "env": [{"name": "KFP_POD_NAME", "value": name}],
                "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
            }
        ],
    }
    if spot:
        spec["tolerations"] = [_SPOT_TOLERATION]
        if kind == "pipelines":
            spec["affinity"] = _SPOT_AFFINITY
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


def _running_status(started: datetime) -> dict[str, Any]:
    """Return a status as a kubelet reports it for a pod whose one container runs."""
    at = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    conditions = [
        {"type": kind, "status": "True", "lastTransitionTime": at}
        for kind in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")
    ]
    return {
        "status": {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": "10.224.0.4",
            "podIP": "10.244.1.17",
            "startTime": at,
            "qosClass": "Burstable",
            "containerStatuses": [
                {
                    "name": "main",
                    "ready": True,
                    "restartCount": 0,
                    "image": "registry.invalid/kubeflow-spot/workload:bench",
                    "imageID": "registry.invalid/kubeflow-spot/workload@sha256:" + "0" * 64,
                    "containerID": "containerd://" + "1" * 64,
                    "started": True,
                    "state": {"running": {"startedAt": at}},
                }
            ],
        }
    }


def _profile_pods(
    namespace: str, spot_nodes: list[str], regular_nodes: list[str]
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Yield (pod, status) of one profile, spread round robin over the nodes."""
    spot_cycle, regular_cycle = itertools.cycle(spot_nodes), itertools.cycle(regular_nodes)
    index = 0
    for kind, count, spot in _PROFILE_MIX:
        for _ in range(count):
            node = next(spot_cycle) if spot else next(regular_cycle)
            started = _STARTED + timedelta(minutes=index)
            yield _pod(kind, namespace, index, node, spot), _running_status(started)
            index += 1


def _in_threads(
    work: Callable[[Client, Any], None], items: Iterable[Any], connect: Callable[[], Client]
) -> None:
    """Run `work(client, item)` for every item on THREADS threads, one client per thread."""
    local = threading.local()
    clients: list[Client] = []
    lock = threading.Lock()

    def run(item: Any) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = connect()
            with lock:
                clients.append(client)
        work(client, item)

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            for _ in pool.map(run, items):
                pass
    finally:
        for client in clients:
            client.close()


def _create_node(client: Client, node: dict[str, Any]) -> None:
    client.create(cast(Node, Node.from_dict(node)), field_manager=FIELD_MANAGER)


def _create_pod(client: Client, item: tuple[dict[str, Any], dict[str, Any]]) -> None:
    pod, status = item
    meta = pod["metadata"]
    client.create(cast(Pod, Pod.from_dict(pod)), field_manager=FIELD_MANAGER)
    client.patch(
        Pod.Status,
        meta["name"],
        status,
        namespace=meta["namespace"],
        patch_type=PatchType.STRATEGIC,
        field_manager="kubelet",
    )


def create_profiles(client: Client) -> tuple[str, ...]:
    """Create the profile namespaces, labelled as the Kubeflow profiles controller does."""
    profiles = profile_names()
    for namespace in profiles:
        client.apply(
            Namespace(metadata=ObjectMeta(name=namespace, labels=PROFILE_LABELS)),
            field_manager=FIELD_MANAGER,
        )
    return profiles


def populate(client: Client, connect: Callable[[], Client], existing_nodes: int) -> Fleet:
    """Create the nodes, profile namespaces and pods; `existing_nodes` count toward NODES."""
    began = time.monotonic()
    spot_count = (NODES - existing_nodes) // 2
    regular_count = NODES - existing_nodes - spot_count
    spot_nodes = [node_name(SPOT_POOL, i) for i in range(spot_count)]
    regular_nodes = [node_name(REGULAR_POOL, i) for i in range(regular_count)]
    profiles = create_profiles(client)
    items = [(n, _profile_pods(n, spot_nodes, regular_nodes)) for n in profiles]
    pods = [pod for _, generator in items for pod in generator]
    # lightkube decodes with msgspec, which builds a type's decoder on its first use; 16 threads
    # decoding their first Pod at once crashed the interpreter in a trial. Decode one here first.
    _create_node(client, _node(SPOT_POOL, 0))
    _create_pod(client, pods[0])
    nodes = [_node(SPOT_POOL, i) for i in range(1, spot_count)]
    nodes += [_node(REGULAR_POOL, i) for i in range(regular_count)]
    _in_threads(_create_node, nodes, connect)
    _in_threads(_create_pod, pods[1:], connect)
    return Fleet(
        nodes=existing_nodes + spot_count + regular_count,
        profiles=profiles,
        pods=len(pods),
        seconds=time.monotonic() - began,
    )
