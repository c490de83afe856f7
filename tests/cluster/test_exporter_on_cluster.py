"""The exporter process on the real API server: its metrics are report-placement's counts.

The real `python3 -m exporter` watches a control plane of its own (it is restarted here); the
action runs through ops.testing against the same API server. After each change, pods created,
evicted (the Eviction API, and a DisruptionTarget status as the taint manager writes it),
deleted, a config change and an API server restart, the exported counts must equal the
report's; the audit log counts the exporter's requests (its own User-Agent).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.core_v1 import Toleration
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Node, Pod
from ops import testing
from prometheus_client.parser import text_string_to_metric_families

from charm import KubeflowSpotCharm
from exporter.live import WatchedNode
from exporter.watch import (
    USER_AGENT,
    Backoff,
    ResourceWatch,
    connect,
    run_in_thread,
    warm_decoders,
)
from localcluster import kubeflow_pods
from localcluster.audit import AuditLog, Request
from localcluster.charm_context import CHARM_ROOT, charm_context
from localcluster.harness import ControlPlane
from localcluster.seed import (
    KUBEFLOW_NAMESPACE,
    PROFILE_NAMESPACE,
    SPOT_LABEL,
    decided,
    delete_pods,
    seed_aks_kubeflow,
    wait_until_decided,
)

COUNTS = (
    "pods-total",
    "pods-on-spot",
    "missed",
    "at-risk",
    "stuck",
    "evictions",
    "spot-nodes",
    "on-demand-nodes",
    "evicting-nodes",
)
CATCH_UP_SECONDS = 30.0
SPOT_TOLERATION = Toleration(key=SPOT_LABEL, operator="Equal", value="spot", effect="NoSchedule")


@dataclass
class Exporter:
    url: str
    process: subprocess.Popen[bytes]
    config: Path
    log: Path

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    """Yield a control plane of this module's own: the test restarts its API server."""
    with ControlPlane(audit=True) as control_plane:
        with control_plane.client(field_manager="kubeflow-spot-tests") as client:
            seed_aks_kubeflow(client)
        yield control_plane


@pytest.fixture(scope="module")
def admin(plane: ControlPlane) -> Iterator[Client]:
    with plane.client(field_manager="kubeflow-spot-tests") as client:
        yield client


@pytest.fixture(scope="module")
def exporter(plane: ControlPlane) -> Iterator[Exporter]:
    config = plane.work_dir / "exporter.json"
    config.write_text(json.dumps({"model-namespace": KUBEFLOW_NAMESPACE}))
    port = _free_port()
    env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig_path), "PYTHONPATH": "src"}
    env["PYTHONFAULTHANDLER"] = "1"  # a crash shows where, in the log
    argv = [sys.executable, "-m", "exporter", "--config", str(config), "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--config-poll", "0.5"]
    log_path = plane.work_dir / "exporter.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, cwd=CHARM_ROOT, env=env, stdout=log, stderr=log)
    running = Exporter(f"http://127.0.0.1:{port}", process, config, log_path)
    try:
        _wait_healthy(running)
        yield running
    finally:
        process.terminate()
        process.wait(10)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, str(error)


def _wait_healthy(exporter: Exporter) -> None:
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while (status := _get(f"{exporter.url}/healthz"))[0] != 200:
        assert exporter.process.poll() is None, f"the exporter exited:\n{exporter.log_tail()}"
        assert time.monotonic() < deadline, f"/healthz never answered 200: {status}"
        time.sleep(0.2)


def scrape(exporter: Exporter) -> dict[str, list[Any]]:
    status, text = _get(f"{exporter.url}/metrics")
    assert status == 200, text
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def exported(exporter: Exporter) -> dict[str, object]:
    """Work out report-placement's counts from the exporter's metrics alone."""
    families = scrape(exporter)
    verdicts: Counter[str] = Counter()
    for sample in families["kubeflow_spot_pods"]:
        verdicts[sample.labels["verdict"]] += int(sample.value)
    nodes: Counter[str] = Counter()
    for sample in families["kubeflow_spot_nodes"]:
        nodes[sample.labels["capacity"]] += int(sample.value)
        nodes[sample.labels["state"]] += int(sample.value)
    return {
        "pods-total": sum(verdicts.values()),
        "pods-on-spot": verdicts["on-spot"] + verdicts["at-risk"],
        "missed": verdicts["missed"],
        "at-risk": verdicts["at-risk"],
        "stuck": verdicts["stuck"],
        "evictions": int(sum(s.value for s in families["kubeflow_spot_evicted_pods"])),
        "spot-nodes": nodes["spot"],
        "on-demand-nodes": nodes["on-demand"],
        "evicting-nodes": nodes["evicting"],
    }


