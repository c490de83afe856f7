"""spot-fallback-after on the real workflow-controller: after N evictions a step leaves spot.

The charm (ops.testing against the e2e cluster) writes its default config, spot-fallback-after=2
under spot-placement=require, and Argo v3.7.17 reloads it. Batch 1 runs side by side: steps
evicted twice (a plain step, KFP v1 and v2 shapes), a step evicted every time, application
failures. Batch 2 runs alone: the spot pool goes away (every spot node tainted out-of-service
NoExecute) under a step evicted once already. Each test reads what Argo recorded and the pods'
labels and nodes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from lightkube.resources.core_v1 import Node
from ops import testing

from charm import KubeflowSpotCharm
from fallback import FALLBACK_LABEL
from localcluster import e2e as cluster_ops
from localcluster import workflows
from localcluster.charm_context import charm_context
from localcluster.e2e import config_reloads, wait_config_reloaded
from localcluster.kfp_v1 import set_retry_backoff, v1_pipeline
from localcluster.seed import KUBEFLOW_NAMESPACE, SPOT_LABEL
from tests.e2e.scenarios import (
    Scenario,
    evict,
    nested,
    restore_nodes,
    run_all,
    step,
    v2_pipeline,
)

RUN = workflows.RUN_ANNOTATION
EXIT = workflows.EXIT_CODE_ANNOTATION
FALLBACK_AFTER = 2  # the default of spot-fallback-after
RETRY_LIMIT = 5  # the default of retry-limit
TEMPLATES = {
    "evicted-twice": "step",
    "v1-evicted-twice": "download-data",
    "v1-own-affinity-evicted-twice": "download-data",
    "v2-evicted-twice": "system-container-impl",
    "evicted-every-time": "step",
    "app-failure": "step",
    "set-retry-app-failures": "download-data",
}


@dataclass(frozen=True)
class Run:
    """A scenario that ended, and where each attempt of its step ran."""

    scenario: Scenario
    placements: list[tuple[str, str, str]]
    """(phase, node type, fallback label) of each attempt, read as the scenario ended."""


def _pool_gone_after_one_eviction(scenario: Scenario) -> None:
    """Evict the step once, then take the spot pool away under its retry (taint every node)."""
    assert scenario.client is not None
    evict("step")(scenario)
    pod = scenario.running_pod("step")
    for node in scenario.client.list(Node, labels={SPOT_LABEL: "spot"}):
        assert node.metadata is not None
        cluster_ops.taint_out_of_service(scenario.client, str(node.metadata.name))
    scenario.disrupted.append(pod)


@pytest.fixture(scope="module")
def batches(e2e, kfp_v1, kfp_v2) -> Iterator[tuple[dict[str, Run], dict[str, Any]]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(KubeflowSpotCharm, "lightkube_client", lambda self: e2e.client)
        context = charm_context()
        reloads = config_reloads(e2e.cluster)
        state = testing.State(leader=True, model=testing.Model(name=KUBEFLOW_NAMESPACE))
        context.run(context.on.config_changed(), state)
        wait_config_reloaded(e2e.cluster, reloads)
        spot_retry = set_retry_backoff(kfp_v1["spot-retry"], "2s")
        ended: dict[str, Run] = {}
        try:
            first = [
                Scenario(
                    "evicted-twice",
                    nested("fb-evicted-2-", step("step", run="18s")),
                    evict("step", 2),
                ),
                Scenario(
                    "v1-evicted-twice",
                    v1_pipeline(kfp_v1["base"], "fb-v1-", {"download-data": {RUN: "18s"}}),
                    evict("download-data", 2),
                ),
                Scenario(
                    "v1-own-affinity-evicted-twice",
                    v1_pipeline(kfp_v1["spot"], "fb-v1-spot-", {"download-data": {RUN: "18s"}}),
                    evict("download-data", 2),
                ),
                Scenario(
                    "v2-evicted-twice",
                    v2_pipeline(
                        kfp_v2,
                        "fb-v2-",
                        {"system-container-impl": {RUN: "18s"}},
                        set_retry_backoff="2",
                    ),
                    evict("system-container-impl", 2),
                ),
                Scenario(
                    "evicted-every-time",
                    nested("fb-evicted-6-", step("step", run="18s")),
                    evict("step", RETRY_LIMIT + 1),
                ),
                Scenario("app-failure", nested("fb-app-", step("step", run="3s", exit_code=1))),
                Scenario(
                    "set-retry-app-failures",
                    v1_pipeline(spot_retry, "fb-set-retry-app-", {"download-data": {EXIT: "1"}}),
                ),
            ]
            # Read the pods as each batch ends: the pool-gone taint makes the taint manager
            # delete every pod left on a spot node, finished ones included.
            for scenario in run_all(e2e.client, e2e.namespace, e2e.cluster, first).values():
                template = TEMPLATES[scenario.label]
                ended[scenario.label] = Run(scenario, _placements(e2e, scenario.join(), template))
            # An evicted pod lingers a moment, Failed, before it is deleted: count without it.
            assert workflows.poll(lambda: not _deleting(e2e, ended.values()), timeout=60)
            names = ",".join(run.scenario.name for run in ended.values())
            report = _report(context, selector=f"workflows.argoproj.io/workflow in ({names})")
            pool_gone = Scenario(
                "pool-gone",
                nested("fb-pool-gone-", step("step", run="18s")),
                _pool_gone_after_one_eviction,
            )
            run_all(e2e.client, e2e.namespace, e2e.cluster, [pool_gone])
            ended["pool-gone"] = Run(pool_gone, _placements(e2e, pool_gone.join(), "step"))
            yield ended, report
        finally:
            restore_nodes(e2e.client)
            last_unit = testing.State(
                leader=True, planned_units=0, model=testing.Model(name=KUBEFLOW_NAMESPACE)
            )
            context.run(context.on.remove(), last_unit)


NODE_ID_ANNOTATION = "workflows.argoproj.io/node-id"


@pytest.fixture(scope="module")
def runs(batches) -> dict[str, Run]:
    return batches[0]


def _deleting(e2e, runs: Iterable[Run]) -> list[str]:
    return [
        str(pod.metadata.name)
        for run in runs
        for pod in workflows.pods(e2e.client, e2e.namespace, run.scenario.name)
        if pod.metadata is not None and pod.metadata.deletionTimestamp is not None
    ]


def _report(context: testing.Context, **params: Any) -> dict[str, Any]:
    state = testing.State(leader=True, model=testing.Model(name=KUBEFLOW_NAMESPACE))
    params = {"format": "json", "include-finished": True, **params}
    context.run(context.on.action("report-placement", params=params), state)
    return json.loads((context.action_results or {})["report"])


def _placements(e2e, scenario: Scenario, template: str) -> list[tuple[str, str, str]]:
    """Return (phase, node type, fallback label) of each attempt of ``template``, in order.

    An evicted pod is gone by the end: its labels are those seen when it was taken away.
    """
    pods = [*scenario.disrupted, *workflows.pods(e2e.client, e2e.namespace, scenario.name)]
    labels = {
        (pod.metadata.annotations or {}).get(NODE_ID_ANNOTATION, ""): (
            pod.metadata.labels or {}
        ).get(FALLBACK_LABEL, "no label")
        for pod in pods
        if pod.metadata is not None
    }
    return [
        (
            attempt.phase,
            "spot" if attempt.host.startswith("aks-spotpool-") else "on-demand",
            labels.get(attempt.id, "no pod"),
        )
        for attempt in scenario.attempts(template)
    ]


@pytest.mark.parametrize(
    ("label", "template"),
    [
        ("evicted-twice", "step"),
        ("v1-evicted-twice", "download-data"),
        ("v2-evicted-twice", "system-container-impl"),
    ],
)
def test_a_step_evicted_n_times_runs_its_next_attempt_on_on_demand_and_the_run_succeeds(
    e2e, runs, label, template
):
    scenario = runs[label].scenario

    assert scenario.status["phase"] == "Succeeded"
    assert runs[label].placements == [
        ("Failed", "spot", "false"),
        ("Failed", "spot", "false"),
        ("Succeeded", "on-demand", "true"),
    ]


def test_a_kfp_v1_step_with_its_own_spot_affinity_keeps_it_after_n_evictions(runs):
    """Its template's required terms replace the defaults'; the label only says it was let go."""
    run = runs["v1-own-affinity-evicted-twice"]

    assert run.scenario.status["phase"] == "Succeeded"
    assert run.placements == [
        ("Failed", "spot", "false"),
        ("Failed", "spot", "false"),
        ("Succeeded", "spot", "true"),
    ]


def test_a_step_evicted_every_time_stops_at_retry_limit_and_falls_back_after_n(e2e, runs):
    scenario = runs["evicted-every-time"].scenario
    seen = runs["evicted-every-time"].placements

    assert scenario.status["phase"] == "Failed"
    assert len(seen) == RETRY_LIMIT + 1
    assert seen == [("Failed", "spot", "false")] * FALLBACK_AFTER + [
        ("Failed", "on-demand", "true")
    ] * (RETRY_LIMIT + 1 - FALLBACK_AFTER)


def test_an_application_failure_is_not_retried_and_never_falls_back(e2e, runs):
    scenario = runs["app-failure"].scenario

    assert scenario.status["phase"] == "Failed"
    assert runs["app-failure"].placements == [("Failed", "spot", "false")]


def test_set_retry_application_failures_count_but_never_trigger_the_fallback(e2e, runs):
    """From the third attempt `retries` >= 2, but the last failure was no eviction."""
    scenario = runs["set-retry-app-failures"].scenario
    attempts = scenario.attempts("download-data")

    assert scenario.status["phase"] == "Failed"
    assert {a.message for a in attempts} == {"main: Error (exit code 1)"}
    assert runs["set-retry-app-failures"].placements == [("Failed", "spot", "false")] * (5 + 1)


def test_with_the_spot_pool_gone_the_step_finishes_on_on_demand_after_n_evictions(e2e, runs):
    scenario = runs["pool-gone"].scenario
    attempts = scenario.attempts("step")

    assert scenario.status["phase"] == "Succeeded"
    assert runs["pool-gone"].placements == [
        ("Failed", "spot", "false"),
        ("Failed", "spot", "false"),
        ("Succeeded", "on-demand", "true"),
    ]
    assert attempts[1].message == "main: Error (exit code 143)"  # the taint manager's eviction


def test_report_placement_counts_the_steps_that_fell_back_and_their_on_demand_hours(batches):
    """Three steps still show their fallback pod on on-demand.

    Every attempt of the step evicted every time was deleted with its pod: pods cannot show it.
    """
    _, report = batches
    fallbacks = report["fallbacks"]
    pipelines = report["classes"]["pipelines"]

    assert (fallbacks["steps"], list(fallbacks["classes"]), list(fallbacks["namespaces"])) == (
        3,
        ["pipelines"],
        ["admin"],
    )
    assert fallbacks["on-demand-pod-hours"] > 0
    # A fallback on on-demand is what the config asks for, not savings missed.
    assert (pipelines["missed"], pipelines["missed-pod-hours"]) == (0, 0.0)
