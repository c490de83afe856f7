"""The tally as a watch would drive it: pods added, modified and deleted, finished repeatedly."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from placement import report as output
from placement.facts import Condition, PodFacts
from placement.request import ReportRequest
from placement.tally import PlacementTally
from tests.unit.aks_cluster import aks_nodes, aks_pods
from tests.unit.shared import NOW, parse
from workloads import CONTROL_PLANE_NAMESPACES

EVICTED = Condition("DisruptionTarget", "True", "EvictionByEvictionAPI")


def tally(**params: object) -> PlacementTally:
    counting = PlacementTally(
        parse(),
        ReportRequest(**params),  # type: ignore[arg-type]
        now=NOW,
        control_plane_namespaces=CONTROL_PLANE_NAMESPACES,
        keep_rows=True,
    )
    for node in aks_nodes():
        counting.add_node(node)
    return counting


def retried_step(name: str, attempt: int, *conditions: Condition) -> PodFacts:
    return PodFacts(
        "admin",
        name,
        labels={"workflows.argoproj.io/workflow": "wf-1"},
        annotations={"workflows.argoproj.io/node-name": f"wf-1.root.train({attempt})"},
        node_name="aks-spotpool-42316583-vmss000000",
        phase="Failed" if conditions else "Running",
        conditions=conditions,
    )


def everything(counting: PlacementTally) -> tuple[object, ...]:
    summary = counting.finish()
    return output.results(summary), output.table(summary), output.document(summary)


def test_finishing_twice_gives_the_same_summary_and_counts_retries_once():
    counting = tally()
    counting.add_pod(retried_step("wf-1-a", 0, EVICTED))
    counting.add_pod(retried_step("wf-1-c", 2))

    first, second = counting.finish(), counting.finish()

    assert first == second
    # Without the Workflow read, the retries are what the pods tell, and no eviction is guessed.
    assert (first.total.evictions, dict(first.signals), first.retries) == (
        1,
        {"EvictionByEvictionAPI": 1},
        2,
    )


def test_the_summary_is_frozen_and_later_pods_do_not_change_it():
    counting = tally()
    counting.add_pod(aks_pods()["lab-0"])
    summary = counting.finish()

    counting.add_pod(retried_step("wf-1-a", 0, EVICTED))

    assert (summary.total.pods, summary.total.evictions) == (1, 0)
    with pytest.raises(FrozenInstanceError):
        summary.retries = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        summary.by_class["notebooks"] = summary.total  # type: ignore[index]


def test_adding_a_pod_again_replaces_what_it_counted():
    counting = tally()
    lab = aks_pods()["lab-0"]  # a notebook on a spot node: at risk
    counting.add_pod(lab)
    counting.add_pod(replace(lab, node_name="aks-agentpool-31207962-vmss000000"))

    results = output.results(counting.finish())

    assert (results["pods-total"], results["at-risk"], results["pods-on-spot"]) == (1, 0, 0)


def test_a_removed_pod_counts_nowhere_any_more():
    counting = tally()
    for pod in aks_pods().values():
        counting.add_pod(pod)
    lab = aks_pods()["lab-0"]

    counting.remove_pod(lab.namespace, lab.name)

    summary = counting.finish()
    assert (output.results(summary)["pods-total"], output.results(summary)["at-risk"]) == (10, 1)
    assert "admin/lab-0" not in output.table(summary)


def test_a_removed_retry_attempt_no_longer_counts_its_eviction_or_retries():
    counting = tally()
    counting.add_pod(retried_step("wf-1-a", 0, EVICTED))
    counting.add_pod(retried_step("wf-1-c", 2))

    counting.remove_pod("admin", "wf-1-c")
    counting.remove_pod("admin", "never-added")

    summary = counting.finish()
    assert (summary.total.evictions, dict(summary.signals), summary.retries) == (
        1,
        {"EvictionByEvictionAPI": 1},
        0,
    )


_events = st.lists(
    st.tuples(st.sampled_from(["add", "modify", "delete"]), st.sampled_from(sorted(aks_pods()))),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(events=_events, include_finished=st.booleans())
def test_any_stream_of_events_counts_what_a_fresh_read_of_the_survivors_counts(
    events, include_finished
):
    pods = aks_pods()
    watched = tally(include_finished=include_finished)
    survivors: dict[str, PodFacts] = {}
    for kind, name in events:
        if kind == "delete":
            watched.remove_pod(pods[name].namespace, name)
            survivors.pop(name, None)
            continue
        pod = pods[name] if kind == "add" else replace(pods[name], phase="Running", reason="")
        watched.add_pod(pod)
        survivors[name] = pod
    fresh = tally(include_finished=include_finished)
    for pod in survivors.values():
        fresh.add_pod(pod)

    assert everything(watched) == everything(fresh)