def reported(client: Client, config: dict[str, object] | None = None) -> dict[str, object]:
    """Run report-placement (default params) against the same API server; return its counts."""
    ctx = charm_context()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(KubeflowSpotCharm, "lightkube_client", lambda self: client)
        state = testing.State(
            leader=True, config=config or {}, model=testing.Model(name=KUBEFLOW_NAMESPACE)
        )
        ctx.run(ctx.on.action("report-placement"), state)
    results = dict(ctx.action_results or {})
    return {key: results[key] for key in COUNTS}


def assert_exports_the_report(
    exporter: Exporter, client: Client, config: dict[str, object] | None = None
) -> dict[str, object]:
    """Wait for the exporter to catch up with the report, then assert they are equal."""
    report = reported(client, config)
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while (metrics := exported(exporter)) != report and time.monotonic() < deadline:
        time.sleep(0.2)
    assert metrics == report
    return report


def evictions_total(exporter: Exporter) -> int:
    return int(sum(s.value for s in scrape(exporter)["kubeflow_spot_evictions"]))


def exporter_requests(audit: AuditLog, mark: int) -> Counter[str]:
    requests: list[Request] = audit.since(mark)
    return Counter(f"{r.verb} {r.resource}" for r in requests if r.user_agent == USER_AGENT)


def _create(client: Client, pods: list[Pod]) -> list[str]:
    for pod in pods:
        client.create(pod)
    names = [str(pod.metadata.name) for pod in pods if pod.metadata]
    placed = wait_until_decided(client, PROFILE_NAMESPACE, names, CATCH_UP_SECONDS)
    assert all(map(decided, placed.values())), "the scheduler left a pod undecided"
    return names


def on_spot(pod: Pod) -> Pod:
    assert pod.spec is not None
    pod.spec.tolerations = [SPOT_TOLERATION]
    pod.spec.nodeSelector = {SPOT_LABEL: "spot"}
    return pod


def requiring_spot(pod: Pod) -> Pod:
    assert pod.spec is not None
    pod.spec.nodeSelector = {SPOT_LABEL: "spot"}  # and no toleration: stuck
    return pod


def first_pods() -> list[Pod]:
    ns = PROFILE_NAMESPACE
    return [
        on_spot(kubeflow_pods.notebook("lab-0", ns)),
        on_spot(kubeflow_pods.katib_trial("tune-lr-trial-4fxk2", ns)),
        kubeflow_pods.training_worker("mnist-ddp-worker-0", ns),
        requiring_spot(kubeflow_pods.katib_trial("tune-lr-trial-stuck", ns)),
        kubeflow_pods.kserve_predictor("sklearn-iris-predictor-7d9f", ns),
    ]


