"""The charm's reconcile against a real kube-apiserver: what it stores, prunes and removes.

The charm runs under ops.testing with the control plane's client behind its lightkube seam
(the `ctx` fixture); every assertion reads what the API server stored.
"""

from __future__ import annotations

import pytest
from lightkube.models.core_v1 import Toleration
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap
from ops import testing

from applier import PodDefault
from localcluster import kubeflow_pods
from localcluster.seed import ARGO_CONFIGMAP, ARGO_FIELD_MANAGER, KUBEFLOW_NAMESPACE
from tests.cluster.charm_on_cluster import (
    ARGO_CONTROLLER_KEYS,
    argo_configmap,
    owners,
    poddefaults,
    reconcile,
    workflow_defaults,
)
from tests.unit.shared import DEFAULT_POD_DEFAULTS


def test_poddefaults_keep_their_tolerations_after_the_round_trip(ctx, client, profile_pods):
    out = reconcile(ctx)

    stored = poddefaults(client, profile_pods)
    assert set(stored) == DEFAULT_POD_DEFAULTS
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


def test_a_step_also_selected_by_a_poddefault_is_admitted_without_conflict(ctx, client):
    # A user may label pipeline steps kubeflow-spot/eligible too: the Argo default and the
    # batch PodDefault then both give the spot toleration, and they must be identical.
    reconcile(ctx, **{"spot-workloads": "pipelines,batch"})
    step = kubeflow_pods.pipeline_step("etl-r7d2x-1", "admin", workflow_defaults(client))
    step.metadata.labels["kubeflow-spot/eligible"] = "true"

    admitted = kubeflow_pods.admit(client, step)

    assert [t.key for t in admitted.spec.tolerations] == ["kubernetes.azure.com/scalesetpriority"]


def test_a_different_toleration_for_the_spot_key_is_rejected_like_the_webhook_does(ctx, client):
    reconcile(ctx)
    trial = kubeflow_pods.katib_trial("tune-lr-trial-exists", "admin")
    trial.spec.tolerations = [
        Toleration(key="kubernetes.azure.com/scalesetpriority", operator="Exists")
    ]

    with pytest.raises(kubeflow_pods.PodDefaultConflictError):
        kubeflow_pods.admit(client, trial)
