"""Other configs on the real workflow-controller: prefer and require without spot, retry-on=all.

Each scenario reconfigures the charm (ops.testing against the e2e cluster), waits for Argo to
reload its ConfigMap, then runs; they run one after the other because the defaults are
controller-wide.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from lightkube.resources.core_v1 import Node
from ops import testing

from charm import KubeflowSpotCharm
from localcluster.charm_context import charm_context
from localcluster.seed import KUBEFLOW_NAMESPACE, SPOT_LABEL
from tests.e2e import argo
from tests.e2e.scenarios import (
    Scenario,
    config_reloads,
    flat,
    nested,
    restore_nodes,
    step,
    wait_config_reloaded,
)

PENDING_SECONDS = 20.0


def _reconcile(e2e, context: testing.Context, **config: object) -> None:
    reloads = config_reloads(e2e.cluster)
    state = testing.State(leader=True, config=config, model=testing.Model(name=KUBEFLOW_NAMESPACE))
    context.run(context.on.config_changed(), state)
    wait_config_reloaded(e2e.cluster, reloads)


def _cordon_spot(e2e, unschedulable: bool) -> None:
    for node in e2e.client.list(Node, labels={SPOT_LABEL: "spot"}):
        assert node.metadata is not None
        e2e.client.patch(Node, str(node.metadata.name), {"spec": {"unschedulable": unschedulable}})


def _report(context: testing.Context, **params: Any) -> dict[str, Any]:
    state = testing.State(leader=True, model=testing.Model(name=KUBEFLOW_NAMESPACE))
    context.run(context.on.action("report-placement", params=params), state)
    return context.action_results or {}


@pytest.fixture(scope="module")
def runs(e2e) -> Iterator[dict[str, Any]]:
    results: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(KubeflowSpotCharm, "lightkube_client", lambda self: e2e.client)
        context = charm_context()
        try:
            # The spot pool is gone (every spot node cordoned): prefer falls back to on-demand.
            _cordon_spot(e2e, True)
            _reconcile(e2e, context, **{"spot-placement": "prefer"})
            prefer = Scenario("prefer", nested("prefer-no-spot-", step("step", run="3s")))
            prefer.start(e2e.client, e2e.namespace, e2e.cluster)
            results["prefer"] = prefer.join()
            # ... and require leaves the step Pending, which report-placement calls stuck.
            _reconcile(e2e, context)
            stuck = argo.submit(
                e2e.client, e2e.namespace, nested("require-no-spot-", step("step", run="3s"))
            )
            assert argo.poll(
                lambda: any(
                    "Unschedulable" in a.message
                    for a in argo.attempts(argo.status(e2e.client, e2e.namespace, stuck), "step")
                ),
                timeout=PENDING_SECONDS,
            )
            results["require-report"] = _report(context, format="json")
            results["require"] = argo.status(e2e.client, e2e.namespace, stuck)
            _cordon_spot(e2e, False)
            # retry-on=all retries an application failure, after the Workflow's own (shorter)
            # backoff: Argo merges spec.retryStrategy field by field under the defaults.
            _reconcile(e2e, context, **{"retry-on": "all", "retry-limit": 2})
            all_ = Scenario(
                "all",
                argo.with_backoff(
                    flat("all-app-failure-", step("step", run="1s", exit_code=1)), "1s"
                ),
            )
            all_.start(e2e.client, e2e.namespace, e2e.cluster)
            results["all"] = all_.join()
            yield results
        finally:
            restore_nodes(e2e.client)
            last_unit = testing.State(
                leader=True, planned_units=0, model=testing.Model(name=KUBEFLOW_NAMESPACE)
            )
            context.run(context.on.remove(), last_unit)


def test_prefer_without_spot_capacity_falls_back_to_on_demand_and_succeeds(runs):
    scenario = runs["prefer"]
    [attempt] = scenario.attempts("step")

    assert scenario.status["phase"] == "Succeeded"
    assert attempt.host.startswith("aks-agentpool-")


def test_require_without_spot_capacity_leaves_the_step_stuck_and_the_report_says_so(runs):
    [attempt] = argo.attempts(runs["require"], "step")
    report = runs["require-report"]
    rows = [
        row
        for nodes in json.loads(report["report"])["pods"].values()
        for rows in nodes.values()
        for row in rows
    ]

    assert attempt.phase == "Pending"
    assert "didn't match Pod's node affinity/selector" in attempt.message
    assert report["stuck"] >= 1
    assert any("stuck" in row for row in rows)


def test_retry_on_all_retries_an_application_failure_up_to_the_limit(runs):
    scenario = runs["all"]
    attempts = scenario.attempts("step")

    assert scenario.status["phase"] == "Failed"
    assert len(attempts) == 2 + 1
    assert {a.message for a in attempts} == {"main: Error (exit code 1)"}
