"""`make bench-exporter`: the exporter on 10,000 pods, 500 nodes of a real API server, with churn.

The fleet of `make bench` (benchmarks/fleet.py: 200 profiles of 50 bound, running pods) is
created on a real etcd + kube-apiserver, then the real `python3 -m exporter` process starts
against it. Measured, and printed as a Markdown table:

- initial sync: from the process's start until its metrics count every pod;
- churn: pods created (and reported running), finished, evicted (Eviction API) and deleted, from
  16 threads; CPU seconds of the exporter (from /proc) per 1,000 watch events it applied;
- peak RSS of the exporter (VmHWM), against the 150 MB target;
- scrape latency (median of 20) and size of /metrics;
- steady-state API cost: the exporter's requests per minute over the whole run (audit log, its
  own User-Agent) against `report-placement` re-run every minute (one run's requests and CPU,
  the action in its own process as in `make bench`).

Nothing here fails on a time.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType
from prometheus_client.parser import text_string_to_metric_families

from benchmarks import fleet
from exporter.watch import USER_AGENT
from localcluster.audit import AuditLog
from localcluster.harness import ControlPlane
from localcluster.seed import SPOT_POOL, seed_aks_kubeflow

CHURN = {"created": 1000, "finished": 1000, "evicted": 500, "deleted": 1000}
SCRAPES = 20
IDLE_SECONDS = 60
SRC = Path(__file__).resolve().parents[1] / "src"
_TICKS = os.sysconf("SC_CLK_TCK")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def peak_rss_mib(pid: int) -> float:
    """Return a process's peak resident set size (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Scraper:
    """Reads the running exporter's metrics."""

    def __init__(self, url: str):
        self.url = url

    def text(self) -> tuple[str, float]:
        """Return the metrics text and the seconds the scrape took."""
        began = time.perf_counter()
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=30) as response:
            body = response.read().decode()
        return body, time.perf_counter() - began

    def counts(self) -> tuple[int, int]:
        """Return (pods the exporter counts, watch events it applied)."""
        try:
            body, _ = self.text()
        except OSError:
            return -1, -1
        families = {f.name: f.samples for f in text_string_to_metric_families(body)}
        pods = sum(int(s.value) for s in families.get("kubeflow_spot_pods", []))
        events = sum(int(s.value) for s in families.get("kubeflow_spot_watch_events", []))
        return pods, events

    def bookmarks(self) -> int:
        """Return the BOOKMARK events the exporter's watches have received."""
        body, _ = self.text()
        families = {f.name: f.samples for f in text_string_to_metric_families(body)}
        samples = families.get("kubeflow_spot_watch_events", [])
        return sum(int(s.value) for s in samples if s.labels.get("type") == "BOOKMARK")

    def wait_for(self, pods: int, timeout: float = 600) -> int:
        """Wait until the exporter counts `pods` and its events stop growing; return events."""
        deadline, last = time.monotonic() + timeout, (-1, -1)
        while time.monotonic() < deadline:
            now = self.counts()
            if now[0] == pods and now == last:
                return now[1]
            last = now
            time.sleep(1.0)
        raise RuntimeError(f"the exporter counts {last[0]} pods, not {pods}")


def _names() -> list[tuple[str, str]]:
    """Return the fleet's pods as (namespace, name), in creation order."""
    return [
        (pod["metadata"]["namespace"], pod["metadata"]["name"])
        for namespace in fleet.profile_names()
        for pod, _ in fleet._profile_pods(namespace, ["n"], ["n"])
    ]


def _finished_status() -> dict[str, Any]:
    at = "2026-12-01T10:00:00Z"
    terminated = {"exitCode": 0, "startedAt": "2026-12-01T09:00:00Z", "finishedAt": at}
    return {
        "status": {
            "phase": "Succeeded",
            "containerStatuses": [
                {"name": "main", "ready": False, "restartCount": 0, "image": "x", "imageID": "",
                 "state": {"terminated": terminated}}
            ],
        }
    }  # fmt: skip


