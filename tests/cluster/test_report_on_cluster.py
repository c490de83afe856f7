"""`report-placement` on the real API server: verdicts match the real scheduler's bindings.

Kubeflow-like pods are built from the charm's rendered defaults and placed by kube-scheduler;
the expected verdict of each pod is worked out here from where the scheduler bound it (read back
from the API server) and which class the test created it as, independently of the report's code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Node, Pod
from ops import testing

from localcluster import kubeflow_pods
from localcluster.seed import (
    AGENTPOOL_LABEL,
    KUBEFLOW_NAMESPACE,
    REGULAR_POOL,
    SPOT_POOL,
    cordon,
    decided,
    uncordon,
    wait_until_decided,
)
from tests.cluster.charm_on_cluster import reconcile, workflow_defaults

DECIDE_TIMEOUT = 30.0
ELIGIBLE = {"pipelines", "training", "hpo"}  # the default spot-workloads


def run_report(ctx: testing.Context, **params: Any) -> dict[str, Any]:
    state = testing.State(leader=True, model=testing.Model(name=KUBEFLOW_NAMESPACE))
    ctx.run(ctx.on.action("report-placement", params=params), state)
    return ctx.action_results or {}


def pod_rows(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the json report's pod rows by name, with the node they are grouped under."""
    document = json.loads(results["report"])
    columns = document["pod-columns"]
    return {
        row[0]: {"node": node, **dict(zip(columns, row, strict=True))}
        for nodes in document["pods"].values()
        for node, rows in nodes.items()
        for row in rows
    }


def expected_verdict(workload: str, pool: str | None, stuck: bool) -> str:
    """Work out a verdict from the scheduler's binding, as the README defines verdicts."""
    if pool is None:
        return "stuck" if stuck else "pending"
    on_spot, eligible = pool == SPOT_POOL, workload in ELIGIBLE
    return {
        (True, True): "on-spot",
        (True, False): "at-risk",
        (False, True): "missed",
        (False, False): "ok",
    }[(on_spot, eligible)]


def without_tolerations(pod: Pod) -> Pod:
    """Drop the pod's tolerations: a step that requires spot but cannot go there."""
    pod.spec.tolerations = None
    return pod


def test_report_counts_and_verdicts_match_the_schedulers_bindings(ctx, client, profile_pods):
    reconcile(ctx)
    defaults = workflow_defaults(client)
    step: Callable[[str, str], Pod] = lambda n, ns: kubeflow_pods.pipeline_step(n, ns, defaults)  # noqa: E731
    first = {
        "iris-x2k9p-1460": ("pipelines", step),
        "iris-x2k9p-2207": ("pipelines", step),
        "tune-lr-trial-4fxk2": ("hpo", kubeflow_pods.katib_trial),
        "mnist-ddp-worker-0": ("training", kubeflow_pods.training_worker),
        "lab-0": ("notebooks", kubeflow_pods.notebook),
        "sklearn-iris-predictor-7d9f": ("serving", kubeflow_pods.kserve_predictor),
        "etl-m4v7z-3312": ("pipelines", lambda n, ns: without_tolerations(step(n, ns))),
    }
    then_on_demand_full = {
        "mnist-ddp-worker-1": ("training", kubeflow_pods.training_worker),
        "lab2-0": ("notebooks", kubeflow_pods.notebook),
    }
    create_all(client, profile_pods, first)
    placed = wait_until_decided(client, profile_pods, list(first), DECIDE_TIMEOUT)
    assert all(map(decided, placed.values())), "the scheduler left a pod undecided"
    cordon(client, REGULAR_POOL)
    try:
        create_all(client, profile_pods, then_on_demand_full)
        pods = wait_until_decided(
            client, profile_pods, [*first, *then_on_demand_full], DECIDE_TIMEOUT
        )
        assert all(map(decided, pods.values())), "the scheduler left a pod undecided"
        results = run_report(ctx, namespace=profile_pods, format="json")
    finally:
        uncordon(client, REGULAR_POOL)

    classes = {name: workload for name, (workload, _) in {**first, **then_on_demand_full}.items()}
    pools = {n.metadata.name: n.metadata.labels[AGENTPOOL_LABEL] for n in client.list(Node)}
    rows = pod_rows(results)
    expected = {
        name: {
            "node": pod.spec.nodeName or "",
            "class": classes[name],
            "verdict": expected_verdict(
                classes[name], pools.get(pod.spec.nodeName or ""), name == "etl-m4v7z-3312"
            ),
        }
        for name, pod in pods.items()
    }
    assert {
        n: {k: r[k] for k in ("node", "class", "verdict")} for n, r in rows.items()
    } == expected
    verdicts = [e["verdict"] for e in expected.values()]
    on_spot_nodes = [p for p in pods.values() if pools.get(p.spec.nodeName or "") == SPOT_POOL]
    assert (
        results["pods-total"],
        results["pods-on-spot"],
        results["missed"],
        results["at-risk"],
        results["stuck"],
    ) == (
        len(pods),
        len(on_spot_nodes),
        verdicts.count("missed"),
        verdicts.count("at-risk"),
        verdicts.count("stuck"),
    )
    # The scenario must exercise the verdicts, not only agree on them.
    assert {"on-spot", "stuck", "pending", "ok"} <= set(verdicts)


def create_all(
    client: Client, namespace: str, builders: dict[str, tuple[str, Callable[[str, str], Pod]]]
) -> None:
    """Create pods the way Argo, the PodDefault webhook and Kubeflow's controllers would."""
    for name, (_, build) in builders.items():
        client.create(kubeflow_pods.admit(client, build(name, namespace)))


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("notebook-name", {"lab-0"}),
        ("katib.kubeflow.org/trial in (tune-lr-trial-1,tune-lr-trial-2)", {"tune-lr-trial-1"}),
        ("!notebook-name,!katib.kubeflow.org/trial", {"sklearn-iris-predictor-1"}),
    ],
)
def test_the_api_server_evaluates_the_selector(ctx, client, profile_pods, selector, expected):
    reconcile(ctx)
    create_all(
        client,
        profile_pods,
        {
            "lab-0": ("notebooks", kubeflow_pods.notebook),
            "tune-lr-trial-1": ("hpo", kubeflow_pods.katib_trial),
            "sklearn-iris-predictor-1": ("serving", kubeflow_pods.kserve_predictor),
        },
    )

    results = run_report(ctx, namespace=profile_pods, selector=selector, format="json")

    assert set(pod_rows(results)) == expected


def test_a_namespace_that_does_not_exist_fails_the_report(ctx):
    with pytest.raises(testing.ActionFailed, match="namespace 'no-such-profile' does not exist"):
        run_report(ctx, namespace="no-such-profile")


def test_the_report_lists_every_seeded_node_by_pool(ctx, client):
    document = json.loads(run_report(ctx, format="json")["report"])
    pools = {name: pool for name, _, pool, _, _ in document["nodes"]}
    kinds = {name: kind for name, kind, _, _, _ in document["nodes"]}
    assert sorted(pools.values()) == sorted([REGULAR_POOL] * 2 + [SPOT_POOL] * 2)
    assert all((kinds[n] == "spot") == (pools[n] == SPOT_POOL) for n in pools)
