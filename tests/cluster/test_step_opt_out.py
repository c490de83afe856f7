"""One pipeline step stays off spot with kfp-kubernetes' node affinity, whatever spot-placement is.

`workflowDefaults` reaches every step, so a step cannot leave it by label. KFP v2's driver writes
what kfp-kubernetes sets on a task (`kubernetes.add_node_affinity`, `add_toleration`, ...) into the
executor template's `podSpecPatch`, and Argo applies that patch to the pod built from the
defaults with a strategic merge patch on `PodSpec` (k8s.io/apimachinery strategicpatch; seen on
the real Argo 3.7.17: a patch's tolerations replace the defaults', an affinity the patch does not
set is kept). The API server merges a strategic merge patch of a PodTemplate with the same code
and the same PodSpec field tags, so these tests apply the step's patch there, then let the real
scheduler place a pod of the merged spec.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lightkube import Client
from lightkube.models.core_v1 import PodTemplateSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Node, Pod, PodTemplate
from lightkube.types import PatchType

from localcluster import kubeflow_pods
from localcluster.seed import (
    AGENTPOOL_LABEL,
    REGULAR_POOL,
    SPOT_LABEL,
    cordon,
    uncordon,
    wait_for_binding,
    wait_for_unschedulable,
)
from tests.cluster.charm_on_cluster import reconcile, workflow_defaults

TIMEOUT = 30.0
# What the driver writes for kubernetes.add_node_affinity(task, match_expressions=[{"key":
# "kubernetes.azure.com/scalesetpriority", "operator": "NotIn", "values": ["spot"]}]).
OFF_SPOT_TERM = {
    "matchExpressions": [{"key": SPOT_LABEL, "operator": "NotIn", "values": ["spot"]}]
}
OFF_SPOT_PATCH = {
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [OFF_SPOT_TERM]
            }
        }
    }
}


@pytest.fixture
def templates(client: Client, profile_pods: str) -> Iterator[str]:
    yield profile_pods
    for template in client.list(PodTemplate, namespace=profile_pods):
        client.delete(PodTemplate, template.metadata.name, namespace=profile_pods)


def opted_out_step(client: Client, namespace: str, name: str) -> Pod:
    """Return a step pod built from workflowDefaults with the opt-out podSpecPatch merged in."""
    step = kubeflow_pods.pipeline_step(name, namespace, workflow_defaults(client))
    step.metadata.labels["kubeflow-spot/eligible"] = "false"  # kubernetes.add_pod_label
    client.create(
        PodTemplate(
            metadata=ObjectMeta(name=name, namespace=namespace),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=step.metadata.labels), spec=step.spec
            ),
        )
    )
    merged = client.patch(
        PodTemplate,
        name,
        {"template": {"spec": OFF_SPOT_PATCH}},
        namespace=namespace,
        patch_type=PatchType.STRATEGIC,
    )
    return Pod(
        metadata=ObjectMeta(
            name=name, namespace=namespace, labels=merged.template.metadata.labels
        ),
        spec=merged.template.spec,
    )


@pytest.mark.parametrize("placement", ["require", "prefer", "tolerate"])
def test_the_node_affinity_replaces_the_spot_requirement(ctx, client, templates, placement):
    reconcile(ctx, **{"spot-placement": placement})

    pod = opted_out_step(client, templates, f"etl-{placement}-1")

    required = pod.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
    assert [term.to_dict() for term in required.nodeSelectorTerms] == [OFF_SPOT_TERM]
    assert [t.key for t in pod.spec.tolerations] == [SPOT_LABEL]  # still tolerated, not wanted


@pytest.mark.parametrize("placement", ["require", "prefer"])
def test_an_opted_out_step_waits_for_on_demand_rather_than_take_a_free_spot_node(
    ctx, client, templates, placement
):
    reconcile(ctx, **{"spot-placement": placement})
    pod = opted_out_step(client, templates, f"report-{placement}-1")
    cordon(client, REGULAR_POOL)
    try:
        client.create(pod)

        assert wait_for_unschedulable(client, templates, pod.metadata.name, TIMEOUT)
        assert client.get(Pod, pod.metadata.name, namespace=templates).spec.nodeName is None
    finally:
        uncordon(client, REGULAR_POOL)


def test_an_opted_out_step_runs_on_demand(ctx, client, templates):
    reconcile(ctx, **{"spot-placement": "require"})
    pod = opted_out_step(client, templates, "report-on-demand-1")

    client.create(pod)

    node = wait_for_binding(client, templates, pod.metadata.name, TIMEOUT)
    assert node is not None
    assert client.get(Node, node).metadata.labels[AGENTPOOL_LABEL] == REGULAR_POOL
