"""Other configs on the real workflow-controller, and steps with tolerations of their own.

prefer and require without spot, retry-on=all and errors, and the seed's spot pipeline (its own
toleration and affinity) under require.

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
from localcluster import workflows
from localcluster.charm_context import charm_context
from localcluster.e2e import config_reloads, wait_config_reloaded
from localcluster.kfp_v1 import v1_pipeline
from localcluster.seed import KUBEFLOW_NAMESPACE, SPOT_LABEL
from tests.e2e.scenarios import (
    Scenario,
    evict,
    flat,
    force_delete,
    nested,
    restore_nodes,
    run_all,
    step,
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
    return dict(context.action_results or {})  # the next run clears the Context's results


@pytest.fixture(scope="module")
def runs(e2e, kfp_v1) -> Iterator[dict[str, Any]]:
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
            stuck = workflows.submit(
                e2e.client, e2e.namespace, nested("require-no-spot-", step("step", run="3s"))
            )
            assert workflows.poll(
                lambda: any(
                    "Unschedulable" in a.message
                    for a in workflows.attempts(
                        workflows.status(e2e.client, e2e.namespace, stuck), "step"
                    )
                ),
                timeout=PENDING_SECONDS,
            )
            results["require-report"] = _report(context, format="json")
            results["require"] = workflows.status(e2e.client, e2e.namespace, stuck)
            _cordon_spot(e2e, False)
            # retry-on=all retries an application failure, after the Workflow's own (shorter)
            # backoff: Argo merges spec.retryStrategy field by field under the defaults.
            _reconcile(e2e, context, **{"retry-on": "all", "retry-limit": 2})
            all_ = Scenario(
                "all",
                workflows.with_backoff(
                    flat("all-app-failure-", step("step", run="1s", exit_code=1)), "1s"
                ),
            )
            all_.start(e2e.client, e2e.namespace, e2e.cluster)
            results["all"] = all_.join()
            results |= _retry_on_errors(e2e, context)
            results |= _own_tolerations_under_require(e2e, context, kfp_v1)
            yield results
        finally:
            restore_nodes(e2e.client)
            last_unit = testing.State(
                leader=True, planned_units=0, model=testing.Model(name=KUBEFLOW_NAMESPACE)
            )
            context.run(context.on.remove(), last_unit)


def _retry_on_errors(e2e, context: testing.Context) -> dict[str, Any]:
    """retry-on=errors is Argo's OnError: run an eviction, a vanished pod and exit 1 under it."""
    _reconcile(e2e, context, **{"retry-on": "errors", "retry-limit": 2})
    scenarios = [
        Scenario(label, workflows.with_backoff(flat(f"{label}-", template), "1s"), disrupt)
        for label, template, disrupt in [
            ("errors-evicted", step("step", run="25s"), evict("step")),
            ("errors-vanished", step("step", run="25s"), force_delete("step")),
            ("errors-app-failure", step("step", run="1s", exit_code=1), None),
        ]
    ]
    return run_all(e2e.client, e2e.namespace, e2e.cluster, scenarios)


OWN_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def _own_tolerations_under_require(e2e, context: testing.Context, kfp_v1) -> dict[str, Any]:
    """Run steps with tolerations of their own under require, then report-placement.

    The seed's spot pipeline (its own toleration is the spot one), and a step whose own
    toleration is another one.
    """
    _reconcile(e2e, context)
    seed = Scenario("seed-spot", v1_pipeline(kfp_v1["spot"], "seed-spot-", {}))
    seed.start(e2e.client, e2e.namespace, e2e.cluster)
    template = step("step", run="3s")
    template["tolerations"] = [OWN_TOLERATION]
    other = workflows.submit(e2e.client, e2e.namespace, flat("own-toleration-", template))
    assert workflows.poll(
        lambda: any(
            "untolerated taint" in a.message
            for a in workflows.attempts(workflows.status(e2e.client, e2e.namespace, other), "step")
        ),
        timeout=PENDING_SECONDS,
    )
    results: dict[str, Any] = {"seed-spot": seed.join()}
    params = {"namespace": e2e.namespace, "include-finished": True, "format": "json"}
    results["own-report"] = json.loads(_report(context, **params)["report"])
    results["own-toleration"] = workflows.status(e2e.client, e2e.namespace, other)
    results["own-toleration-pods"] = workflows.pods(e2e.client, e2e.namespace, other)
    e2e.client.delete(workflows.Workflow, other, namespace=e2e.namespace)
    for pod in results["own-toleration-pods"]:  # no garbage collector runs here
        e2e.client.delete(workflows.Pod, pod.metadata.name, namespace=e2e.namespace)
    return results


