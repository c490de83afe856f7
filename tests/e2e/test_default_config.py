"""The charm's default config on the real workflow-controller: pipelines survive evictions.

The charm runs under ops.testing against the e2e cluster and writes its workflowDefaults into
Argo's ConfigMap; Argo v3.7.17 reloads it, and every scenario below runs side by side (batch 1),
then the node-level ones (batch 2: a NoExecute taint evicts every pod of its node, a vanished
VM takes its node away). Each test reads what Argo recorded in the Workflow's status.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from lightkube.resources.core_v1 import ConfigMap, Node, Pod
from ops import testing

from charm import KubeflowSpotCharm
from localcluster import workflows
from localcluster.charm_context import charm_context
from localcluster.e2e import config_reloads, wait_config_reloaded
from localcluster.kfp_v1 import set_retry_backoff, v1_pipeline
from localcluster.seed import ARGO_CONFIGMAP, KUBEFLOW_NAMESPACE, SPOT_LABEL, name_of
from tests.e2e.conftest import own_namespace
from tests.e2e.scenarios import (
    Scenario,
    caused_signals,
    drain,
    evict,
    nested,
    press,
    restore_nodes,
    run_all,
    step,
    taint,
    v2_pipeline,
    vm_gone,
)

SPOT_TOLERATION = {
    "key": SPOT_LABEL,
    "operator": "Equal",
    "value": "spot",
    "effect": "NoSchedule",
}
RUN = workflows.RUN_ANNOTATION
EXIT = workflows.EXIT_CODE_ANNOTATION
DEFAULT_BACKOFF_SECONDS = 300  # retry-backoff=5m: the wait a retry wrapper used to add
V2_DRIVERS = ("system-dag-driver", "system-container-driver")
NAMESPACE = "e2e-defaults"
"""This module's runs, alone in their namespace, so that report-placement counts only them."""


def _reconcile(context: testing.Context, **config: object) -> None:
    state = testing.State(leader=True, config=config, model=testing.Model(name=KUBEFLOW_NAMESPACE))
    context.run(context.on.config_changed(), state)


def _report(context: testing.Context, **params: object) -> dict[str, Any]:
    state = testing.State(leader=True, model=testing.Model(name=KUBEFLOW_NAMESPACE))
    context.run(context.on.action("report-placement", params=params), state)
    return dict(context.action_results or {})


