"""The placement report's pure logic, on nodes and pods shaped like a real AKS cluster."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import yaml
from msgspec.structs import replace

from label_selectors import SelectorRequirement
from placement import report as output
from placement.action_results import (
    RESULT_CHUNK_CHARS,
    ReportTooLargeError,
    join_report,
    split_report,
)
from placement.facts import Condition, NodeFacts, PodFacts, age, eviction_signal, retry_attempt
from placement.request import ReportRequest
from placement.rules import NodeType, Verdict, node_type, requires_spot
from placement.summary import PlacementSummary
from placement.tally import TABLE_POD_ROWS, PlacementTally
from spot_config import SpotConfig
from spot_profiles import AKS, EKS, Taint, Toleration
from tests.unit.aks_cluster import REPORTED_COUNTS, aks_nodes, aks_pods, aks_workflows
from tests.unit.shared import NOW, kfp_step, parse
from workloads import CONTROL_PLANE_NAMESPACES

SPOT_TAINT = AKS.taint
assert SPOT_TAINT is not None


def report(
    pods: list[PodFacts] | None = None,
    config: SpotConfig | None = None,
    nodes: list[NodeFacts] | None = None,
    **params: Any,
) -> PlacementSummary:
    """Run the tally over the fixture cluster (or the given nodes and pods)."""
    tally = PlacementTally(
        config or parse(),
        ReportRequest(**params),
        now=NOW,
        control_plane_namespaces=CONTROL_PLANE_NAMESPACES,
        keep_rows=True,
    )
    for node in aks_nodes() if nodes is None else nodes:
        tally.add_node(node)
    for pod in aks_pods().values() if pods is None else pods:
        tally.add_pod(pod)
    for workflow in aks_workflows() if pods is None else ():
        tally.add_workflow(workflow)
    return tally.finish()


def rows(result: PlacementSummary) -> dict[str, dict[str, Any]]:
    """Return the json document's pod rows, by pod name, with their namespace and node."""
    document = json.loads(json.dumps(output.document(result)))
    columns = document["pod-columns"]
    return {
        row[0]: {"namespace": namespace, "node": node, **dict(zip(columns, row, strict=True))}
        for namespace, nodes in document["pods"].items()
        for node, node_rows in nodes.items()
        for row in node_rows
    }


@pytest.mark.parametrize(
    ("name", "workload", "expected"),
    [
        ("iris-training-x2k9p-system-container-impl-1460093417", "pipelines", "on-spot"),
        ("iris-training-x2k9p-retry-system-container-impl-2207713840", "pipelines", "missed"),
        ("tune-lr-trial-4fxk2-9c7bq", "hpo", "on-spot"),
        ("mnist-ddp-worker-0", "training", "missed"),
        ("lab-0", "notebooks", "at-risk"),
        ("sklearn-iris-predictor-00001-deployment-7d9f8b6c5-x2t8w", "serving", "ok"),
        ("etl-pipeline-m4v7z-3312094471", "pipelines", "stuck"),
        ("ml-pipeline-7b8d9c4f5-2lqzn", "control-plane", "ok"),
        ("kube-proxy-8xk2p", "control-plane", "ok"),  # a DaemonSet's pod goes with its node
        ("nightly-features-29108160-7bq4m", "batch", "at-risk"),  # batch is not in the default
        ("streamlit-demo-5d8f7c9b6-q2w4e", "other", "ok"),
    ],
)
def test_each_aks_pod_gets_its_class_and_verdict(name, workload, expected):
    row = rows(report())[name]
    assert (row["class"], row["verdict"]) == (workload, expected)


def test_finished_pods_are_left_out_unless_asked():
    assert "xgboost-pipeline-7qk2c-1849012386" not in rows(report())
    row = rows(report(include_finished=True))["xgboost-pipeline-7qk2c-1849012386"]
    assert (row["verdict"], row["phase"], row["hours"]) == ("on-spot", "Succeeded", 2.0)


