"""How many API requests `report-placement` makes on a large cluster, counted at the HTTP seam.

A real lightkube client talks to a paginating stand-in for kube-apiserver (10,000 pods on 500
nodes would take minutes to create in the real one); the report must read them with one LIST
of nodes and one paginated LIST of pods, 500 objects a page, and no per-object GETs. The 1,000
Argo Workflows of those pods (what Argo recorded about each attempt) are one paginated LIST,
50 a page: 20 requests. Looking for toleration conflicts adds one LIST each of Jobs, Warning
events and the eight Kubeflow workload kinds (Training Operator v1, TrainJob, Experiment),
whose CRDs this cluster lacks.
"""

from __future__ import annotations

from charm import KubeflowSpotCharm
from localcluster.charm_context import charm_context
from localcluster.paged_apiserver import NODES, PODS, PODS_PER_WORKFLOW, serving
from placement.workflows import WORKFLOW_PAGE_SIZE
from tests.unit.shared import leader_state


def test_ten_thousand_pods_on_500_nodes_and_their_workflows_take_51_requests(monkeypatch):
    ctx = charm_context()
    with serving() as (api_server, client):
        monkeypatch.setattr(KubeflowSpotCharm, "lightkube_client", lambda self: client)
        ctx.run(ctx.on.action("report-placement", params={"format": "json"}), leader_state())

    results = ctx.action_results or {}
    assert (results["pods-total"], results["spot-nodes"], results["pods-on-spot"]) == (
        PODS,
        NODES // 2,
        PODS // 2,
    )
    node_pages = [r for r in api_server.requests if r.startswith("/api/v1/nodes")]
    pod_pages = [r for r in api_server.requests if r.startswith("/api/v1/pods")]
    job_pages = [r for r in api_server.requests if r.startswith("/apis/batch/v1/jobs")]
    event_pages = [r for r in api_server.requests if r.startswith("/api/v1/events")]
    kubeflow_kinds = [r for r in api_server.requests if r.startswith("/apis/") and "kubeflow" in r]
    workflow_pages = [r for r in api_server.requests if r.startswith("/apis/argoproj.io/")]
    assert (len(node_pages), len(pod_pages), len(job_pages), len(event_pages)) == (1, 20, 1, 1)
    assert len(kubeflow_kinds) == 8
    assert len(workflow_pages) == PODS // PODS_PER_WORKFLOW // WORKFLOW_PAGE_SIZE == 20
    assert len(api_server.requests) == 51
    assert all("limit=50&" in r or r.endswith("limit=50") for r in workflow_pages)
    others = set(api_server.requests) - set(workflow_pages)
    assert all("limit=500" in r for r in others)
    assert all("fieldSelector=type%3DWarning" in r for r in event_pages)


def test_without_argo_the_report_says_so_and_counts_from_pods(monkeypatch):
    """kube-apiserver answers a plain-text 404 for an API group it does not serve."""
    ctx = charm_context()
    with serving(workflows=False) as (api_server, client):
        monkeypatch.setattr(KubeflowSpotCharm, "lightkube_client", lambda self: client)
        ctx.run(ctx.on.action("report-placement"), leader_state())

    results = ctx.action_results or {}
    assert results["pods-total"] == PODS
    assert (
        "Note: Argo Workflows are not installed: evictions are counted from pods only"
        in (results["report"])
    )
    assert sum(r.startswith("/apis/argoproj.io/") for r in api_server.requests) == 1
