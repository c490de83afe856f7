"""The charm's behaviour per Juju event, through ops.testing with a fake cluster at the seam."""

from __future__ import annotations

import json

import pytest
import yaml
from lightkube import ConfigError
from ops import testing

from charm import KubeflowSpotCharm
from localcluster.kubeflow_pods import PodDefaultConflictError, eligible_job, failed_create_event
from tests.unit.fake_k8s import FakeCluster, configmap_owned_by
from tests.unit.shared import (
    ARGO_CONFIGMAP,
    ARGO_CONTROLLER_DATA,
    DEFAULT_POD_DEFAULTS,
    DEFAULT_SUMMARY,
    MODEL,
    PROFILES,
    leader_state,
)

SPOT_KEY = "kubernetes.azure.com/scalesetpriority"


def poddefault_names(cluster: FakeCluster, namespace: str) -> set[str]:
    return set(cluster.find("PodDefault", namespace))


def argo_data(cluster: FakeCluster) -> dict[str, str]:
    return cluster.find("ConfigMap", MODEL)[ARGO_CONFIGMAP]["data"]


def test_default_config_applies_poddefaults_in_every_profile_and_argo_defaults(ctx, cluster):
    out = ctx.run(ctx.on.config_changed(), leader_state())

    assert out.unit_status == testing.ActiveStatus(f"{DEFAULT_SUMMARY} · direct to 2 namespaces")
    for namespace in PROFILES:
        assert poddefault_names(cluster, namespace) == DEFAULT_POD_DEFAULTS
    assert poddefault_names(cluster, "kube-system") == set()
    workflow_defaults = yaml.safe_load(argo_data(cluster)["workflowDefaults"])
    strategy = workflow_defaults["spec"]["retryStrategy"]
    assert strategy["expression"].startswith("asInt(retries) < 5 ")


def test_argo_controller_keys_are_untouched(ctx, cluster):
    ctx.run(ctx.on.config_changed(), leader_state())

    data = argo_data(cluster)
    assert {k: data[k] for k in ARGO_CONTROLLER_DATA} == ARGO_CONTROLLER_DATA


@pytest.mark.parametrize(
    ("option", "value", "accepted"),
    [
        ("spot-workloads", "pipelines,notebooks", "notebooks never runs on spot"),
        ("spot-workloads", "gpu", "unknown class gpu"),
        ("spot-placement", "always", "one of require, prefer, tolerate"),
        ("spot-profile", "azure", "one of aks, eks, gke, karpenter, custom"),
        ("spot-node-label", "no-equals", "key=value"),
        ("spot-node-taint", "a=b:Sometimes", "Effect one of NoSchedule"),
        ("retry-limit", -1, "an integer from 0 to 20"),
        ("retry-limit", 1000, "an integer from 0 to 20"),
        ("spot-fallback-after", 21, "an integer from 0 to 20"),
        ("spot-fallback-after", 6, "0 (off) or 1 to retry-limit (5)"),
        ("retry-backoff", "5 minutes", "a duration as Argo reads it"),
        ("retry-backoff-factor", 0, "an integer from 1 to 10"),
        ("retry-max-duration", "1m", "longer than retry-backoff (5m)"),
        ("retry-on", "failures", "one of evictions, errors, all"),
        ("argo-version", "2.12", "one of 3.4, 3.5, 3.6, 3.7, 4.0"),
        ("argo-configmap", "Argo_Config", "a ConfigMap name"),
        ("pod-defaults-delivery", "dispatcher", "one of auto, resource-dispatcher"),
    ],
)
def test_invalid_option_blocks_with_option_value_and_accepted_and_writes_nothing(
    ctx, cluster, option, value, accepted
):
    out = ctx.run(ctx.on.config_changed(), leader_state(**{option: value}))

    assert out.unit_status.name == "blocked"
    assert f"{option}={value!r}" in out.unit_status.message
    assert accepted in out.unit_status.message
    assert cluster.requests == 0