def test_exported_counts_equal_the_report_through_adds_evictions_and_deletes(
    plane, admin, exporter
):
    audit = AuditLog(plane.audit_log_path)
    seeded = assert_exports_the_report(exporter, admin)
    mark = audit.mark()
    _create(admin, first_pods())
    added = assert_exports_the_report(exporter, admin)
    _create(
        admin, [on_spot(kubeflow_pods.training_worker("mnist-ddp-worker-1", PROFILE_NAMESPACE))]
    )
    more = assert_exports_the_report(exporter, admin)

    admin.create(
        Pod.Eviction(metadata=ObjectMeta(name="tune-lr-trial-4fxk2", namespace=PROFILE_NAMESPACE)),
        name="tune-lr-trial-4fxk2",
        namespace=PROFILE_NAMESPACE,
    )
    disrupted = {
        "conditions": [
            {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager"}
        ],
        "phase": "Failed",
    }
    admin.patch(
        Pod.Status, "mnist-ddp-worker-1", {"status": disrupted}, namespace=PROFILE_NAMESPACE
    )
    evicted = assert_exports_the_report(exporter, admin)
    counted = evictions_total(exporter)
    delete_pods(admin, PROFILE_NAMESPACE)
    deleted = assert_exports_the_report(exporter, admin)

    assert (seeded["pods-total"], added["pods-total"], more["pods-total"]) == (0, 5, 6)
    assert (added["at-risk"], added["stuck"], added["missed"]) == (1, 1, 1)
    assert (evicted["evictions"], counted) == (2, 2)
    assert (deleted["pods-total"], deleted["evictions"]) == (0, 0)
    assert evictions_total(exporter) == 2  # the counter keeps the evictions of deleted pods
    # All of it from the two watches opened at start: no LIST, no other request.
    assert exporter_requests(audit, mark) == Counter()


def test_a_config_file_change_reaches_the_running_exporter(plane, admin, exporter):
    _create(admin, [kubeflow_pods.training_worker("mnist-ddp-worker-0", PROFILE_NAMESPACE)])
    try:
        before = assert_exports_the_report(exporter, admin)
        audit = AuditLog(plane.audit_log_path)
        mark = audit.mark()
        replacement = exporter.config.with_suffix(".new")
        options = {"spot-workloads": "pipelines", "retry-limit": 2}
        replacement.write_text(json.dumps({**options, "model-namespace": KUBEFLOW_NAMESPACE}))
        os.replace(replacement, exporter.config)
        after = assert_exports_the_report(exporter, admin, options)
        info = scrape(exporter)["kubeflow_spot_config_info"][0].labels
    finally:
        exporter.config.write_text(json.dumps({"model-namespace": KUBEFLOW_NAMESPACE}))
        delete_pods(admin, PROFILE_NAMESPACE)

    assert (before["missed"], after["missed"]) == (1, 0)  # training is no longer eligible
    assert (info["eligible_classes"], info["retry_limit"]) == ("pipelines", "2")
    assert exporter.process.poll() is None  # the same process: no restart
    assert exporter_requests(audit, mark) == Counter()  # judged again from what it holds


ArgoWorkflow = create_namespaced_resource("argoproj.io", "v1alpha1", "Workflow", "workflows")


def evicted_workflow(name: str) -> Any:
    """Return a Workflow whose status records an attempt taken away ("pod deleted"), pod gone.

    The status is written as the workflow-controller would (no controller runs here: the CRD
    seed_aks_kubeflow installs, from Argo's module, keeps status as given on create).
    """
    nodes = {
        name: {"id": name, "name": name, "type": "Retry", "phase": "Running", "children": ["a1"]},
        "a1": {
            "id": "a1",
            "name": f"{name}(0)",
            "type": "Pod",
            "templateName": "main",
            "phase": "Failed",
            "message": "pod deleted",
        },
    }
    return ArgoWorkflow(
        metadata=ObjectMeta(name=name, namespace=PROFILE_NAMESPACE),
        spec={"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "x"}}]},
        status={"phase": "Running", "nodes": nodes},
    )


def create_once_served(client: Client, workflow: Any) -> None:
    """Create the Workflow, waiting out the restarted API server's 503 and 429 for its CRD."""
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while True:
        try:
            client.create(workflow)
            return
        except ApiError as error:
            if error.status.code not in (429, 503) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_exported_counts_equal_the_report_after_the_api_server_restarts(plane, admin, exporter):
    _create(admin, first_pods()[:2])
    assert_exports_the_report(exporter, admin)
    audit = AuditLog(plane.audit_log_path)
    mark = audit.mark()

    plane.restart_apiserver()
    admin.delete(Pod, "lab-0", namespace=PROFILE_NAMESPACE, grace_period=0)
    _create(admin, [kubeflow_pods.notebook("lab2-0", PROFILE_NAMESPACE)])
    after = assert_exports_the_report(exporter, admin)
    # The Workflow watch comes back seconds after the pods' (its CRD's paths and storage are
    # set up last: 503, then 429, then backoff); a Workflow counted shows it is watching again.
    # Without this its 410 and LIST were seen in the next test's window.
    create_once_served(admin, evicted_workflow("iris-after-restart"))
    with_workflow = assert_exports_the_report(exporter, admin)
    admin.delete(ArgoWorkflow, "iris-after-restart", namespace=PROFILE_NAMESPACE)
    assert_exports_the_report(exporter, admin)
    _wait_healthy(exporter)
    requests = exporter_requests(audit, mark)
    delete_pods(admin, PROFILE_NAMESPACE)

    assert (after["pods-total"], after["at-risk"]) == (2, 0)
    assert with_workflow["evictions"] == 1
    # The restarted API server builds its watch cache from etcd's revision at its start, later
    # than the exporter's last resourceVersion (it writes on start-up itself, and a pod went and
    # came meanwhile): the WATCH from it is answered 410 Gone (seen here, "too old resource
    # version"), so the exporter LISTs once per resource and watches on from that LIST. The
    # Workflow watch, with no Workflow written, was seen to WATCH again from its version
    # without a LIST (a LIST after a 410 would be as right: at most one).
    lists = Counter({key: n for key, n in requests.items() if key.startswith("list")})
    assert lists - Counter({"list workflows": 1}) == Counter({"list nodes": 1, "list pods": 1})
    assert set(requests) <= {
        *("list nodes", "list pods", "list workflows"),
        *("watch nodes", "watch pods", "watch workflows"),
    }


def test_an_eviction_argo_recorded_is_exported_as_the_report_counts_it(plane, admin, exporter):
    audit = AuditLog(plane.audit_log_path)
    before = evictions_total(exporter)
    mark = audit.mark()
    admin.create(evicted_workflow("iris-evicted"))
    recorded = assert_exports_the_report(exporter, admin)
    signals = {s.labels["signal"] for s in scrape(exporter)["kubeflow_spot_evicted_pods"]}
    admin.delete(ArgoWorkflow, "iris-evicted", namespace=PROFILE_NAMESPACE)
    deleted = assert_exports_the_report(exporter, admin)
    requests = exporter_requests(audit, mark)

    assert (recorded["evictions"], signals) == (1, {"ArgoPodDeleted"})
    assert deleted["evictions"] == 0
    assert evictions_total(exporter) == before + 1  # counted once, kept after the delete
    assert up(exporter, "workflows") == 1
    assert requests == Counter()  # from the Workflow watch opened at start


def up(exporter: Exporter, resource: str) -> float:
    samples = scrape(exporter)["kubeflow_spot_watch_up"]
    return next(s.value for s in samples if s.labels["resource"] == resource)


class RecordingSink:
    """A watch sink that keeps what it was given."""

    def __init__(self) -> None:
        self.lists = 0
        self.events: list[tuple[str, str]] = []
        self.problems: list[str] = []

    def listed(self, objects: Iterable[Any]) -> None:
        for _ in objects:  # a LIST is fetched page by page as it is read
            pass
        self.lists += 1

    def changed(self, kind: str, obj: Any) -> None:
        self.events.append((kind, obj.metadata.name))

    def status(self, *, synced: bool, event: str = "", problem: str = "") -> None:
        if problem:
            self.problems.append(problem)


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_silent_watch_is_made_again_from_its_last_version(plane, admin, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(plane.kubeconfig_path))
    warm_decoders(WatchedNode)
    sink, stop = RecordingSink(), threading.Event()
    watch = ResourceWatch(
        connect, WatchedNode, sink, stop=stop, read_timeout=1.0, backoff=Backoff(first=0.1)
    )
    thread = run_in_thread(watch, "watch-nodes-test")
    _until(lambda: sink.lists == 1, "the watch never listed")
    audit = AuditLog(plane.audit_log_path)
    mark = audit.mark()
    try:
        with plane.paused():  # a hung API server: connections open, nothing answers
            _until(lambda: any("ReadTimeout" in p for p in sink.problems), "no read timeout")
        node = next(iter(admin.list(Node))).metadata.name
        admin.patch(Node, node, {"metadata": {"labels": {"kubeflow-spot-test/touched": "1"}}})
        _until(lambda: ("MODIFIED", node) in sink.events, "the change after the hang never came")
    finally:
        stop.set()
        thread.join(10)

    # Resumed from its last resourceVersion: the change came as an event, without a LIST.
    assert (watch.lists, sink.lists) == (1, 1)
    assert "list nodes" not in exporter_requests(audit, mark)
