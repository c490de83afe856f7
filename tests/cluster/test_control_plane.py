"""The local control plane behaves like the AKS + Charmed Kubeflow cluster the charm targets.

These pin down the server-side facts kubeflow-spot relies on: the real scheduler honours the
spot taint and node affinity, the PodDefault schema drops ``affinity``, and the argo-controller
ConfigMap keys are owned by the ``lightkube`` field manager.
"""

from __future__ import annotations

import itertools

from lightkube import Client, operators
from lightkube.models.core_v1 import (
    Affinity,
    Container,
    NodeAffinity,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    PodSpec,
    Toleration,
)
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Node, Pod

from applier import PodDefault
from localcluster.seed import (
    AGENTPOOL_LABEL,
    ARGO_CONFIGMAP,
    ARGO_FIELD_MANAGER,
    KUBEFLOW_NAMESPACE,
    REGULAR_POOL,
    SPOT_LABEL,
    SPOT_POOL,
    cordon,
    uncordon,
    wait_for_binding,
    wait_for_unschedulable,
)

SPOT_TOLERATION = Toleration(key=SPOT_LABEL, operator="Equal", value="spot", effect="NoSchedule")
REQUIRE_SPOT = Affinity(
    nodeAffinity=NodeAffinity(
        requiredDuringSchedulingIgnoredDuringExecution=NodeSelector(
            nodeSelectorTerms=[
                NodeSelectorTerm(
                    matchExpressions=[
                        NodeSelectorRequirement(key=SPOT_LABEL, operator="In", values=["spot"]),
                    ]
                ),
            ]
        ),
    )
)
BIND_TIMEOUT = 30.0
_names = itertools.count()


def make_pod(
    client: Client, namespace: str, *, tolerate_spot: bool = False, require_spot: bool = False
) -> str:
    """Create a pod (never run: there is no kubelet) and return its name."""
    name = f"pod-{next(_names)}"
    client.create(
        Pod(
            metadata=ObjectMeta(name=name, namespace=namespace),
            spec=PodSpec(
                containers=[Container(name="main", image="busybox")],
                tolerations=[SPOT_TOLERATION] if tolerate_spot else None,
                affinity=REQUIRE_SPOT if require_spot else None,
            ),
        )
    )
    return name


def wait_unschedulable(client: Client, namespace: str, name: str) -> str:
    """Wait until the scheduler declares the pod unschedulable; return its message."""
    message = wait_for_unschedulable(client, namespace, name, BIND_TIMEOUT)
    assert message is not None, f"{namespace}/{name} not marked Unschedulable in {BIND_TIMEOUT} s"
    assert client.get(Pod, name, namespace=namespace).spec.nodeName is None
    return message


def test_seeded_nodes_look_like_aks(client: Client) -> None:
    nodes = {node.metadata.name: node for node in client.list(Node)}

    assert sorted(nodes) == [
        "aks-agentpool-0",
        "aks-agentpool-1",
        "aks-spotpool-0",
        "aks-spotpool-1",
    ]
    for name, node in nodes.items():
        labels = node.metadata.labels
        assert labels["kubernetes.io/hostname"] == name
        assert labels["kubernetes.io/os"] == "linux"
        assert set(node.status.allocatable) >= {"cpu", "memory", "pods"}
        taints = [(t.key, t.value, t.effect) for t in node.spec.taints or []]
        if name.startswith("aks-spotpool-"):
            assert labels[AGENTPOOL_LABEL] == SPOT_POOL
            assert labels[SPOT_LABEL] == "spot"
            assert labels["kubernetes.azure.com/priority"] == "spot"
            assert taints == [(SPOT_LABEL, "spot", "NoSchedule")]
        else:
            assert labels[AGENTPOOL_LABEL] == REGULAR_POOL
            assert labels["kubernetes.azure.com/mode"] == "system"
            assert labels["kubernetes.azure.com/priority"] == "regular"
            assert SPOT_LABEL not in labels
            # No not-ready taint either: TaintNodesByCondition is disabled.
            assert taints == []


