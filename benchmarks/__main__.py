"""`make bench`: the charm's report and reconcile on a real API server, side by side with kubectl.

A real etcd + kube-apiserver (+ scheduler) is filled with 10,000 bound, running pods in 200
profile namespaces on 500 nodes (benchmarks/fleet.py). Then each figure is measured in paired
runs, the charm and its peer one after the other, and the medians are printed with their ratio:

- `report-placement` (table, json) as a whole process against the kubectl commands that show the
  same, and inside its process against the floor: the same requests sent again, not decoded,
  from a fresh process of their own that imports its HTTP stack inside the time, as the report's
  handler does (benchmarks/floor.py);
- the first reconcile of 200 namespaces (401 server-side applies) and a no-op reconcile, against
  `kubectl apply --server-side` of the same manifests under the same field manager.

Requests are counted from the API server's audit log, peak RSS from each process's own rusage.
kubectl is built from the same Go module graph as the API server (`make kubectl`), and runs
with a warm discovery cache, as on an operator's machine. The charm's Juju model is simulated
with ops.testing (benchmarks/charm_process.py); `make bench-charm` runs the packed charm.
Nothing here fails on a time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import fleet, peers
from benchmarks.floor import Fetched, fetch_pages, first_requests
from benchmarks.measure import Run, median, run
from localcluster.audit import AuditLog, summary
from localcluster.harness import ControlPlane, ControlPlaneError, kubectl
from localcluster.seed import seed_aks_kubeflow


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Figure:
    """One line of the table: the charm's runs against the peer's, medians and their ratio."""

    what: str
    ours: str
    peer_name: str
    peer: str
    ratio: float

    def row(self) -> str:
        """Return the figure as a Markdown table row."""
        verdict = " (ahead)" if self.ratio < 0.995 else ""
        return (
            f"| {self.what} | {self.ours} | {self.peer_name}: {self.peer} |"
            f" {self.ratio:.2f}×{verdict} |"
        )


def _whole(runs: list[list[Run]]) -> tuple[float, float, list[Any]]:
    """Return median seconds, median peak RSS and one pass's requests of grouped runs.

    Each element of `runs` is one pass, which may be several processes (kubectl get pods, then
    get nodes): its time is their sum, its RSS the largest.
    """
    seconds = median([sum(r.seconds for r in one) for one in runs])
    rss = median([max(r.rss_mib for r in one) for one in runs])
    requests = [q for r in runs[-1] for q in r.requests]
    return seconds, rss, requests


class Bench:
    """The measurements, on one seeded control plane."""

    def __init__(self, plane: ControlPlane, runs: int, home: Path) -> None:
        assert plane.kubeconfig_path is not None
        assert plane.audit_log_path is not None
        self.plane = plane
        self.runs = runs
        self.kubeconfig = plane.kubeconfig_path
        self.audit = AuditLog(plane.audit_log_path)
        self.kubectl = str(kubectl())
        # Bytecode is cached, as on a unit after its first hook: without it every child would
        # compile its modules again (about 1 s here).
        inherited = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env = {
            **inherited,
            "KUBECONFIG": str(self.kubeconfig),
            "HOME": str(home),  # kubectl's discovery cache lives in $HOME/.kube/cache
            "PYTHONPATH": os.pathsep.join(["src", "."]),
        }
        self.manifests = home / "manifests.json"

    def charm(self, event: str, params: dict[str, str] | None = None) -> Run:
        """Run one event of the charm in its own process."""
        argv = [sys.executable, "-m", "benchmarks.charm_process", event]
        return run([*argv, json.dumps(params or {})], self.env, self.audit)

    def kubectl_run(self, *args: str) -> Run:
        """Run kubectl against the control plane."""
        return run([self.kubectl, *args], self.env, self.audit)

    @staticmethod
    def in_process(charm_run: Run) -> float:
        """Return the time the charm's process spent in the event itself."""
        return float(json.loads(charm_run.stdout)["seconds"])

    # Setup of the peers

    def warm_kubectl(self) -> None:
        """Fill kubectl's discovery cache, as any earlier command on an operator's machine has."""
        self.kubectl_run("api-resources", "-o", "name")

    def write_manifests(self) -> int:
        """Write what the charm applies for its default config, for kubectl to apply."""
        shown = self.charm("show-defaults", {"format": "json"})
        return peers.write_manifests(json.loads(shown.stdout)["results"], self.manifests)

    def reset(self) -> None:
        """Remove what the charm or kubectl applied."""
        with self.plane.client(field_manager=peers.MANAGER) as client:
            peers.reset(client)

    # Figures

    def report(self, fmt: str, peers: list[list[str]], peer_name: str) -> tuple[Figure, Run]:
        """Measure the report as a whole process against kubectl commands showing the same."""
        ours: list[list[Run]] = []
        theirs: list[list[Run]] = []
        for _ in range(self.runs):
            ours.append([self.charm("report-placement", {"format": fmt})])
            theirs.append([self.kubectl_run(*argv) for argv in peers])
        seconds, rss, requests = _whole(ours)
        peer_seconds, peer_rss, peer_requests = _whole(theirs)
        figure = Figure(
            f"`report-placement` {fmt}, whole process",
            f"{seconds:.2f} s, {len(requests)} requests, {rss:.0f} MiB peak RSS",
            peer_name,
            f"{peer_seconds:.2f} s, {len(peer_requests)} requests, {peer_rss:.0f} MiB",
            seconds / peer_seconds,
        )
        return figure, ours[-1][0]

    def floor(self, requests: list[tuple[str, dict[str, str]]]) -> Fetched:
        """Send the report's requests again, undecoded, from a process of their own."""
        argv = [sys.executable, "-m", "benchmarks.floor", str(self.kubeconfig)]
        fetched = run([*argv, json.dumps(requests)], self.env, self.audit)
        return Fetched(**json.loads(fetched.stdout))

    def report_floor(self, fmt: str) -> Figure:
        """Measure the report in its process against sending its requests, undecoded."""
        ours, floor, imported, fetched, requests = [], [], [], None, None
        for _ in range(self.runs):
            report = self.charm("report-placement", {"format": fmt})
            ours.append(self.in_process(report))
            requests = requests or first_requests(report.requests)
            fetched = self.floor(requests)
            floor.append(fetched.seconds)
            # Also from this process, lightkube imported already: shown, not the ratio's base.
            imported.append(fetch_pages(self.kubeconfig, requests).seconds)
        assert fetched is not None
        return Figure(
            f"`report-placement` {fmt} in its process vs the floor",
            f"{median(ours):.2f} s, {len(report.requests)} requests",
            f"the same {fetched.requests} requests sent, not decoded ({fetched.megabytes:.0f} MB),"
            " from a fresh process",
            f"{median(floor):.2f} s ({median(imported):.2f} s with lightkube imported already:"
            f" {median(ours) / median(imported):.2f}×)",
            median(ours) / median(floor),
        )

    def reconcile(self) -> tuple[Figure, Figure]:
        """First and no-op reconciles of 200 namespaces against kubectl apply of the same."""
        apply = peers.kubectl_apply(self.manifests)
        first, noop, peer_first, peer_again = [], [], [], []
        for _ in range(self.runs):
            self.reset()
            first.append(self.charm("config-changed"))
            noop.append(self.charm("config-changed"))
            self.reset()
            peer_first.append(self.kubectl_run(*apply))
            peer_again.append(self.kubectl_run(*apply))
        status = json.loads(first[-1].stdout)["results"]["status"]
        _say(f"  reconcile status: {status}")

        def figure(what: str, ours: list[Run], theirs: list[Run], peer_name: str) -> Figure:
            inside = median([self.in_process(r) for r in ours])
            whole = median([r.seconds for r in ours])
            peer = median([r.seconds for r in theirs])
            writes = [q for q in ours[-1].requests if q.is_write]
            peer_writes = [q for q in theirs[-1].requests if q.is_write]
            return Figure(
                what,
                f"{inside:.2f} s in its process ({whole:.2f} s whole),"
                f" requests {summary(ours[-1].requests)}, {len(writes)} writes",
                peer_name,
                f"{peer:.2f} s, requests {summary(theirs[-1].requests)},"
                f" {len(peer_writes)} writes",
                inside / peer,
            )

        return (
            figure(
                "first reconcile, 200 namespaces",
                first,
                peer_first,
                "`kubectl apply --server-side` of the same manifests",
            ),
            figure("no-op reconcile", noop, peer_again, "kubectl apply again"),
        )


