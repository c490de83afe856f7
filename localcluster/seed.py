"""Make a fresh control plane look like Charmed Kubeflow on AKS with a spot node pool.

Also small helpers for tests that drive the scheduler: cordon a pool, wait for a binding,
delete pods that no kubelet will ever finish deleting.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Protocol

from lightkube import ALL_NS, ApiError, Client, codecs
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.core_v1 import EventSource, NodeSpec, NodeStatus, ObjectReference, Taint
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import ConfigMap, Event, Namespace, Node, Pod, ServiceAccount

from localcluster.upstream import argo_workflow_crd_path, poddefault_crd_path
from placement import facts
from placement.reader import pod_facts

AGENTPOOL_LABEL = "kubernetes.azure.com/agentpool"
SPOT_LABEL = "kubernetes.azure.com/scalesetpriority"
SPOT_TAINT = Taint(key=SPOT_LABEL, value="spot", effect="NoSchedule")
REGULAR_POOL = "agentpool"
SPOT_POOL = "spotpool"

KUBEFLOW_NAMESPACE = "kubeflow"
PROFILE_NAMESPACE = "admin"
ARGO_CONFIGMAP = "argo-workflow-controller-configmap"
# The argo-controller charm applies its ConfigMap through chisme with this hard-coded manager.
ARGO_FIELD_MANAGER = "lightkube"
SEED_FIELD_MANAGER = "kubeflow-spot-seed"


class _Named(Protocol):
    @property
    def metadata(self) -> ObjectMeta | None: ...


_CRD_TIMEOUT_SECONDS = 60.0
_POLL_SECONDS = 0.2
# Comfortably schedulable: the scheduler needs cpu, memory and pods in allocatable.
_NODE_RESOURCES = {"cpu": "8", "memory": "32Gi", "pods": "110"}

# Values shaped like those of the argo-controller charm's minio_configmap.yaml.j2 template.
_ARGO_CONFIG = {
    "artifactRepository": (
        "s3:\n"
        "  endpoint: minio.kubeflow:9000\n"
        "  bucket: mlpipeline\n"
        "  region: minio\n"
        '  keyFormat: "artifacts/{{workflow.name}}/{{workflow.creationTimestamp.Y}}/'
        '{{workflow.creationTimestamp.m}}/{{workflow.creationTimestamp.d}}/{{pod.name}}"\n'
        "  insecure: true\n"
        "  accessKeySecret:\n"
        "    name: mlpipeline-minio-artifact\n"
        "    key: accesskey\n"
        "  secretKeySecret:\n"
        "    name: mlpipeline-minio-artifact\n"
        "    key: secretkey\n"
    ),
    "executor": "imagePullPolicy: IfNotPresent\n",
    "metricsConfig": "secure: false\n",
}
_ARGO_CONFIGMAP_LABELS = {
    "app.kubernetes.io/instance": f"argo-controller-{KUBEFLOW_NAMESPACE}",
    "kubernetes-resource-handler-scope": "crds-cm-and-secrets",
    "application-crd-id": "kubeflow-pipelines",
}


def seed_aks_kubeflow(client: Client) -> None:
    """Create AKS-like nodes, the PodDefault and Workflow CRDs, and the CKF namespaces."""
    for index in range(2):
        _create_node(client, REGULAR_POOL, index)
        _create_node(client, SPOT_POOL, index)
    for path in (poddefault_crd_path(), argo_workflow_crd_path()):
        _apply_crd(client, path)
    _apply_namespace(client, KUBEFLOW_NAMESPACE, {})
    _apply_namespace(
        client,
        PROFILE_NAMESPACE,
        {
            "app.kubernetes.io/part-of": "kubeflow-profile",
            "user.kubeflow.org/enabled": "true",
        },
    )
    apply_argo_configmap(client)


def apply_argo_configmap(
    client: Client,
    name: str = ARGO_CONFIGMAP,
    immutable: bool = False,
    metrics_port: int | None = None,
) -> None:
    """Apply a workflow-controller ConfigMap as the argo-controller charm does, as its manager.

    ``metrics_port`` sets ``metricsConfig.port`` (Argo's default is 9090).
    """
    data = dict(_ARGO_CONFIG)
    if metrics_port is not None:
        data["metricsConfig"] += f"port: {metrics_port}\n"
    client.apply(
        ConfigMap(
            metadata=ObjectMeta(
                name=name, namespace=KUBEFLOW_NAMESPACE, labels=_ARGO_CONFIGMAP_LABELS
            ),
            data=data,
            immutable=immutable or None,
        ),
        field_manager=ARGO_FIELD_MANAGER,
        force=True,
    )


def node_labels(pool: str, name: str) -> dict[str, str]:
    """Labels AKS puts on a node of ``pool`` (spot pools are user-mode, regular ones system)."""
    labels = {
        AGENTPOOL_LABEL: pool,
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
    }
    if pool == SPOT_POOL:
        labels |= {
            SPOT_LABEL: "spot",
            "kubernetes.azure.com/priority": "spot",
            "kubernetes.azure.com/mode": "user",
        }
    else:
        labels |= {
            "kubernetes.azure.com/priority": "regular",
            "kubernetes.azure.com/mode": "system",
        }
    return labels


def _create_node(client: Client, pool: str, index: int) -> None:
    # Plain create, as kubelet registers nodes: status is accepted on create (server-side apply
    # keeps it too on 1.36.3), later changes would have to go through nodes/status.
    name = f"aks-{pool}-{index}"
    client.create(
        Node(
            metadata=ObjectMeta(name=name, labels=node_labels(pool, name)),
            spec=NodeSpec(taints=[SPOT_TAINT] if pool == SPOT_POOL else None),
            status=NodeStatus(allocatable=_NODE_RESOURCES, capacity=_NODE_RESOURCES),
        )
    )


def _apply_crd(client: Client, path: Path) -> None:
    for crd in codecs.load_all_yaml(path.read_text()):
        client.apply(crd, field_manager=SEED_FIELD_MANAGER, force=True)
        _wait_established(client, name_of(crd))


def _wait_established(client: Client, name: str) -> None:
    """Wait until the CRD is Established and its resource can be listed.

    Poll rather than watch: lightkube's wait() has no timeout. Established alone is not enough:
    for a moment after it, LIST answers 429 "storage is (re)initializing".
    """
    deadline = time.monotonic() + _CRD_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        crd = client.get(CustomResourceDefinition, name)
        if crd.status and any(
            c.type == "Established" and c.status == "True" for c in crd.status.conditions or []
        ):
            try:
                list(client.list(_resource_of(crd), namespace=ALL_NS, chunk_size=1))
                return
            except ApiError as error:
                if error.status.code != 429:
                    raise
        time.sleep(_POLL_SECONDS)
    raise TimeoutError(f"CRD {name} not servable after {_CRD_TIMEOUT_SECONDS:.0f} s")


def _resource_of(crd: CustomResourceDefinition) -> type[Any]:
    """Return a lightkube resource class for the storage version of a namespaced CRD."""
    assert crd.spec is not None
    version = next(v.name for v in crd.spec.versions if v.storage)
    names = crd.spec.names
    return create_namespaced_resource(crd.spec.group, version, names.kind, names.plural)


def _apply_namespace(client: Client, name: str, labels: dict[str, str]) -> None:
    # kube-controller-manager, which would create the `default` ServiceAccount, does not run.
    client.apply(
        Namespace(metadata=ObjectMeta(name=name, labels=labels)), field_manager=SEED_FIELD_MANAGER
    )
    client.apply(
        ServiceAccount(metadata=ObjectMeta(name="default", namespace=name)),
        field_manager=SEED_FIELD_MANAGER,
    )


def name_of(obj: _Named) -> str:
    """Return the name of an object read from the server (which always has one)."""
    metadata = obj.metadata
    assert metadata is not None
    assert metadata.name is not None
    return metadata.name


def _set_unschedulable(client: Client, pool: str, unschedulable: bool) -> None:
    for node in client.list(Node, labels={AGENTPOOL_LABEL: pool}):
        client.patch(Node, name_of(node), {"spec": {"unschedulable": unschedulable}})


def cordon(client: Client, pool: str) -> None:
    """Mark every node of ``pool`` unschedulable, like ``kubectl cordon``."""
    _set_unschedulable(client, pool, True)


def uncordon(client: Client, pool: str) -> None:
    """Make every node of ``pool`` schedulable again."""
    _set_unschedulable(client, pool, False)


# Eviction notices as AKS and Karpenter put them on a node. AKS node-problem-detector
# (MicrosoftDocs/azure-aks-docs `articles/aks/node-problem-detector.md`): the condition
# `VMEventScheduled` (False, `NoVMEventScheduled`, "VM has no scheduled event" on a healthy node;
# True for any Scheduled Event: Freeze, Reboot, Redeploy, Preempt, Terminate) and an event
# `PreemptScheduled` polled every 2 s; its message carries the Scheduled Event, e.g.
# "Preempt Scheduled: Sat, 01 Aug 2026 05:41:02 GMT. ... EventId: ...". AKS node auto-drain
# (`node-auto-drain.md`) then cordons and taints `remediator.kubernetes.azure.com/unschedulable`.
# Karpenter nodes and their notices are in tests/unit/fixtures/kubeflow_workloads.yaml.
AKS_AUTO_DRAIN_TAINT = Taint(
    key="remediator.kubernetes.azure.com/unschedulable", effect="NoSchedule"
)


def scheduled_event_message(event_type: str, not_before: datetime) -> str:
    """Return the message AKS node-problem-detector forwards for an Azure Scheduled Event."""
    return (
        f"{event_type} Scheduled: {format_datetime(not_before.astimezone(UTC), usegmt=True)}."
        " For more information, see https://aka.ms/aks/scheduledevents."
        " EventId: 40B7BD88-C56E-44E4-93F6-75CEDACE2869"
    )


def set_node_condition(
    client: Client, name: str, type_: str, status: str, reason: str, message: str
) -> None:
    """Set one condition on the node's status, as node-problem-detector does (nodes/status)."""
    now = datetime.now(UTC).isoformat()
    condition = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    }
    client.patch(Node.Status, name, {"status": {"conditions": [condition]}})


