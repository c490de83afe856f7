"""A small kube-apiserver stand-in that serves paginated LISTs of many nodes and pods.

It answers the LIST requests `report-placement` makes (nodes, pods, the pods' Workflows),
page by page as kube-apiserver does
(`limit` and `continue`), builds the objects on the fly, and logs every request, so tests and
the benchmark can count requests at the HTTP seam with a real lightkube client.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from lightkube import Client, KubeConfig

PODS, NODES = 10_000, 500
SPOT = {
    "kubernetes.azure.com/scalesetpriority": "spot",
    "kubernetes.azure.com/agentpool": "spotpool",
}


def node(index: int) -> dict[str, Any]:
    """Return the index-th node: even ones are in the spot pool."""
    spot = index % 2 == 0
    labels = SPOT if spot else {"kubernetes.azure.com/agentpool": "agentpool"}
    pool = "spotpool" if spot else "agentpool"
    return {"metadata": {"name": f"aks-{pool}-31207962-vmss{index:06d}", "labels": labels}}


def pod(index: int) -> dict[str, Any]:
    """Return the index-th pod: a running pipeline step, ten to a workflow, 40 namespaces."""
    workflow = f"recommender-training-{index // 10:05d}"
    return {
        "metadata": {
            "name": f"{workflow}-system-container-impl-{index:010d}",
            "namespace": f"team-{index % 40:02d}",
            "labels": {"workflows.argoproj.io/workflow": workflow},
        },
        "spec": {"nodeName": node(index % NODES)["metadata"]["name"], "containers": []},
        "status": {"phase": "Running"},
    }


PODS_PER_WORKFLOW = 10


def workflow(index: int) -> dict[str, Any]:
    """Return the Workflow of pods index*10 to index*10+9: its steps, as Argo records them."""
    first = pod(index * PODS_PER_WORKFLOW)["metadata"]
    name = first["labels"]["workflows.argoproj.io/workflow"]
    nodes = {
        f"{name}-{step}": {
            "id": f"{name}-{step}",
            "name": f"{name}.root.step-{step}",
            "type": "Pod",
            "templateName": "system-container-impl",
            "phase": "Running",
            "inputs": {"parameters": [{"name": "pod-spec-patch", "value": "{}" * 200}]},
        }
        for step in range(PODS_PER_WORKFLOW)
    }
    return {
        "metadata": {"name": name, "namespace": first["namespace"]},
        "spec": {"templates": [{"name": "system-container-impl", "container": {"image": "x"}}]},
        "status": {"phase": "Running", "nodes": nodes},
    }


class FakeApiServer(ThreadingHTTPServer):
    """Serves LISTs of nodes and pods in pages, the way kube-apiserver does, and logs requests."""

    def __init__(self, pods: int, nodes: int, *, workflows: bool = True) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pods, self.nodes = pods, nodes
        self.workflows = workflows
        """Serve the pods' Argo Workflows; without, their API group is not served (404)."""
        self.requests: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    server: FakeApiServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.requests.append(self.path)
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        kinds = {
            "/api/v1/nodes": ("NodeList", node, NODES),
            "/api/v1/pods": ("PodList", pod, PODS),
            # Read for toleration conflicts: none here. Kubeflow's CRDs are not installed.
            "/apis/argoproj.io/v1alpha1/workflows": (
                "WorkflowList",
                workflow,
                self.server.pods // PODS_PER_WORKFLOW if self.server.workflows else -1,
            ),
            "/apis/batch/v1/jobs": ("JobList", node, 0),
            "/api/v1/events": ("EventList", node, 0),
        }
        if url.path not in kinds or kinds[url.path][2] < 0:
            # As kube-apiserver answers for an API group it does not serve: plain text.
            data = b"404 page not found\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        kind, build, total = kinds[url.path]
        start = int(query.get("continue", 0))
        end = min(total, start + int(query.get("limit", total)))
        body = {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": {"continue": str(end)} if end < total else {},
            "items": [build(i) for i in range(start, end)],
        }
        self._send(200, body)

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        """Keep the test output quiet."""


@contextmanager
def serving(
    pods: int = PODS, nodes: int = NODES, *, workflows: bool = True
) -> Iterator[tuple[FakeApiServer, Client]]:
    """Run the server in a thread; yield it and a lightkube client connected to it."""
    server = FakeApiServer(pods, nodes, workflows=workflows)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    config = KubeConfig.from_dict(
        {
            "clusters": [{"name": "fake", "cluster": {"server": url}}],
            "users": [{"name": "admin", "user": {"token": "fake"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "admin"}}],
            "current-context": "fake",
        }
    )
    try:
        yield server, Client(config=config, field_manager="test", trust_env=False)
    finally:
        server.shutdown()
        server.server_close()
