"""`report-placement` on the real API server: verdicts match the real scheduler's bindings.

Kubeflow-like pods are built from the charm's rendered defaults and placed by kube-scheduler;
the expected verdict of each pod is worked out here from where the scheduler bound it (read back
from the API server) and which class the test created it as, independently of the report's code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lightkube import Client
from lightkube.models.core_v1 import Toleration
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Event, Node, Pod
from ops import testing

from conflicts import format_toleration
from localcluster import kubeflow_pods
from localcluster.seed import (
    AGENTPOOL_LABEL,
    KUBEFLOW_NAMESPACE,
    REGULAR_POOL,
    SPOT_LABEL,
    SPOT_POOL,
    clear_scheduled_event,
    cordon,
    decided,
    preempt_scheduled,
    uncordon,
    wait_until_decided,
)
from tests.cluster.charm_on_cluster import reconcile, workflow_defaults

DECIDE_TIMEOUT = 30.0
ELIGIBLE = {"pipelines", "training", "hpo"}  # the default spot-workloads


def run_report(
    ctx: testing.Context, config: dict[str, Any] | None = None, **params: Any
) -> dict[str, Any]:
    """Run the action with these params, under the given config (the defaults otherwise)."""
    model = testing.Model(name=KUBEFLOW_NAMESPACE)
    state = testing.State(leader=True, config=config or {}, model=model)
    ctx.run(ctx.on.action("report-placement", params=params), state)
    return dict(ctx.action_results or {})


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
    pools = {name: pool for name, _, pool, *_ in document["nodes"]}
    kinds = {name: kind for name, kind, *_ in document["nodes"]}
    assert sorted(pools.values()) == sorted([REGULAR_POOL] * 2 + [SPOT_POOL] * 2)
    assert all((kinds[n] == "spot") == (pools[n] == SPOT_POOL) for n in pools)


def test_an_evicting_node_is_reported_with_the_pods_it_will_take(ctx, client, profile_pods):
    reconcile(ctx)
    cordon(client, REGULAR_POOL)
    try:
        name = "llama-ft-node-0-0-4xk9q"
        client.create(kubeflow_pods.admit(client, kubeflow_pods.trainjob_pod(name, profile_pods)))
        (pod,) = wait_until_decided(client, profile_pods, [name], DECIDE_TIMEOUT).values()
    finally:
        uncordon(client, REGULAR_POOL)
    node = pod.spec.nodeName
    assert node is not None
    preempt_scheduled(client, node, datetime.now(UTC) + timedelta(seconds=30))
    try:
        results = dict(run_report(ctx, namespace=profile_pods, format="json"))
        table = run_report(ctx, namespace=profile_pods)["report"]
    finally:
        clear_scheduled_event(client, node)

    document = json.loads(results["report"])
    assert list(document["evicting"]) == [node]
    assert document["evicting"][node]["notice"].startswith("VMEventScheduled: Preempt Scheduled: ")
    assert document["evicting"][node]["pods"] == [f"{profile_pods}/{name}"]
    assert (results["evicting-nodes"], results["pods-on-evicting-nodes"]) == (1, 1)
    assert f"\n  {profile_pods}/{name} (training, on-spot)\n" in table
    assert f"Nodes cordoned or draining: {node}" not in table  # apart from plain cordons


def test_a_job_whose_toleration_conflicts_is_reported_with_the_fix(ctx, client, profile_pods):
    batch = {"spot-workloads": "pipelines,batch"}
    reconcile(ctx, **batch)
    own = {"key": SPOT_LABEL, "operator": "Exists", "effect": "NoSchedule"}
    job = client.create(kubeflow_pods.eligible_job("etl-nightly", profile_pods, [own]))
    template = job.spec.template
    pod = Pod(metadata=template.metadata, spec=template.spec)
    pod.metadata.name, pod.metadata.namespace = "etl-nightly-x7k2p", profile_pods
    with pytest.raises(kubeflow_pods.PodDefaultConflictError) as denied:
        kubeflow_pods.admit(client, pod)
    event = client.create(kubeflow_pods.failed_create_event(job, denied.value))
    try:
        results = run_report(ctx, batch, namespace=profile_pods)
        status = reconcile(ctx, **batch).unit_status
    finally:
        client.delete(Job, "etl-nightly", namespace=profile_pods)
        client.delete(Event, event.metadata.name, namespace=profile_pods)

    assert results["conflicts"] == 1  # its template and its event are one workload
    assert (
        f"CONFLICTS (the PodDefault webhook rejects these workloads' pods)\n"
        f"Job {profile_pods}/etl-nightly (batch) tolerates {format_toleration(own)};"
        " the PodDefault webhook rejects its pods (kubeflow-spot-batch, seen in pod template)."
        ' Fix: use exactly {"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal",'
        ' "value": "spot", "effect": "NoSchedule"} (show-defaults)'
    ) in results["report"]
    assert status.name == "active"
    assert "warning: 1 workload tolerates the spot taint differently" in status.message
    assert f"(Job {profile_pods}/etl-nightly): run report-placement" in status.message


def test_a_rejection_seen_only_in_an_event_is_reported(ctx, client, profile_pods):
    # A Training Operator job on a cluster without its CRD here: only its event tells.
    reconcile(ctx)
    worker = kubeflow_pods.training_worker("mnist-ddp-worker-0", profile_pods)
    worker.spec.tolerations = [Toleration(key=SPOT_LABEL, operator="Exists")]
    with pytest.raises(kubeflow_pods.PodDefaultConflictError) as denied:
        kubeflow_pods.admit(client, worker)
    owner = kubeflow_pods.eligible_job("mnist-ddp", profile_pods, [])
    event = kubeflow_pods.failed_create_event(owner, denied.value)
    event.involvedObject.kind, event.involvedObject.apiVersion = "PyTorchJob", "kubeflow.org/v1"
    event.reason = "FailedCreatePod"
    created = client.create(event)
    try:
        results = run_report(ctx, namespace=profile_pods, format="json")
    finally:
        client.delete(Event, created.metadata.name, namespace=profile_pods)

    (conflict,) = json.loads(results["report"])["conflicts"]
    assert conflict["workload"] == f"PyTorchJob {profile_pods}/mnist-ddp"
    assert (conflict["pod-default"], conflict["seen-in"]) == (
        "kubeflow-spot-training",
        "FailedCreatePod event",
    )
