"""report-placement counts what spot-fallback-after cost: steps run on on-demand, and hours."""

from __future__ import annotations

import json
from datetime import timedelta

from fallback import FALLBACK_LABEL, NO_NODE_KEY
from label_selectors import SelectorRequirement
from placement import report as output
from placement.facts import Condition, PodFacts
from placement.request import ReportRequest
from placement.rules import Verdict
from placement.tally import PlacementTally
from tests.unit.aks_cluster import aks_nodes
from tests.unit.shared import NOW, parse
from workloads import CONTROL_PLANE_NAMESPACES

SPOT_NODE = "aks-spotpool-42316583-vmss000000"
ON_DEMAND_NODE = "aks-agentpool-31207962-vmss000000"
UNSCHEDULABLE = "0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector."


def tally() -> PlacementTally:
    counting = PlacementTally(
        parse(),
        ReportRequest(format="json"),
        now=NOW,
        control_plane_namespaces=CONTROL_PLANE_NAMESPACES,
        keep_rows=True,
    )
    for node in aks_nodes():
        counting.add_node(node)
    return counting


def attempt(
    namespace: str, workflow: str, number: int, node: str, *, fell_back: bool, hours: float = 1.0
) -> PodFacts:
    """Return a running attempt of a pipeline step, labelled as spot-fallback-after labels it."""
    return PodFacts(
        namespace,
        f"{workflow}-train-{number}",
        labels={
            "workflows.argoproj.io/workflow": workflow,
            FALLBACK_LABEL: "true" if fell_back else "false",
        },
        annotations={"workflows.argoproj.io/node-name": f"{workflow}.root.train({number})"},
        node_name=node,
        phase="Running",
        started=NOW - timedelta(hours=hours),
    )


def test_a_step_that_fell_back_counts_once_with_its_on_demand_hours_per_class_and_namespace():
    counting = tally()
    counting.add_pod(attempt("admin", "wf-1", 2, ON_DEMAND_NODE, fell_back=True, hours=1.5))
    counting.add_pod(attempt("admin", "wf-1", 3, ON_DEMAND_NODE, fell_back=True, hours=0.5))
    counting.add_pod(attempt("team-b", "wf-2", 4, ON_DEMAND_NODE, fell_back=True, hours=3.0))

    fallbacks = output.document(counting.finish())["fallbacks"]

    assert fallbacks == {
        "steps": 2,
        "on-demand-pod-hours": 5.0,
        "classes": {"pipelines": {"steps": 2, "on-demand-pod-hours": 5.0}},
        "namespaces": {
            "admin": {"steps": 1, "on-demand-pod-hours": 2.0},
            "team-b": {"steps": 1, "on-demand-pod-hours": 3.0},
        },
    }


def test_a_fallback_on_on_demand_is_ok_not_missed_and_its_hours_are_not_missed_hours():
    counting = tally()
    counting.add_pod(attempt("admin", "wf-1", 2, ON_DEMAND_NODE, fell_back=True))
    counting.add_pod(attempt("admin", "wf-3", 0, ON_DEMAND_NODE, fell_back=False))

    summary = counting.finish()

    assert [row.verdict for row in summary.rows] == [Verdict.OK, Verdict.MISSED]
    assert summary.total.missed_hours == 1.0


def test_pods_that_did_not_fall_back_or_stayed_on_spot_cost_no_fallback():
    counting = tally()
    counting.add_pod(attempt("admin", "wf-1", 2, SPOT_NODE, fell_back=True))
    counting.add_pod(attempt("admin", "wf-2", 1, ON_DEMAND_NODE, fell_back=False))

    summary = counting.finish()

    assert summary.fallbacks.total.steps == 0
    assert json.loads(output.report(summary))["fallbacks"]["steps"] == 0
    assert "Fallbacks" not in output.table(summary)


def test_the_table_says_how_many_steps_fell_back_and_what_they_cost():
    counting = tally()
    counting.add_pod(attempt("admin", "wf-1", 2, ON_DEMAND_NODE, fell_back=True, hours=2.0))

    assert (
        "Fallbacks (spot-fallback-after): 1 step ran on on-demand after their evictions,"
        " 2.00 on-demand pod-hours (pipelines 1; admin 1)"
    ) in output.table(counting.finish()).splitlines()


def test_a_removed_fallback_pod_stops_counting():
    counting = tally()
    counting.add_pod(attempt("admin", "wf-1", 2, ON_DEMAND_NODE, fell_back=True))
    counting.remove_pod("admin", "wf-1-train-2")

    assert counting.finish().fallbacks.total.steps == 0


def test_a_pending_step_not_yet_fallen_back_still_requires_spot_and_is_stuck():
    """Before the fallback its second required term names a label no node has."""
    spot = SelectorRequirement("kubernetes.azure.com/scalesetpriority", "In", ("spot",))
    no_node = SelectorRequirement(NO_NODE_KEY, "Exists", ())
    counting = tally()
    counting.add_pod(
        PodFacts(
            "admin",
            "wf-1-train-0",
            labels={"workflows.argoproj.io/workflow": "wf-1", FALLBACK_LABEL: "false"},
            conditions=(Condition("PodScheduled", "False", "Unschedulable", UNSCHEDULABLE),),
            required_node_terms=((spot,), (no_node,)),
        )
    )

    [row] = counting.finish().rows
    assert row.verdict is Verdict.STUCK