def test_every_invalid_option_is_named_at_once(ctx):
    out = ctx.run(ctx.on.config_changed(), leader_state(**{"retry-limit": -1, "retry-on": "x"}))

    assert "retry-limit=-1" in out.unit_status.message
    assert "retry-on='x'" in out.unit_status.message


def test_non_leader_writes_nothing_and_reports_standby(ctx, cluster):
    state = testing.State(leader=False, model=testing.Model(name=MODEL))

    out = ctx.run(ctx.on.config_changed(), state)

    assert out.unit_status == testing.ActiveStatus(
        f"{DEFAULT_SUMMARY} · standby, the leader applies"
    )
    assert cluster.requests == 0


def test_missing_poddefault_crd_waits_for_admission_webhook(ctx, cluster):
    del cluster.objects[("CustomResourceDefinition", "", "poddefaults.kubeflow.org")]

    out = ctx.run(ctx.on.install(), leader_state())

    assert out.unit_status == testing.WaitingStatus(
        "PodDefault CRD missing: deploy admission-webhook"
    )
    assert "workflowDefaults" in argo_data(cluster)


def test_missing_argo_configmap_waits_for_argo_controller(ctx, cluster):
    del cluster.objects[("ConfigMap", MODEL, ARGO_CONFIGMAP)]

    out = ctx.run(ctx.on.config_changed(), leader_state())

    assert out.unit_status == testing.WaitingStatus(
        f"waiting for argo-controller (ConfigMap {ARGO_CONFIGMAP} missing)"
    )
    assert cluster.find("ConfigMap", MODEL) == {}


def test_forbidden_api_blocks_with_juju_trust_hint(ctx, cluster):
    cluster.fail[("list", "Namespace")] = 403

    out = ctx.run(ctx.on.config_changed(), leader_state())

    assert out.unit_status == testing.BlockedStatus(
        "run: juju trust kubeflow-spot --scope=cluster"
    )


def test_unexpected_api_error_waits_instead_of_failing_the_hook(ctx, cluster):
    cluster.fail[("list", "ConfigMap")] = 500

    out = ctx.run(ctx.on.update_status(), leader_state())

    assert out.unit_status == testing.WaitingStatus("Kubernetes API error 500: HTTP 500")


def test_workflow_defaults_owned_by_another_manager_blocks_without_forcing(ctx, cluster):
    data = {**ARGO_CONTROLLER_DATA, "workflowDefaults": "spec: {}\n"}
    cluster.add("ConfigMap", configmap_owned_by(ARGO_CONFIGMAP, MODEL, data, "kubectl-edit"))

    out = ctx.run(ctx.on.config_changed(), leader_state())

    assert out.unit_status.name == "blocked"
    assert "owned by field manager kubectl-edit" in out.unit_status.message
    assert argo_data(cluster)["workflowDefaults"] == "spec: {}\n"
    assert ("apply", "ConfigMap", MODEL, ARGO_CONFIGMAP) not in cluster.writes


def test_dropping_a_class_prunes_exactly_its_poddefaults(ctx, cluster):
    ctx.run(ctx.on.config_changed(), leader_state())

    ctx.run(ctx.on.config_changed(), leader_state(**{"spot-workloads": "pipelines,hpo"}))

    for namespace in PROFILES:
        assert poddefault_names(cluster, namespace) == {"kubeflow-spot-hpo"}


def test_second_reconcile_with_same_config_writes_nothing(ctx, cluster):
    ctx.run(ctx.on.config_changed(), leader_state())
    cluster.writes.clear()

    ctx.run(ctx.on.update_status(), leader_state())

    assert cluster.writes == []