def _timed(label: str, work: Callable[[], Any]) -> Any:
    _say(f"measuring {label} ...")
    began = time.monotonic()
    result = work()
    _say(f"  done in {time.monotonic() - began:.0f} s")
    return result


def main(argv: list[str] | None = None) -> int:
    """Set up, measure, print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="paired runs per figure (median)")
    args = parser.parse_args(argv)
    try:
        kubectl()
        with tempfile.TemporaryDirectory(prefix="kubeflow-spot-bench-") as home:
            return _bench(args.runs, Path(home))
    except ControlPlaneError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _bench(runs: int, home: Path) -> int:
    _say(
        f"setting up: a control plane, {fleet.NODES} nodes, {fleet.PROFILES} profiles,"
        f" {fleet.PODS:,} pods ({fleet.THREADS} threads; it took 4 minutes on 2 busy cores) ..."
    )
    with ControlPlane(audit=True) as plane:
        with plane.client(field_manager=fleet.FIELD_MANAGER) as client:
            seed_aks_kubeflow(client)
            made = fleet.populate(client, plane.client, existing_nodes=4)
        bench = Bench(plane, runs, home)
        bench.warm_kubectl()
        applies = bench.write_manifests()  # also compiles the charm's bytecode
        print(
            f"kubeflow-spot bench: {made.pods:,} pods in {len(made.profiles)} namespaces on"
            f" {made.nodes} nodes (set up in {made.seconds:.0f} s); {applies} manifests to"
            f" apply; kubectl {bench.kubectl}; medians of {runs} paired runs; {os.cpu_count()}"
            " cores"
        )
        figures: list[Figure] = []
        wide = [["get", "pods", "-A", "-o", "wide"], ["get", "nodes", "-o", "wide"]]
        table, _ = _timed(
            "report table",
            lambda: bench.report(
                "table", wide, "`kubectl get pods -A -o wide` + `get nodes -o wide`"
            ),
        )
        figures.append(table)
        as_json = [["get", "pods", "-A", "-o", "json"]]
        document, last = _timed(
            "report json", lambda: bench.report("json", as_json, "`kubectl get pods -A -o json`")
        )
        figures.append(document)
        figures.append(_timed("report vs floor", lambda: bench.report_floor("table")))
        figures.extend(_timed("reconcile", bench.reconcile))
    print()
    print("| what | kubeflow-spot | peer | ratio |")
    print("| --- | --- | --- | --- |")
    for figure in figures:
        print(figure.row())
    results = json.loads(last.stdout)["results"]
    print(
        f"\nreport json: {results.get('report-parts', '1')} part(s),"
        f" {sum(len(v) for v in results.values()) / 1024:.0f} KiB of results"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