def churn(connect: Callable[[], Client], made: fleet.Fleet) -> None:
    """Create, finish, evict and delete pods as a busy cluster does, from 16 threads."""
    spot = [fleet.node_name(SPOT_POOL, i) for i in range(1, 50)]
    new = [
        (
            fleet._pod("pipelines", made.profiles[i % len(made.profiles)], 1000 + i,
                       spot[i % len(spot)], True),
            fleet._running_status(fleet._STARTED),
        )
        for i in range(CHURN["created"])
    ]  # fmt: skip
    fleet._in_threads(fleet._create_pod, new, connect)
    existing = _names()
    finished = existing[: CHURN["finished"]]
    evicted = existing[CHURN["finished"] : CHURN["finished"] + CHURN["evicted"]]
    deleted = existing[-CHURN["deleted"] :]

    def finish(client: Client, pair: tuple[str, str]) -> None:
        status = _finished_status()
        client.patch(
            Pod.Status, pair[1], status, namespace=pair[0], patch_type=PatchType.STRATEGIC
        )

    def evict(client: Client, pair: tuple[str, str]) -> None:
        eviction = Pod.Eviction(metadata=ObjectMeta(name=pair[1], namespace=pair[0]))
        client.create(eviction, name=pair[1], namespace=pair[0])

    def delete(client: Client, pair: tuple[str, str]) -> None:
        client.delete(Pod, pair[1], namespace=pair[0], grace_period=0)

    fleet._in_threads(finish, finished, connect)
    fleet._in_threads(evict, evicted, connect)
    fleet._in_threads(delete, deleted, connect)


def report_once(plane: ControlPlane, audit: AuditLog) -> tuple[int, float, float]:
    """Run report-placement in its own process; return (requests, CPU seconds, peak RSS MiB)."""
    env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig_path), "PYTHONPATH": f"{SRC}:."}
    mark = audit.mark()
    argv = [sys.executable, "-m", "benchmarks.charm_process", "report-placement"]
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("report-placement failed")
    requests = len([r for r in audit.since(mark) if r.user_agent != USER_AGENT])
    return requests, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


