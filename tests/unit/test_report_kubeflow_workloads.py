"""The report on Trainer v2, Spark and opted-out pods, evicting nodes and untainted spot pools.

Nodes and pods come from fixtures/kubeflow_workloads.yaml, shaped like what Trainer v2 (JobSet),
the Spark operator, AKS node-problem-detector and Karpenter put on them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from msgspec.structs import replace

from conflicts import Conflict
from placement import report as output
from placement.facts import Condition, NodeFacts, eviction_notice
from placement.request import ReportRequest
from placement.rules import Verdict
from placement.summary import PlacementSummary
from placement.tally import PlacementTally
from spot_config import SpotConfig
from tests.unit.aks_cluster import WORKLOADS_FIXTURE, aks_nodes, aks_pods
from tests.unit.shared import NOW, parse
from workloads import CONTROL_PLANE_NAMESPACES, WorkloadClass

WITH_SPARK = "pipelines,training,hpo,spark"
NODES = {node.name: node for node in aks_nodes(WORKLOADS_FIXTURE)}
PODS = aks_pods(WORKLOADS_FIXTURE)


def report(config: SpotConfig | None = None, **params: Any) -> PlacementSummary:
    tally = PlacementTally(
        config or parse(spot_workloads=WITH_SPARK),
        ReportRequest(**params),
        now=NOW,
        control_plane_namespaces=CONTROL_PLANE_NAMESPACES,
        keep_rows=True,
    )
    for node in NODES.values():
        tally.add_node(node)
    for pod in PODS.values():
        tally.add_pod(pod)
    return tally.finish()


def judged(summary: PlacementSummary) -> dict[str, tuple[WorkloadClass, Verdict]]:
    return {row.name: (row.workload, row.verdict) for row in summary.rows}


def test_trainer_v2_nodes_and_initializers_are_training_and_the_launcher_is_a_driver():
    verdicts = judged(report())

    assert verdicts["llama-ft-node-0-0-4xk9q"] == (WorkloadClass.TRAINING, Verdict.ON_SPOT)
    assert verdicts["llama-ft-node-1-0-8pz2d"] == (WorkloadClass.TRAINING, Verdict.MISSED)
    assert verdicts["llama-ft-dataset-initializer-0-0-b7m3c"][0] is WorkloadClass.TRAINING
    assert verdicts["llama-ft-model-initializer-0-0-q2w6e"][0] is WorkloadClass.TRAINING
    assert verdicts["pi-mpi-launcher-0-0-z9r4t"] == (WorkloadClass.DRIVERS, Verdict.AT_RISK)


def test_the_mpi_launcher_on_spot_needs_action_with_the_reason():
    (launcher,) = [r for r in report().needs_action if r.name == "pi-mpi-launcher-0-0-z9r4t"]

    assert "a Spark driver or MPI launcher coordinates its whole job" in launcher.reason


def test_spark_executors_are_spark_and_the_driver_a_driver():
    verdicts = judged(report())

    assert verdicts["spark-pi-6f1e2d3c4b5a-exec-1"] == (WorkloadClass.SPARK, Verdict.ON_SPOT)
    assert verdicts["spark-pi-driver"] == (WorkloadClass.DRIVERS, Verdict.OK)


def test_spark_is_opt_in_an_executor_on_spot_is_at_risk_by_default():
    verdicts = judged(report(parse()))

    assert verdicts["spark-pi-6f1e2d3c4b5a-exec-1"] == (WorkloadClass.SPARK, Verdict.AT_RISK)


def test_an_opted_out_training_pod_on_demand_is_ok_not_missed():
    verdicts = judged(report())

    assert verdicts["ckpt-less-ddp-worker-0"] == (WorkloadClass.OPTED_OUT, Verdict.OK)


@pytest.mark.parametrize(
    ("node", "notice"),
    [
        (
            "aks-spotpool-42316583-vmss000000",
            "VMEventScheduled: Preempt Scheduled: Sun, 29 Nov 2026 10:00:30 GMT"
            " (AKS node-problem-detector)",
        ),
        (
            "aks-spot-x7k2p",
            "PreemptionScheduled/SpotEvictionIncoming: Preempt Scheduled:"
            " Sun, 29 Nov 2026 10:00:45 GMT",
        ),
        ("aks-spot-r2d8w", "taint karpenter.sh/disrupted (Karpenter is draining it)"),
        ("aks-spotpool-42316583-vmss000002", ""),  # a Freeze evicts nothing
        ("aks-spot-m4q9z", ""),  # an advisory evicts nothing
        ("aks-agentpool-31207962-vmss000000", ""),  # NoVMEventScheduled
    ],
)
def test_eviction_notices_of_aks_and_karpenter(node, notice):
    assert eviction_notice(NODES[node]) == notice


def test_a_cordon_alone_is_not_an_eviction_notice():
    cordoned = NodeFacts("n", {}, ("node.kubernetes.io/unschedulable",), unschedulable=True)

    assert eviction_notice(cordoned) == ""


def test_a_scheduled_event_cleared_to_false_is_no_notice():
    node = replace(
        NODES["aks-spotpool-42316583-vmss000001"],
        conditions=(Condition("VMEventScheduled", "False", "NoVMEventScheduled", ""),),
    )

    assert eviction_notice(node) == ""


def test_evicting_nodes_are_listed_with_the_pods_that_will_be_lost():
    summary = report()

    doomed = {node: [(r.name, r.workload) for r in rows] for node, rows in summary.doomed.items()}
    assert doomed == {
        "aks-spotpool-42316583-vmss000000": [("llama-ft-node-0-0-4xk9q", WorkloadClass.TRAINING)],
        "aks-spotpool-42316583-vmss000001": [
            ("llama-ft-dataset-initializer-0-0-b7m3c", WorkloadClass.TRAINING),
            ("llama-ft-model-initializer-0-0-q2w6e", WorkloadClass.TRAINING),
        ],
        "aks-spot-x7k2p": [("spark-pi-6f1e2d3c4b5a-exec-1", WorkloadClass.SPARK)],
        "aks-spot-r2d8w": [("lab-0", WorkloadClass.NOTEBOOKS)],
    }
    results = output.results(summary)
    assert (results["evicting-nodes"], results["pods-on-evicting-nodes"]) == (4, 5)


def test_the_table_has_an_evicting_section_apart_from_cordons():
    table = output.table(report())

    assert (
        "EVICTING (these nodes are about to go: their pods will be lost)\n"
        "aks-spotpool-42316583-vmss000000: VMEventScheduled: Preempt Scheduled:"
        " Sun, 29 Nov 2026 10:00:30 GMT (AKS node-problem-detector); 1 pod\n"
        "  data-science/llama-ft-node-0-0-4xk9q (training, on-spot)\n"
    ) in table
    assert "Nodes: none cordoned or draining besides the evicting ones" in table


def test_the_json_report_names_each_evicting_node_and_its_pods():
    document = json.loads(output.report(report(format="json")))

    assert document["evicting"]["aks-spot-x7k2p"] == {
        "notice": "PreemptionScheduled/SpotEvictionIncoming: Preempt Scheduled:"
        " Sun, 29 Nov 2026 10:00:45 GMT",
        "pods": ["data-science/spark-pi-6f1e2d3c4b5a-exec-1"],
    }
    evicting_column = document["node-columns"].index("evicting")
    rows = {row[0]: row[evicting_column] for row in document["nodes"]}
    assert rows["aks-spot-m4q9z"] == ""


def test_on_untainted_spot_nodes_an_at_risk_pod_says_nothing_keeps_it_off():
    summary = report(parse(spot_profile="karpenter"))

    (notebook,) = [row for row in summary.needs_action if row.name == "lab-0"]
    assert "spot nodes carry no taint, so nothing keeps any pod off them" in notebook.reason
    assert "taint the spot pool and set spot-node-taint" in notebook.reason


def test_conflicts_are_listed_with_the_fix():
    tally = PlacementTally(
        parse(), ReportRequest(), now=NOW, control_plane_namespaces=CONTROL_PLANE_NAMESPACES
    )
    exists = {"key": "kubernetes.azure.com/scalesetpriority", "operator": "Exists"}
    tally.add_conflict(
        Conflict(
            "Job",
            "admin",
            "etl",
            "kubeflow-spot-batch",
            WorkloadClass.BATCH,
            exists,
            "pod template",
        )
    )
    tally.add_conflict(
        Conflict("Job", "admin", "etl", "kubeflow-spot-batch", None, None, "FailedCreate event")
    )
    summary = tally.finish()

    assert output.results(summary)["conflicts"] == 1  # one workload, seen twice
    table = output.table(summary)
    assert (
        "CONFLICTS (the PodDefault webhook rejects these workloads' pods)\nJob admin/etl (batch)"
        in table
    )
    assert (
        'Fix: use exactly {"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal"'
        in table
    )
