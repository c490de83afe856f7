"""`make bench-charm`: the packed charm's own dispatch, side by side with its peers.

The charm is unpacked and run by `dispatch` on CPython 3.12 under the stand-in hook tools of
pack/unit.py, each hook tool call recorded. Measured, medians of paired runs:

- a non-leader no-op `update-status` (ops starts, reads leadership and config, says again the
  standby status it keeps for that config, never calls the API) against
  `python3.12 -c 'import ops'` on the charm's own venv, the least any hook of an ops charm can
  cost;
- on a real API server with 200 profile namespaces: a leader's first `config-changed` (401
  server-side applies) and then a no-op `update-status`, against `kubectl apply --server-side`
  of the same manifests and that apply again, with the `juju-log` and other hook tool calls
  (under a real Juju each is a round trip to the unit agent) and the API writes counted.

The first run after unpacking compiles the bytecode, as a unit's first hook does; it is left out.
Nothing here fails on a time.

Usage: python -m benchmarks.dispatch [--runs 5] [kubeflow-spot_amd64.charm]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import fleet, peers
from benchmarks.measure import run
from localcluster.audit import AuditLog, Request
from localcluster.harness import ControlPlane, kubectl
from localcluster.seed import KUBEFLOW_NAMESPACE, seed_aks_kubeflow
from pack.build_charm import ROOT
from pack.unit import Dispatch, Unit, find_python312, unpack


def _row(what: str, ours: str, peer: str, ratio: float) -> str:
    verdict = " (ahead)" if ratio < 0.995 else ""
    return f"| {what} | {ours} | {peer} | {ratio:.2f}×{verdict} |"


def _timed(work: Callable[[], Dispatch]) -> tuple[float, Dispatch]:
    began = time.perf_counter()
    result = work()
    elapsed = time.perf_counter() - began
    if result.returncode != 0:
        raise RuntimeError(f"dispatch failed:\n{result.output}")
    return elapsed, result


def _calls(result: Dispatch) -> str:
    return f"{len(result.tool_calls('juju-log'))} `juju-log`, {len(result.calls)} hook tool calls"


def import_ops(unit: Unit) -> float:
    """Time `python3.12 -c 'import ops'` with the charm's venv on the path, as dispatch sets it."""
    began = time.perf_counter()
    subprocess.run(
        [str(unit.python), "-c", "import ops"],
        cwd=unit.charm_dir,
        env={"PYTHONPATH": "lib:venv", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        check=True,
    )
    return time.perf_counter() - began


def non_leader_noop(charm_dir: Path, python: Path, runs: int) -> str:
    """Measure the standby no-op against importing ops alone.

    Each takes about 0.5 s and pairs differ by up to 0.7× on a shared 2-core machine, so this
    takes three times the runs, alternates which goes first, and shows the paired ratios'
    quartiles beside the ratio of the medians.
    """
    unit = Unit(charm_dir, python, leader=False)
    first, _ = _timed(lambda: unit.dispatch("update-status"))
    dispatches, imports, last = [], [], None
    for index in range(3 * runs):
        if index % 2:
            imports.append(import_ops(unit))
        seconds, last = _timed(lambda: unit.dispatch("update-status"))
        dispatches.append(seconds)
        if not index % 2:
            imports.append(import_ops(unit))
    assert last is not None
    ours, floor = statistics.median(dispatches), statistics.median(imports)
    ratios = [d / i for d, i in zip(dispatches, imports, strict=True)]
    low, _, high = statistics.quantiles(ratios, n=4)
    return _row(
        "non-leader no-op `update-status`",
        f"{ours:.3f} s ({_calls(last)}; first run {first:.2f} s;"
        f" paired ratios' quartiles {low:.2f}–{high:.2f}, {3 * runs} pairs)",
        f"`{python.name} -c 'import ops'` on the charm's venv: {floor:.3f} s",
        ours / floor,
    )


def _writes(requests: list[Request]) -> int:
    return sum(r.is_write for r in requests)


def _counted(unit: Unit, event: str, audit: AuditLog) -> tuple[float, Dispatch, list[Request]]:
    mark = audit.mark()
    seconds, result = _timed(lambda: unit.dispatch(event, timeout=600))
    return seconds, result, audit.since(mark)


def on_cluster(charm_dir: Path, python: Path, runs: int, home: Path) -> list[str]:
    """Measure a leader's first and no-op reconciles against kubectl apply, 200 profiles."""
    with ControlPlane(audit=True) as plane:
        assert plane.kubeconfig_path is not None
        assert plane.audit_log_path is not None
        audit = AuditLog(plane.audit_log_path)
        with plane.client(field_manager=fleet.FIELD_MANAGER) as client:
            seed_aks_kubeflow(client)
            fleet.create_profiles(client)
        unit = Unit(charm_dir, python, model=KUBEFLOW_NAMESPACE, kubeconfig=plane.kubeconfig_path)
        shown = unit.dispatch("show-defaults", action_params={"format": "json"})
        manifests = home / "manifests.json"
        peers.write_manifests(shown.action_results, manifests)
        env = {
            "KUBECONFIG": str(plane.kubeconfig_path),
            "HOME": str(home),
            "PATH": "/usr/bin:/bin",
        }
        apply = [str(kubectl()), *peers.kubectl_apply(manifests)]
        run([str(kubectl()), "api-resources", "-o", "name"], env, audit)  # discovery cache
        first, noop, peer_first, peer_again = [], [], [], []
        for _ in range(runs):
            with plane.client() as client:
                peers.reset(client)
            first.append(_counted(unit, "config-changed", audit))
            noop.append(_counted(unit, "update-status", audit))
            with plane.client() as client:
                peers.reset(client)
            peer_first.append(run(apply, env, audit))
            peer_again.append(run(apply, env, audit))
        rows = []
        for what, ours, theirs, peer_name in (
            (
                "leader `config-changed`, 200 namespaces",
                first,
                peer_first,
                "`kubectl apply --server-side`",
            ),
            ("leader no-op `update-status`", noop, peer_again, "kubectl apply again"),
        ):
            seconds = statistics.median(s for s, _, _ in ours)
            _, last, requests = ours[-1]
            peer_seconds = statistics.median(r.seconds for r in theirs)
            state = last.status[0] if last.status else "no status"
            rows.append(
                _row(
                    what,
                    f"{seconds:.2f} s, {_calls(last)}, {len(requests)} requests,"
                    f" {_writes(requests)} writes, {state}",
                    f"{peer_name}: {peer_seconds:.2f} s, {len(theirs[-1].requests)} requests,"
                    f" {_writes(theirs[-1].requests)} writes",
                    seconds / peer_seconds,
                )
            )
        return rows


def main(argv: list[str] | None = None) -> int:
    """Measure and print; exit 1 when there is no CPython 3.12 to run the charm on."""
    parser = argparse.ArgumentParser(description="time the packed charm's dispatch")
    parser.add_argument("charm", type=Path, nargs="?", default=ROOT / "kubeflow-spot_amd64.charm")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    python = find_python312()
    if python is None:
        print("bench-charm: no CPython 3.12 found; set CHARM_PYTHON", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="kubeflow-spot-bench-") as directory:
        charm_dir = unpack(args.charm, Path(directory) / "charm")
        rows = [non_leader_noop(charm_dir, python, args.runs)]
        rows += on_cluster(charm_dir, python, args.runs, Path(directory))
    print(
        f"{args.charm.name}: {args.charm.stat().st_size / 1e6:.2f} MB; dispatch on {python};"
        f" medians of {args.runs} paired runs"
    )
    print()
    print("| what | packed kubeflow-spot | peer | ratio |")
    print("| --- | --- | --- | --- |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