@pytest.fixture(scope="module")
def runs(e2e, kfp_v1, kfp_v2) -> Iterator[dict[str, Scenario]]:
    namespace = own_namespace(e2e, NAMESPACE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(KubeflowSpotCharm, "lightkube_client", lambda self: e2e.client)
        context = charm_context()
        reloads = config_reloads(e2e.cluster)
        _reconcile(context)
        wait_config_reloaded(e2e.cluster, reloads)
        spot_retry = set_retry_backoff(kfp_v1["spot-retry"], "2s")
        first = [
            Scenario("v1-base", v1_pipeline(kfp_v1["base"], "v1-base-", {})),
            Scenario("v2-plain", v2_pipeline(kfp_v2, "v2-plain-", {}, set_retry_backoff="2")),
            Scenario(
                "drain",
                v1_pipeline(kfp_v1["base"], "drain-", {"download-data": {RUN: "25s"}}),
                drain("download-data"),
            ),
            Scenario("pressure", nested("pressure-", step("step", run="25s")), press("step")),
            Scenario("app-failure", nested("app-failure-", step("step", run="3s", exit_code=1))),
            Scenario(
                "v2-app-failure",
                v2_pipeline(kfp_v2, "v2-app-failure-", {"system-container-impl": {EXIT: "1"}}),
            ),
            Scenario(
                "set-retry-app-failure",
                v1_pipeline(spot_retry, "set-retry-app-", {"download-data": {EXIT: "1"}}),
            ),
            Scenario(
                "set-retry-evicted",
                v1_pipeline(spot_retry, "set-retry-evicted-", {"download-data": {RUN: "25s"}}),
                evict("download-data"),
            ),
            Scenario(
                "v2-set-retry-evicted",
                v2_pipeline(
                    kfp_v2,
                    "v2-set-retry-evicted-",
                    {"retry-system-container-impl": {RUN: "25s"}},
                    set_retry_backoff="2",
                ),
                evict("retry-system-container-impl"),
            ),
            Scenario(
                "evicted-three-times",
                nested("evicted-3-", step("step", run="14s")),
                evict("step", times=3),
            ),
            Scenario(
                "evicted-every-time",
                nested("evicted-6-", step("step", run="14s")),
                evict("step", times=6),
            ),
        ]
        results = run_all(e2e.client, namespace, e2e.cluster, first)
        restore_nodes(e2e.client)
        # A NoExecute taint evicts every pod of its node, so these two run alone; the taint
        # scenario starts once the VM is gone, on the nodes that are left.
        gone = Scenario("vm-gone", nested("vm-gone-", step("step", run="30s")), vm_gone("step"))
        gone.start(e2e.client, namespace, e2e.cluster)
        assert workflows.poll(lambda: bool(gone.disrupted), timeout=120)
        tainted = Scenario("taint", nested("taint-", step("step", run="25s")), taint("step"))
        tainted.start(e2e.client, namespace, e2e.cluster)
        results |= {"vm-gone": gone.join(), "taint": tainted.join()}
        restore_nodes(e2e.client)
        report = {"namespace": namespace, "include-finished": True}
        REPORTS["json"] = _report(context, format="json", **report)
        REPORTS["table"] = _report(context, **report)
        # The pods there were when the report was made: an evicted pod still there counts
        # by its own signal, one that is gone by what Argo recorded.
        EXISTING.update(name_of(p) for p in e2e.client.list(Pod, namespace=namespace))
        yield results
        last_unit = testing.State(
            leader=True, planned_units=0, model=testing.Model(name=KUBEFLOW_NAMESPACE)
        )
        context.run(context.on.remove(), last_unit)


REPORTS: dict[str, dict[str, Any]] = {}
"""report-placement on this module's namespace after every run, as json and as a table."""
EXISTING: set[str] = set()


def _pods_on_spot_with_defaults(e2e, scenario: Scenario) -> list[str]:
    """Return what is wrong with the scheduling of each pod of the scenario (empty: nothing)."""
    spot_nodes = {
        n.metadata.name for n in e2e.client.list(Node, labels={SPOT_LABEL: "spot"}) if n.metadata
    }
    problems = []
    for pod in workflows.pods(e2e.client, scenario.namespace, scenario.name):
        spec = pod.spec
        tolerations = [t.to_dict() for t in spec.tolerations or []]
        required = spec.affinity and spec.affinity.nodeAffinity
        if SPOT_TOLERATION not in tolerations:
            problems.append(f"{pod.metadata.name}: no spot toleration")
        if not (required and required.requiredDuringSchedulingIgnoredDuringExecution):
            problems.append(f"{pod.metadata.name}: no required spot affinity")
        if spec.nodeName not in spot_nodes:
            problems.append(f"{pod.metadata.name}: on {spec.nodeName}")
    return problems


def test_the_charm_wrote_the_defaults_argo_runs_with(e2e, runs):
    stored = e2e.client.get(ConfigMap, ARGO_CONFIGMAP, namespace=KUBEFLOW_NAMESPACE)
    strategy = yaml.safe_load(stored.data["workflowDefaults"])["spec"]["retryStrategy"]

    assert "limit" not in strategy
    assert "backoff" not in strategy


@pytest.mark.parametrize("label", ["v1-base", "v2-plain"])
def test_plain_pipelines_run_every_pod_on_spot_with_the_defaults(e2e, runs, label):
    scenario = runs[label].join()

    assert scenario.status["phase"] == "Succeeded"
    assert _pods_on_spot_with_defaults(e2e, scenario) == []


def test_kfp_v2_drivers_follow_the_steps_onto_spot(e2e, runs):
    """Decided: drivers get the steps' defaults (Argo defaults cannot tell them apart)."""
    scenario = runs["v2-plain"].join()
    drivers = [a for template in V2_DRIVERS for a in scenario.attempts(template)]

    assert len(drivers) == 3  # root DAG driver, one container driver per task
    assert all(a.phase == "Succeeded" and a.host.startswith("aks-spotpool-") for a in drivers)


@pytest.mark.parametrize(
    ("label", "template", "message"),
    [
        ("drain", "download-data", "main: Error (exit code 143)"),
        ("pressure", "step", "The node was low on resource: memory."),
        ("taint", "step", "main: Error (exit code 143)"),
        ("vm-gone", "step", "pod deleted"),
    ],
)
def test_an_evicted_step_is_retried_on_another_node_and_the_run_succeeds(
    runs, label, template, message
):
    scenario = runs[label].join()
    evicted, retried = scenario.attempts(template)

    assert scenario.status["phase"] == "Succeeded"
    assert evicted.message.startswith(message)
    assert retried.phase == "Succeeded"
    assert retried.host != evicted.host
    assert evicted.host == scenario.disrupted[0].spec.nodeName


@pytest.mark.parametrize(
    ("label", "template"), [("app-failure", "step"), ("v2-app-failure", "system-container-impl")]
)
def test_an_application_failure_is_not_retried_and_fails_the_run_at_once(runs, label, template):
    scenario = runs[label].join()
    [failed] = scenario.attempts(template)

    assert scenario.status["phase"] == "Failed"
    assert failed.message == "main: Error (exit code 1)"
    # No retry wrapper above the step waited its backoff (Argo says "Backoff for ..." then).
    finished = workflows.parse_time(scenario.status["finishedAt"])
    assert (finished - failed.finished).total_seconds() < DEFAULT_BACKOFF_SECONDS / 10


def test_set_retry_retries_an_application_failure_as_written_and_no_more(runs):
    scenario = runs["set-retry-app-failure"].join()
    attempts = scenario.attempts("download-data")

    assert scenario.status["phase"] == "Failed"
    assert len(attempts) == 5 + 1  # set_retry(num_retries=5): its limit, not multiplied
    assert {a.message for a in attempts} == {"main: Error (exit code 1)"}
    assert scenario.attempts("merge-csv") == []


@pytest.mark.parametrize(
    ("label", "template"),
    [
        ("set-retry-evicted", "download-data"),
        ("v2-set-retry-evicted", "retry-system-container-impl"),
    ],
)
def test_a_set_retry_step_evicted_gracefully_is_retried_by_its_own_strategy(runs, label, template):
    scenario = runs[label].join()
    evicted, retried = scenario.attempts(template)

    assert scenario.status["phase"] == "Succeeded"
    assert evicted.message == "main: Error (exit code 143)"
    assert retried.phase == "Succeeded"


def test_three_evictions_in_a_row_still_finish(runs):
    """Every spot node may have been tried: without nodeAntiAffinity the retry is not stuck."""
    scenario = runs["evicted-three-times"].join()
    attempts = scenario.attempts("step")

    assert scenario.status["phase"] == "Succeeded"
    assert [a.phase for a in attempts] == ["Failed"] * 3 + ["Succeeded"]


def test_a_step_evicted_more_than_retry_limit_times_fails_with_the_eviction(runs):
    scenario = runs["evicted-every-time"].join()
    attempts = scenario.attempts("step")

    assert scenario.status["phase"] == "Failed"
    assert len(attempts) == 5 + 1  # retry-limit=5
    assert {a.message for a in attempts} == {"main: Error (exit code 143)"}
    assert scenario.status["message"] == "retryStrategy.expression evaluated to false"

    # What the user sees: Argo says only that the expression said no; the report says why.
    [failed] = _report_json()["evictions"]["failed-steps"]
    assert failed["workflow"] == f"{NAMESPACE}/{scenario.name}"
    assert (failed["evictions"], failed["attempts"]) == (len(scenario.disrupted), len(attempts))
    assert f"failed, evicted {len(attempts)} times" in REPORTS["table"]["report"]


def _report_json() -> dict[str, Any]:
    return dict(json.loads(REPORTS["json"]["report"]))


def _caused(runs: dict[str, Scenario]) -> Counter[str]:
    return caused_signals([scenario.join() for scenario in runs.values()], EXISTING)


def test_the_report_counts_exactly_the_evictions_the_runs_caused_by_signal_and_class(runs):
    caused = _caused(runs)
    report = _report_json()
    print(REPORTS["table"]["report"])  # shown with -rP: what a person reads after these runs

    assert report["evictions"]["signals"] == dict(caused)
    assert report["evictions"]["total"] == caused.total() == REPORTS["json"]["evictions"]
    assert report["classes"]["pipelines"]["evictions"] == caused.total()
    assert report["namespaces"][NAMESPACE]["evictions"] == caused.total()
    assert report["notes"] == []


def test_the_report_counts_retries_after_application_failures_apart_from_evictions(runs):
    """set_retry's five retries of exit 1 are retries, never evictions."""
    app_retries = len(runs["set-retry-app-failure"].join().attempts("download-data")) - 1
    evicted_and_failed = len(runs["evicted-every-time"].join().disrupted)
    # Every eviction was retried but the last of the step evicted more than retry-limit times.
    retried_evictions = _caused(runs).total() - 1
    evictions = _report_json()["evictions"]

    assert evicted_and_failed == 6
    assert evictions["application-retries"] == app_retries == 5
    assert evictions["argo-retries"] == retried_evictions + app_retries


def _run_hours(pod) -> float:
    """Hours from the first container start to the last container end, as kwok set them."""
    states = [s.state for s in pod.status.containerStatuses or []]
    starts = [
        t
        for s in states
        for t in (s.running and s.running.startedAt, s.terminated and s.terminated.startedAt)
        if t
    ]
    ends = [s.terminated.finishedAt if s.terminated else None for s in states]
    if not starts:
        return 0.0
    end = max(ends) if ends and all(ends) else datetime.now(UTC)
    return (end - min(starts)).total_seconds() / 3600


def test_spot_pod_hours_are_what_kwok_recorded_and_not_zero(e2e, runs):
    spot_nodes = {
        n.metadata.name for n in e2e.client.list(Node, labels={SPOT_LABEL: "spot"}) if n.metadata
    }
    expected = sum(
        _run_hours(pod)
        for pod in e2e.client.list(Pod, namespace=NAMESPACE)
        if pod.spec.nodeName in spot_nodes
    )
    savings = _report_json()["savings"]

    assert expected > 0.01
    assert savings["spot-pod-hours"] == pytest.approx(expected, abs=0.01)