def test_opted_in_batch_pods_are_on_spot_when_batch_is_allowed():
    config = parse(spot_workloads="pipelines,batch")
    assert rows(report(config=config))["nightly-features-29108160-7bq4m"]["verdict"] == "on-spot"


def test_a_class_left_out_of_spot_workloads_is_at_risk_on_spot():
    config = parse(spot_workloads="pipelines")
    assert rows(report(config=config))["tune-lr-trial-4fxk2-9c7bq"]["verdict"] == "at-risk"


def test_a_pod_on_a_vanished_node_is_judged_node_gone():
    pod = PodFacts("admin", "orphan", node_name="aks-spotpool-42316583-vmss000009")
    assert rows(report(pods=[pod]))["orphan"]["verdict"] == "node-gone"


def test_the_table_names_the_pods_that_need_action_their_age_and_why():
    table = output.table(report())
    assert (
        "at-risk  admin/lab-0 (notebooks) for 24h, on spot node aks-spotpool-42316583-vmss000001:"
        " an eviction kills an interactive session and its unsaved work"
    ) in table
    assert (
        "stuck    data-science/etl-pipeline-m4v7z-3312094471 (pipelines) for 10m, requires spot"
        " nodes but does not tolerate kubernetes.azure.com/scalesetpriority=spot:NoSchedule"
    ) in table


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (59, "59s"), (60, "1m"), (7199, "119m"), (7200, "2h"), (172800, "2d")],
)
def test_ages_read_like_kubectl(seconds, shown):
    assert age(NOW - timedelta(seconds=seconds), NOW) == shown


def test_stuck_pod_that_tolerates_spot_is_told_no_spot_node_fits():
    stuck = aks_pods()["etl-pipeline-m4v7z-3312094471"]
    tolerating = replace(stuck, tolerations=(Toleration(**SPOT_TAINT.toleration()),))
    assert "no spot node fits: 0/4 nodes are available" in output.table(report(pods=[tolerating]))


def test_an_unschedulable_pod_that_does_not_require_spot_is_pending():
    notebook = PodFacts(
        "admin",
        "lab2-0",
        labels={"notebook-name": "lab2"},
        conditions=(Condition("PodScheduled", "False", "Unschedulable", "0/4 nodes"),),
    )
    assert rows(report(pods=[notebook]))["lab2-0"]["verdict"] == "pending"


def test_counts_and_percentages_per_class():
    results = output.results(report())
    assert {key: results[key] for key in REPORTED_COUNTS} == REPORTED_COUNTS
    assert (results["spot-nodes"], results["on-demand-nodes"]) == (2, 2)
    assert results["eligible-on-spot-percent"] == 50.0


def test_eligible_percent_is_not_applicable_without_eligible_pods():
    assert output.results(report(pods=[]))["eligible-on-spot-percent"] == "n/a"


def test_savings_are_spot_hours_times_the_discount():
    # On spot at 10:00: the KFP step since 08:00:04, the Katib trial since 09:30, the batch
    # job since 09:00:03, and the notebook since 10:00:10 yesterday (at risk, but its spot
    # hours were cheap all the same). kube-proxy runs there too, but replaces nothing.
    result = report(spot_discount=0.5)
    spot_hours = (2 - 4 / 3600) + 0.5 + (1 - 3 / 3600) + (24 - 10 / 3600)
    assert output.results(result)["savings-pod-hours"] == round(spot_hours * 0.5, 2)
    assert output.document(result)["savings"] == {
        "estimate": True,
        "spot-discount": 0.5,
        "spot-pod-hours": round(spot_hours, 2),
        "saved-pod-hours": round(spot_hours * 0.5, 2),
        "missed-pod-hours": 4.0,  # the retried step since 09:00, the worker since 07:00
    }
    assert "Savings (estimate, spot-discount 0.5)" in output.table(result)