def test_update_status_covers_a_new_profile_namespace(ctx, cluster):
    ctx.run(ctx.on.config_changed(), leader_state())
    labels = {"app.kubernetes.io/part-of": "kubeflow-profile"}
    cluster.add("Namespace", {"metadata": {"name": "new-user", "labels": labels}})

    out = ctx.run(ctx.on.update_status(), leader_state())

    assert poddefault_names(cluster, "new-user") == DEFAULT_POD_DEFAULTS
    assert out.unit_status.message.endswith("3 namespaces")


def test_nothing_on_spot_and_no_retry_withdraws_the_argo_key(ctx, cluster):
    ctx.run(ctx.on.config_changed(), leader_state())

    ctx.run(ctx.on.config_changed(), leader_state(**{"spot-workloads": "", "retry-limit": 0}))

    assert "workflowDefaults" not in argo_data(cluster)
    assert cluster.find("PodDefault", "admin") == {}


def test_renamed_argo_configmap_moves_the_key(ctx, cluster):
    cluster.add(
        "ConfigMap", configmap_owned_by("argo-other", MODEL, ARGO_CONTROLLER_DATA, "lightkube")
    )
    ctx.run(ctx.on.config_changed(), leader_state())

    ctx.run(ctx.on.config_changed(), leader_state(**{"argo-configmap": "argo-other"}))

    assert "workflowDefaults" not in argo_data(cluster)
    assert "workflowDefaults" in cluster.find("ConfigMap", MODEL)["argo-other"]["data"]


def test_removing_the_last_unit_deletes_everything_labelled_and_only_our_key(ctx, cluster):
    ctx.run(ctx.on.config_changed(), leader_state())
    state = testing.State(leader=True, planned_units=0, model=testing.Model(name=MODEL))

    ctx.run(ctx.on.remove(), state)

    assert all(cluster.find("PodDefault", ns) == {} for ns in PROFILES)
    assert argo_data(cluster) == ARGO_CONTROLLER_DATA


def test_removing_one_of_several_units_keeps_the_defaults(ctx, cluster):
    ctx.run(ctx.on.config_changed(), leader_state())
    cluster.writes.clear()
    state = testing.State(leader=True, planned_units=2, model=testing.Model(name=MODEL))

    ctx.run(ctx.on.remove(), state)

    assert cluster.writes == []


def test_show_defaults_prints_what_would_be_applied_without_touching_the_cluster(ctx, cluster):
    ctx.run(ctx.on.action("show-defaults"), leader_state())

    document = yaml.safe_load(ctx.action_results["defaults"])
    names = [m["metadata"]["name"] for m in document["podDefaults"]["manifests"]]
    assert names == ["kubeflow-spot-training", "kubeflow-spot-trainjob", "kubeflow-spot-hpo"]
    assert document["argo"]["configMap"] == f"{MODEL}/{ARGO_CONFIGMAP}"
    assert "retryStrategy" in yaml.safe_load(document["argo"]["value"])["spec"]
    assert ctx.action_results["summary"] == DEFAULT_SUMMARY
    assert cluster.requests == 0


def test_show_defaults_notes_that_poddefaults_cannot_carry_affinity(ctx):
    ctx.run(ctx.on.action("show-defaults"), leader_state())

    assert "PodDefaults cannot carry node affinity" in ctx.action_results["notes"]


def test_show_defaults_as_json(ctx):
    ctx.run(ctx.on.action("show-defaults", params={"format": "json"}), leader_state())

    document = json.loads(ctx.action_results["defaults"])
    assert document["argo"]["key"] == "workflowDefaults"


def test_show_defaults_fails_on_invalid_config(ctx):
    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("show-defaults"), leader_state(**{"spot-workloads": "serving"}))

    assert "serving never runs on spot" in failure.value.message


def test_show_defaults_rejects_an_unknown_format_before_any_work(ctx, cluster):
    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("show-defaults", params={"format": "xml"}), leader_state())

    assert "format='xml' is invalid" in failure.value.message
    assert cluster.requests == 0