def preempt_scheduled(client: Client, name: str, not_before: datetime) -> None:
    """Mark a node the way AKS does once Azure schedules its spot VM's Preempt.

    The NPD condition and event, then node auto-drain's cordon and taint.
    """
    message = scheduled_event_message("Preempt", not_before)
    set_node_condition(client, name, "VMEventScheduled", "True", "VMEventScheduled", message)
    now = datetime.now(UTC)
    client.create(
        Event(
            metadata=ObjectMeta(name=f"{name}.{now.strftime('%H%M%S%f')}", namespace="default"),
            involvedObject=ObjectReference(kind="Node", name=name, uid=name),
            reason="PreemptScheduled",
            message=message,
            type="Warning",
            source=EventSource(component="custom-plugin-monitor", host=name),
            count=1,
            firstTimestamp=now,
            lastTimestamp=now,
        )
    )
    node = client.get(Node, name)
    taints = [*(node.spec.taints or []), AKS_AUTO_DRAIN_TAINT] if node.spec else []
    client.patch(Node, name, {"spec": {"unschedulable": True, "taints": taints}})


def clear_scheduled_event(client: Client, name: str) -> None:
    """Undo `preempt_scheduled`: no scheduled event, uncordoned, the auto-drain taint gone."""
    set_node_condition(
        client,
        name,
        "VMEventScheduled",
        "False",
        "NoVMEventScheduled",
        "VM has no scheduled event",
    )
    node = client.get(Node, name)
    taints = (
        [t for t in (node.spec.taints or []) if t.key != AKS_AUTO_DRAIN_TAINT.key]
        if node.spec
        else []
    )
    client.patch(Node, name, {"spec": {"unschedulable": False, "taints": taints or None}})