def test_prefer_without_spot_capacity_falls_back_to_on_demand_and_succeeds(runs):
    scenario = runs["prefer"]
    [attempt] = scenario.attempts("step")

    assert scenario.status["phase"] == "Succeeded"
    assert attempt.host.startswith("aks-agentpool-")


def test_require_without_spot_capacity_leaves_the_step_stuck_and_the_report_says_so(runs):
    [attempt] = workflows.attempts(runs["require"], "step")
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


def test_retry_on_errors_retries_a_vanished_pod_only(runs):
    """Argo's OnError retries phase Error ("pod deleted"), not Failed.

    Not the graceful eviction (exit 143), not exit 1 (processNodeRetries, operator.go v3.7.17).
    """
    evicted = runs["errors-evicted"].attempts("step")
    vanished = runs["errors-vanished"].attempts("step")
    failed = runs["errors-app-failure"].attempts("step")

    assert [(a.phase, a.message) for a in evicted] == [("Failed", "main: Error (exit code 143)")]
    assert [(a.phase, a.message) for a in vanished] == [
        ("Error", "pod deleted"),
        ("Succeeded", ""),
    ]
    assert [(a.phase, a.message) for a in failed] == [("Failed", "main: Error (exit code 1)")]
    assert [runs[k].status["phase"] for k in ("errors-evicted", "errors-vanished")] == [
        "Failed",
        "Succeeded",
    ]


def _rows(report: dict[str, Any], workflow: str) -> list[list[Any]]:
    return [
        row
        for nodes in report["pods"].values()
        for rows in nodes.values()
        for row in rows
        if row[0].startswith(workflow)
    ]


def test_the_seed_spot_pipeline_keeps_its_own_spot_toleration_and_runs_on_spot(e2e, runs):
    scenario = runs["seed-spot"]
    tolerations = [
        [t.to_dict() for t in pod.spec.tolerations or [] if t.key == SPOT_LABEL]
        for pod in workflows.pods(e2e.client, e2e.namespace, scenario.name)
    ]
    rows = _rows(runs["own-report"], scenario.name)

    assert scenario.status["phase"] == "Succeeded"
    assert len(rows) == len(tolerations) == 2
    assert all(len(own) == 1 for own in tolerations)  # its own, not doubled by the defaults
    assert {row[3] for row in rows} == {"on-spot"}


def test_a_step_whose_own_tolerations_replace_the_spot_one_is_stuck_and_the_report_says_why(
    runs,
):
    [attempt] = workflows.attempts(runs["own-toleration"], "step")
    [pod] = runs["own-toleration-pods"]
    report = runs["own-report"]
    [stuck] = [r for r in report["needs-action"] if r["pod"].endswith(pod.metadata.name)]

    assert attempt.phase == "Pending"
    # Its own toleration only, besides the API server's DefaultTolerationSeconds ones.
    own = [t.to_dict() for t in pod.spec.tolerations if not t.key.startswith("node.kubernetes")]
    assert own == [OWN_TOLERATION]
    assert stuck["verdict"] == "stuck"
    assert (
        "requires spot nodes but does not tolerate kubernetes.azure.com/scalesetpriority"
        in (stuck["reason"])
    )