class _Exporter:
    """The exporter process, started against the control plane."""

    def __init__(self, plane: ControlPlane):
        config = plane.work_dir / "exporter.json"
        config.write_text(json.dumps({"model-namespace": "kubeflow"}))
        port = _free_port()
        env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig_path), "PYTHONPATH": str(SRC)}
        argv = [sys.executable, "-m", "exporter", "--config", str(config), "--port", str(port)]
        self.log = (plane.work_dir / "exporter.log").open("wb")
        self.started = time.monotonic()
        self.process = subprocess.Popen(argv + ["--host", "127.0.0.1"], env=env, stderr=self.log)
        self.scraper = Scraper(f"http://127.0.0.1:{port}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


def _rows(figures: dict[str, Any]) -> list[str]:
    f = figures
    per_minute = f["report_requests"]
    return [
        "| figure | exporter | peer |",
        "| --- | --- | --- |",
        f"| initial sync ({f['pods']:,} pods, {f['nodes']} nodes) | {f['sync_s']:.1f} s,"
        f" {f['sync_cpu_s']:.1f} s CPU | report-placement once: {f['report_cpu_s']:.1f} s CPU |",
        f"| churn: {f['churn']} | {f['events']:,} events, {f['cpu_per_1000']:.2f} s CPU"
        f" per 1,000 events | — |",
        f"| peak RSS | {f['rss_mib']:.0f} MiB (target ≤ 150 MB) |"
        f" report-placement: {f['report_rss_mib']:.0f} MiB |",
        f"| idle CPU ({IDLE_SECONDS} s, a scrape every 15 s) | {f['idle_cpu_s']:.2f} s | — |",
        f"| scrape /metrics (median of {SCRAPES}) | {f['scrape_ms']:.0f} ms,"
        f" {f['scrape_kib']:.0f} KiB | — |",
        f"| API requests after the initial sync | {f['after_sync_requests']} in"
        f" {f['after_sync_min']:.1f} min (watches stay open; a re-WATCH per resource every"
        f" 290 s by design: 0.4/min; {f['bookmarks']} bookmarks received) |"
        f" report-placement every minute: {per_minute}/min"
        f" ({f['report_cpu_s']:.1f} s CPU/min) |",
        f"| API requests, whole run | {f['all_requests']} |"
        f" {per_minute} per report-placement run |",
    ]


def measure(plane: ControlPlane, made: fleet.Fleet, audit: AuditLog) -> dict[str, Any]:
    """Start the exporter, sync, churn, idle, scrape; return the figures."""
    mark = audit.mark()
    exporter = _Exporter(plane)
    pid, scraper = exporter.process.pid, exporter.scraper
    figures: dict[str, Any] = {"pods": made.pods, "nodes": made.nodes}
    try:
        scraper.wait_for(made.pods)
        figures["sync_s"] = time.monotonic() - exporter.started
        figures["sync_cpu_s"] = cpu_seconds(pid)
        synced = audit.mark()
        synced_at = time.monotonic()
        _say(f"synced in {figures['sync_s']:.1f} s; churning {CHURN} ...")
        events_before, cpu_before = scraper.counts()[1], cpu_seconds(pid)
        churn(plane.client, made)
        left = made.pods + CHURN["created"] - CHURN["finished"] - CHURN["deleted"]
        events = scraper.wait_for(left) - events_before
        figures["events"] = events
        figures["cpu_per_1000"] = (cpu_seconds(pid) - cpu_before) / events * 1000
        figures["churn"] = ", ".join(f"{n:,} {what}" for what, n in CHURN.items())
        _say(f"churn applied: {events} events; idling {IDLE_SECONDS} s ...")
        idle_before = cpu_seconds(pid)
        for _ in range(IDLE_SECONDS // 15):
            scraper.text()
            time.sleep(15)
        figures["idle_cpu_s"] = cpu_seconds(pid) - idle_before  # scrapes included
        scrapes = [scraper.text() for _ in range(SCRAPES)]
        figures["scrape_ms"] = sorted(t for _, t in scrapes)[SCRAPES // 2] * 1000
        figures["scrape_kib"] = len(scrapes[0][0].encode()) / 1024
        figures["rss_mib"] = peak_rss_mib(pid)
        figures["bookmarks"] = scraper.bookmarks()
        mine = [r for r in audit.since(mark) if r.user_agent == USER_AGENT]
        after = [r for r in audit.since(synced) if r.user_agent == USER_AGENT]
        figures["all_requests"] = _verbs(mine)
        figures["after_sync_requests"] = len(after)
        figures["after_sync_min"] = (time.monotonic() - synced_at) / 60
    finally:
        exporter.stop()
    return figures


def _verbs(requests: list[Any]) -> str:
    verbs = Counter(f"{r.verb} {r.resource}" for r in requests)
    return f"{len(requests)} (" + ", ".join(f"{n} {v}" for v, n in sorted(verbs.items())) + ")"


def main() -> int:
    """Build the fleet, measure the exporter and one report, print the table."""
    _say(f"setting up: {fleet.NODES} nodes, {fleet.PODS:,} pods (minutes on busy cores) ...")
    with ControlPlane(audit=True) as plane:
        assert plane.audit_log_path is not None
        audit = AuditLog(plane.audit_log_path)
        with plane.client(field_manager=fleet.FIELD_MANAGER) as client:
            seed_aks_kubeflow(client)
            made = fleet.populate(client, plane.client, existing_nodes=4)
        _say(f"fleet made in {made.seconds:.0f} s; starting the exporter ...")
        figures = measure(plane, made, audit)
        requests, cpu, rss = report_once(plane, audit)
        figures.update(report_requests=requests, report_cpu_s=cpu, report_rss_mib=rss)
    print("\n".join(_rows(figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