def wait_for_binding(client: Client, namespace: str, name: str, timeout: float) -> str | None:
    """Return the node pod ``namespace/name`` gets bound to within ``timeout`` s, else None."""
    deadline = time.monotonic() + timeout
    while True:
        spec = client.get(Pod, name, namespace=namespace).spec
        node_name = spec.nodeName if spec else None
        if node_name or time.monotonic() >= deadline:
            return node_name or None
        time.sleep(_POLL_SECONDS)


def unschedulable_message(pod: Pod) -> str | None:
    """Return the scheduler's reason for not placing the pod, or None if it has not given up."""
    return facts.unschedulable_message(pod_facts(pod))


def wait_for_unschedulable(
    client: Client, namespace: str, name: str, timeout: float
) -> str | None:
    """Return the scheduler's Unschedulable message for the pod within ``timeout`` s, else None.

    Waiting for the scheduler to say so is a positive signal, unlike waiting to see no binding.
    """
    deadline = time.monotonic() + timeout
    while True:
        message = unschedulable_message(client.get(Pod, name, namespace=namespace))
        if message is not None or time.monotonic() >= deadline:
            return message
        time.sleep(_POLL_SECONDS)


def decided(pod: Pod) -> bool:
    """Tell whether the scheduler has bound the pod or given up on it."""
    return bool(pod.spec and pod.spec.nodeName) or unschedulable_message(pod) is not None


def wait_until_decided(
    client: Client, namespace: str, names: list[str], timeout: float
) -> dict[str, Pod]:
    """Return the pods once the scheduler has decided each, or as they are after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        pods = {name: client.get(Pod, name, namespace=namespace) for name in names}
        if all(map(decided, pods.values())) or time.monotonic() >= deadline:
            return pods
        time.sleep(_POLL_SECONDS)


def delete_pods(client: Client, namespace: str) -> None:
    """Delete every pod of ``namespace`` now: without a kubelet a graceful delete never ends."""
    for pod in client.list(Pod, namespace=namespace):
        client.delete(Pod, name_of(pod), namespace=namespace, grace_period=0)