def test_an_action_keeps_the_status_of_the_last_reconcile(ctx):
    blocked = testing.BlockedStatus("run: juju trust kubeflow-spot --scope=cluster")
    state = testing.State(leader=True, unit_status=blocked, model=testing.Model(name=MODEL))

    out = ctx.run(ctx.on.action("show-defaults"), state)

    assert out.unit_status == blocked


def test_no_kubernetes_credentials_waits_instead_of_failing_the_hook(ctx, monkeypatch):
    def no_config(self):
        raise ConfigError("Configuration file ~/.kube/config not found")

    monkeypatch.setattr(KubeflowSpotCharm, "lightkube_client", no_config)

    out = ctx.run(ctx.on.update_status(), leader_state())

    assert out.unit_status == testing.WaitingStatus(
        "Kubernetes API unreachable: Configuration file ~/.kube/config not found"
    )


def test_a_conflict_answered_by_server_side_apply_blocks(ctx, cluster):
    cluster.fail[("apply", "ConfigMap")] = 409

    out = ctx.run(ctx.on.config_changed(), leader_state())

    assert out.unit_status == testing.BlockedStatus(
        f"conflict on ConfigMap {ARGO_CONFIGMAP}: HTTP 409"
    )


@pytest.mark.parametrize("event", ["install", "upgrade_charm", "leader_elected", "update_status"])
def test_every_lifecycle_event_reconciles(ctx, cluster, event):
    ctx.run(getattr(ctx.on, event)(), leader_state())

    assert poddefault_names(cluster, "admin") == DEFAULT_POD_DEFAULTS


def test_single_config_key_layout_blocks_rather_than_crash_argo(ctx, cluster):
    data = {"config": "executor:\n  imagePullPolicy: IfNotPresent\n"}
    cluster.add("ConfigMap", configmap_owned_by(ARGO_CONFIGMAP, MODEL, data, "helm"))

    out = ctx.run(ctx.on.config_changed(), leader_state())

    assert out.unit_status.name == "blocked"
    assert "in the single key 'config'" in out.unit_status.message
    assert argo_data(cluster) == data


def test_untainted_spot_nodes_are_a_warning_in_the_active_status(ctx, cluster):
    out = ctx.run(ctx.on.config_changed(), leader_state(**{"spot-profile": "eks"}))

    assert out.unit_status.name == "active"
    assert out.unit_status.message.endswith(
        " · warning: spot nodes are untainted, nothing keeps notebooks, servers or the control"
        " plane off them: taint the spot pool and set spot-node-taint"
    )


def test_a_job_whose_toleration_conflicts_is_a_warning_in_the_active_status(ctx, cluster):
    job = eligible_job("etl", "admin", [{"key": SPOT_KEY, "operator": "Exists"}]).to_dict()
    cluster.add("Job", job)

    out = ctx.run(ctx.on.update_status(), leader_state(**{"spot-workloads": "pipelines,batch"}))

    assert out.unit_status == testing.ActiveStatus(
        "spot: pipelines,batch · require · retry 5× at once on evictions"
        " (set_retry steps: their own policy) · on-demand after 2 evictions"
        " · direct to 2 namespaces"
        " · warning: 1 workload tolerates the spot taint differently from the PodDefaults, so"
        " their pods are rejected (Job admin/etl): run report-placement"
    )


def test_a_rejected_pod_in_a_failed_create_event_is_a_warning_in_the_active_status(ctx, cluster):
    rejected = PodDefaultConflictError(
        ["kubeflow-spot-training"],
        "",
        ["merging tolerations for kubeflow-spot-training has a conflict on x"],
    )
    event = failed_create_event(eligible_job("mnist", "admin", []), rejected).to_dict()
    cluster.add("Event", event)

    out = ctx.run(ctx.on.update_status(), leader_state())

    assert "warning: 1 workload tolerates the spot taint differently" in out.unit_status.message
    assert "(Job admin/mnist)" in out.unit_status.message