def test_pod_hours_are_kept_per_class():
    classes = output.document(report())["classes"]
    assert classes["notebooks"]["spot-pod-hours"] == 24.0
    assert classes["training"]["missed-pod-hours"] == 3.0
    assert classes["serving"]["spot-pod-hours"] == 0


# Evictions


@pytest.mark.parametrize(
    "reason",
    [
        "EvictionByEvictionAPI",
        "DeletionByTaintManager",
        "TerminationByKubelet",
        "PreemptionByScheduler",
        "DeletionByPodGC",
    ],
)
def test_every_disruption_target_reason_is_an_eviction(reason):
    pod = PodFacts("admin", "p", conditions=(Condition("DisruptionTarget", "True", reason),))
    assert eviction_signal(pod) == reason


@pytest.mark.parametrize(
    ("reason", "message", "signal"),
    [
        ("Evicted", "The node was low on resource: memory.", "Evicted"),
        ("Preempting", "", "Preempting"),
        (
            "Terminated",
            "Pod was terminated in response to imminent node shutdown.",
            "NodeShutdown",
        ),
        ("Terminated", "", None),
        ("OOMKilled", "", None),
        ("", "", None),
    ],
)
def test_pod_status_reasons_that_are_evictions(reason, message, signal):
    assert eviction_signal(PodFacts("admin", "p", reason=reason, message=message)) == signal


def test_evictions_are_counted_per_class_and_namespace_even_for_finished_pods():
    document = output.document(report())
    assert document["evictions"]["total"] == 2
    assert document["evictions"]["signals"] == {"ArgoTerminated": 1, "EvictionByEvictionAPI": 1}
    assert document["classes"]["training"]["evictions"] == 1
    assert document["classes"]["pipelines"]["evictions"] == 1
    assert document["namespaces"]["data-science"]["evictions"] == 1
    assert document["namespaces"]["admin"]["evictions"] == 1


def argo_attempt(name: str, node_name: str, *conditions: Condition) -> PodFacts:
    return PodFacts(
        "admin",
        name,
        labels={"workflows.argoproj.io/workflow": "wf-1"},
        annotations={"workflows.argoproj.io/node-name": node_name},
        node_name="aks-spotpool-42316583-vmss000000",
        phase="Failed" if conditions else "Running",
        conditions=conditions,
    )


def test_without_what_argo_recorded_a_retry_is_not_guessed_to_be_an_eviction():
    """Only pods that show a disruption count; Argo's records say what the retries were."""
    evicted = Condition("DisruptionTarget", "True", "EvictionByEvictionAPI")
    pods = [
        argo_attempt("wf-1-a", "wf-1.root.train(0)", evicted),
        argo_attempt("wf-1-c", "wf-1.root.train(2)"),
    ]
    result = report(pods=pods)
    assert output.document(result)["evictions"]["signals"] == {"EvictionByEvictionAPI": 1}
    assert (result.total.evictions, result.retries) == (1, 2)


def test_argo_retries_are_not_evictions_when_every_failure_is_retried():
    config = parse(retry_on="all")
    result = report(pods=[argo_attempt("wf-1-c", "wf-1.root.train(2)")], config=config)
    assert output.results(result)["evictions"] == 0
    assert "Argo retried 2 attempts" in output.table(result)


@pytest.mark.parametrize(
    ("node_name", "attempt"),
    [
        ("wf-1.root.train(3)", 3),
        ("wf-1.root.train(0)", 0),
        ("wf-1.root.fan-out(2:shard-b)", None),  # a loop item, not a retry
        ("wf-1.root.train", None),
    ],
)
def test_retry_attempts_are_read_from_argo_node_names(node_name, attempt):
    found = retry_attempt(argo_attempt("p", node_name))
    assert (found.attempt if found else None) == attempt


# Nodes, tolerations and affinity


