"""The `report-placement` action through ops.testing, the cluster behind the lightkube seam."""

from __future__ import annotations

import json

import httpx2
import pytest
from ops import testing

from tests.unit.aks_cluster import REPORTED_COUNTS, manifests
from tests.unit.fake_k8s import FakeCluster
from tests.unit.shared import leader_state


@pytest.fixture
def aks(cluster: FakeCluster) -> FakeCluster:
    """Return the Charmed Kubeflow cluster with the AKS fixture's nodes and pods in it."""
    for node in manifests()["nodes"]:
        cluster.add("Node", node)
    for pod in manifests()["pods"]:
        cluster.add("Pod", pod)
    for workflow in manifests()["workflows"]:
        cluster.add("Workflow", workflow)
    return cluster


def run_report(ctx: testing.Context, **params: object) -> dict[str, object]:
    ctx.run(ctx.on.action("report-placement", params=params), leader_state())
    return ctx.action_results or {}


def test_the_table_report_counts_and_names_what_needs_action(ctx, aks):
    results = run_report(ctx)
    assert {key: results[key] for key in REPORTED_COUNTS} == REPORTED_COUNTS
    assert results["summary"].startswith("CLASS")
    assert "at-risk  admin/lab-0 (notebooks)" in results["report"]
    assert results["report-parts"] == 1


def test_the_report_only_reads(ctx, aks):
    run_report(ctx, format="json", **{"include-finished": True})
    assert aks.writes == []


def test_one_namespace(ctx, aks):
    report = json.loads(run_report(ctx, namespace="data-science", format="json")["report"])
    assert list(report["pods"]) == ["data-science"]


def test_the_selector_narrows_the_pods(ctx, aks):
    results = run_report(ctx, selector="notebook-name", format="json")
    report = json.loads(results["report"])
    assert (results["pods-total"], list(report["pods"]["admin"])) == (
        1,
        ["aks-spotpool-42316583-vmss000001"],
    )


def test_finished_pods_and_the_discount_are_params(ctx, aks):
    results = run_report(ctx, **{"include-finished": True, "spot-discount": 0.9})
    assert results["pods-total"] == 13
    assert "spot-discount 0.9" in results["report"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"namespace": "Not_A_Namespace"}, "namespace='Not_A_Namespace' is invalid"),
        ({"selector": "tier in (a"}, "selector='tier in (a' is invalid"),
        ({"format": "csv"}, "format='csv' is invalid: one of table, json, yaml"),
        ({"spot-discount": 1.2}, "spot-discount=1.2 is invalid: a number from 0 to 1"),
    ],
)
def test_invalid_params_fail_before_any_api_call(ctx, aks, params, message):
    with pytest.raises(testing.ActionFailed, match=message.replace("(", r"\(")):
        run_report(ctx, **params)
    assert aks.requests == 0


def test_a_namespace_that_does_not_exist_fails(ctx, aks):
    with pytest.raises(testing.ActionFailed, match="namespace 'nobody' does not exist"):
        run_report(ctx, namespace="nobody")


def test_forbidden_fails_with_the_trust_hint(ctx, aks):
    aks.fail[("list", "Pod")] = 403
    with pytest.raises(
        testing.ActionFailed, match="run: juju trust kubeflow-spot --scope=cluster"
    ):
        run_report(ctx)


def test_an_unreachable_api_fails_with_the_reason(ctx, aks, monkeypatch):
    def refuse(*args: object, **kwargs: object) -> None:
        raise httpx2.ConnectError("connection refused")

    monkeypatch.setattr(aks, "list", refuse)
    with pytest.raises(
        testing.ActionFailed, match="Kubernetes API unreachable: connection refused"
    ):
        run_report(ctx)


def test_invalid_config_fails_the_report(ctx, aks):
    state = leader_state(**{"spot-profile": "azure"})
    with pytest.raises(testing.ActionFailed, match="invalid config: spot-profile='azure'"):
        ctx.run(ctx.on.action("report-placement"), state)
    assert aks.requests == 0
