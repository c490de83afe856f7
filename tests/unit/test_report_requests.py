"""How many API requests `report-placement` makes on a large cluster, counted at the HTTP seam.

A real lightkube client talks to a paginating stand-in for kube-apiserver (10,000 pods on 500
nodes would take minutes to create in the real one); the report must read them with one LIST
of nodes and one paginated LIST of pods, 500 objects a page, and no per-object GETs. Looking
for toleration conflicts adds one LIST each of Jobs, Warning events and the eight Kubeflow
workload kinds (Training Operator v1, TrainJob, Experiment), whose CRDs this cluster lacks.
"""

from __future__ import annotations

from charm import KubeflowSpotCharm
from localcluster.charm_context import charm_context
from localcluster.paged_apiserver import NODES, PODS, serving
from tests.unit.shared import leader_state


def test_ten_thousand_pods_on_500_nodes_take_31_requests(monkeypatch):
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
    assert (len(node_pages), len(pod_pages), len(job_pages), len(event_pages)) == (1, 20, 1, 1)
    assert len(kubeflow_kinds) == 8
    assert len(api_server.requests) == 31
    assert all("limit=500" in r for r in api_server.requests)
    assert all("fieldSelector=type%3DWarning" in r for r in event_pages)