def test_aks_nodes_are_told_apart_by_label_and_pool():
    document = output.document(report(pods=[]))
    assert document["nodes"] == [
        ["aks-agentpool-31207962-vmss000000", "on-demand", "agentpool", False, "", ""],
        [
            "aks-agentpool-31207962-vmss000001",
            "on-demand",
            "agentpool",
            True,
            "node.kubernetes.io/unschedulable",
            "",
        ],
        ["aks-spotpool-42316583-vmss000000", "spot", "spotpool", False, "", ""],
        [
            "aks-spotpool-42316583-vmss000001",
            "spot",
            "spotpool",
            False,
            "remediator.kubernetes.azure.com/unschedulable",
            "taint remediator.kubernetes.azure.com/unschedulable (AKS node auto-drain)",
        ],
    ]


def test_the_table_lists_cordons_apart_from_evicting_nodes():
    table = output.table(report(pods=[]))

    assert "Nodes cordoned or draining: aks-agentpool-31207962-vmss000001 (cordoned)\n" in table
    assert (
        "EVICTING (these nodes are about to go: their pods will be lost)\n"
        "aks-spotpool-42316583-vmss000001: taint remediator.kubernetes.azure.com/unschedulable"
        " (AKS node auto-drain); 0 pods\n"
    ) in table


def test_a_tainted_spot_node_without_the_label_is_still_spot():
    node = NodeFacts("n", {}, taint_keys=("kubernetes.azure.com/scalesetpriority",))
    assert node_type(node, AKS) is NodeType.SPOT


def test_eks_spot_nodes_are_known_by_capacity_type_alone():
    spot = NodeFacts("ip-10-0-1-17", {"eks.amazonaws.com/capacityType": "SPOT"})
    on_demand = NodeFacts("ip-10-0-1-18", {"eks.amazonaws.com/capacityType": "ON_DEMAND"})
    assert (node_type(spot, EKS), node_type(on_demand, EKS)) == (NodeType.SPOT, NodeType.ON_DEMAND)


@pytest.mark.parametrize(
    ("toleration", "tolerates"),
    [
        (Toleration("kubernetes.azure.com/scalesetpriority", "Equal", "spot", "NoSchedule"), True),
        (Toleration("kubernetes.azure.com/scalesetpriority", "Exists", "", ""), True),
        (Toleration("", "Exists", "", ""), True),
        (
            Toleration("kubernetes.azure.com/scalesetpriority", "Equal", "regular", "NoSchedule"),
            False,
        ),
        (Toleration("kubernetes.azure.com/scalesetpriority", "Equal", "spot", "NoExecute"), False),
        (Toleration("", "Equal", "", ""), False),
    ],
)
def test_tolerations_match_the_spot_taint_as_kubernetes_does(toleration, tolerates):
    assert (
        toleration.tolerates(Taint("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule"))
        is tolerates
    )


SPOT_IN = SelectorRequirement("kubernetes.azure.com/scalesetpriority", "In", ("spot",))
ZONE_IN = SelectorRequirement("topology.kubernetes.io/zone", "In", ("westeurope-1",))


@pytest.mark.parametrize(
    ("pod", "required"),
    [
        (PodFacts("a", "p", required_node_terms=((SPOT_IN, ZONE_IN),)), True),
        (PodFacts("a", "p", required_node_terms=((SPOT_IN,), (ZONE_IN,))), False),  # ORed terms
        (PodFacts("a", "p", node_selector={"kubernetes.azure.com/priority": "spot"}), True),
        (PodFacts("a", "p", node_selector={"kubernetes.azure.com/agentpool": "spotpool"}), False),
        (PodFacts("a", "p"), False),
    ],
)
def test_a_pod_requires_spot_only_if_every_node_term_does(pod, required):
    assert requires_spot(pod, AKS) is required


# Output size