def test_argo_configmap_keys_are_owned_by_lightkube(client: Client) -> None:
    configmap = client.get(ConfigMap, ARGO_CONFIGMAP, namespace=KUBEFLOW_NAMESPACE)

    assert set(configmap.data) == {"artifactRepository", "executor", "metricsConfig"}
    [entry] = [m for m in configmap.metadata.managedFields if m.manager == ARGO_FIELD_MANAGER]
    assert entry.operation == "Apply"
    assert set(entry.fieldsV1["f:data"]) == {
        "f:artifactRepository",
        "f:executor",
        "f:metricsConfig",
    }


def test_scheduler_binds_tolerating_spot_pod_to_spot_node(
    client: Client, profile_pods: str
) -> None:
    name = make_pod(client, profile_pods, tolerate_spot=True, require_spot=True)

    node = wait_for_binding(client, profile_pods, name, BIND_TIMEOUT)

    assert (node or "").startswith("aks-spotpool-"), node


def test_pod_without_toleration_never_lands_on_spot(client: Client, profile_pods: str) -> None:
    stuck = make_pod(client, profile_pods, require_spot=True)
    plain = [make_pod(client, profile_pods) for _ in range(4)]

    message = wait_unschedulable(client, profile_pods, stuck)
    nodes = [wait_for_binding(client, profile_pods, name, BIND_TIMEOUT) for name in plain]

    assert "untolerated taint" in message
    assert all(node and node.startswith("aks-agentpool-") for node in nodes), nodes


def test_cordoned_spot_pool_holds_pods_until_uncordoned(client: Client, profile_pods: str) -> None:
    cordon(client, SPOT_POOL)
    try:
        name = make_pod(client, profile_pods, tolerate_spot=True, require_spot=True)
        wait_unschedulable(client, profile_pods, name)
    finally:
        uncordon(client, SPOT_POOL)

    node = wait_for_binding(client, profile_pods, name, BIND_TIMEOUT)

    assert (node or "").startswith("aks-spotpool-"), node


def test_poddefault_keeps_tolerations_and_prunes_affinity(
    client: Client, profile_pods: str
) -> None:
    toleration = {"key": SPOT_LABEL, "operator": "Equal", "value": "spot", "effect": "NoSchedule"}
    client.create(
        PodDefault(
            metadata=ObjectMeta(name="spot-round-trip", namespace=profile_pods),
            spec={
                "desc": "Run on spot nodes",
                "selector": {"matchLabels": {"kubeflow-spot/eligible": "true"}},
                "tolerations": [toleration],
                "affinity": REQUIRE_SPOT.to_dict(),
                "nodeSelector": {SPOT_LABEL: "spot"},
            },
        )
    )

    try:
        spec = client.get(PodDefault, "spot-round-trip", namespace=profile_pods)["spec"]
    finally:
        # Other tests in the session list this namespace's PodDefaults.
        client.delete(PodDefault, "spot-round-trip", namespace=profile_pods)

    assert spec["tolerations"] == [toleration]
    assert "affinity" not in spec
    assert "nodeSelector" not in spec


def test_server_side_label_selectors(client: Client) -> None:
    def names(labels: dict[str, object]) -> list[str]:
        return sorted(node.metadata.name for node in client.list(Node, labels=labels))

    assert names({SPOT_LABEL: "spot"}) == ["aks-spotpool-0", "aks-spotpool-1"]
    assert names({SPOT_LABEL: operators.not_exists()}) == ["aks-agentpool-0", "aks-agentpool-1"]
    assert names(
        {
            AGENTPOOL_LABEL: operators.in_(["spotpool", "nopool"]),
            "kubernetes.io/hostname": "aks-spotpool-1",
        }
    ) == ["aks-spotpool-1"]