def test_the_table_caps_pods_needing_action_with_a_count_of_the_rest():
    notebooks = [
        PodFacts(
            "admin",
            f"lab-{i}",
            labels={"notebook-name": f"lab-{i}"},
            node_name="aks-spotpool-42316583-vmss000000",
        )
        for i in range(TABLE_POD_ROWS + 7)
    ]
    table = output.table(report(pods=notebooks))
    assert table.count("at-risk  admin/lab-") == TABLE_POD_ROWS
    assert "… 7 more at-risk or stuck pods: format=json lists every pod" in table


def test_a_json_pod_row_stays_short():
    document = output.document(report(pods=[kfp_step(1)]))
    [[row]] = [rows for nodes in document["pods"].values() for rows in nodes.values()]
    assert len(json.dumps(row, separators=(",", ":"))) < 120, row


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_ten_thousand_pods_fit_in_juju_action_results(fmt):
    result = report(pods=[kfp_step(i) for i in range(10_000)], format=fmt)
    parts = split_report(output.report(result))
    assert all(len(str(v)) <= RESULT_CHUNK_CHARS for k, v in parts.items() if k != "report-parts")
    loaded = yaml.safe_load(join_report(parts))  # YAML reads JSON too
    assert (
        len(loaded["pods"]["team-recommendations"]["aks-spotpool-42316583-vmss000000"]) == 10_000
    )


def test_a_report_too_large_for_juju_fails_with_advice():
    with pytest.raises(ReportTooLargeError, match="narrow it with namespace= or selector="):
        split_report("x" * 1_500_001)


def test_yaml_and_json_reports_carry_the_same_document():
    as_json = json.loads(output.report(report(format="json", include_finished=True)))
    as_yaml = yaml.safe_load(output.report(report(format="yaml", include_finished=True)))
    assert as_json == as_yaml


# Params


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"namespace": "Admin"}, "namespace='Admin' is invalid: a DNS-1123 label"),
        ({"namespace": "a" * 64}, "at most 63 characters"),
        ({"selector": "app in (x"}, "selector='app in (x' is invalid ("),
        ({"selector": "tier notin ()"}, "notin needs at least one value"),
        ({"selector": "a,,b"}, "accepted is comma-separated key, !key, key=value"),
        ({"format": "csv"}, "format='csv' is invalid: one of table, json, yaml"),
        ({"spot_discount": 1.5}, "spot-discount=1.5 is invalid: a number from 0 to 1"),
        ({"spot_discount": -0.1}, "spot-discount=-0.1 is invalid"),
        ({"spot_discount": float("nan")}, "spot-discount=nan is invalid"),
    ],
)
def test_invalid_params_say_what_is_accepted(params, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ReportRequest(**params)


def test_every_invalid_param_is_reported_at_once():
    with pytest.raises(ValueError, match="namespace=.*; format=.*; spot-discount="):
        ReportRequest(namespace="-x", format="html", spot_discount=2)


def test_the_selector_narrows_the_scope_description():
    request = ReportRequest(namespace="admin", selector="app=x", include_finished=True)
    assert request.scope == "namespace admin, pods matching app=x"


def test_verdicts_are_the_documented_ones():
    assert [v.value for v in Verdict] == [
        "on-spot",
        "missed",
        "at-risk",
        "stuck",
        "pending",
        "ok",
        "node-gone",
    ]


@pytest.mark.parametrize(
    ("pod", "verdict"),
    [
        (PodFacts("kube-system", "csi-azuredisk-node-x", owner_kinds=("DaemonSet",)), "ok"),
        (
            PodFacts(
                "kube-system", "etcd-0", annotations={"kubernetes.io/config.mirror": "4f2a9c"}
            ),
            "ok",
        ),
        (PodFacts("kube-system", "coredns-6c5b7d9f8-x", owner_kinds=("ReplicaSet",)), "at-risk"),
    ],
)
def test_pods_that_belong_to_their_spot_node_are_not_at_risk(pod, verdict):
    on_spot = replace(pod, node_name="aks-spotpool-42316583-vmss000000")
    assert rows(report(pods=[on_spot]))[pod.name]["verdict"] == verdict
