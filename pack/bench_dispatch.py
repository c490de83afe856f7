"""Print the packed charm's size and how long its dispatch takes for a no-op hook.

The hook is `update-status` on a non-leader unit: ops starts, reads leadership and config,
and sets the standby status without calling the Kubernetes API, so the time is the charm's
start-up cost (interpreter, imports, ops) plus the stand-in hook tools. The first run after
unpacking compiles the bytecode, as a unit's first hook does; the median is of the runs after.

Usage: python -m pack.bench_dispatch [--runs 9] [kubeflow-spot_amd64.charm]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pack.build_charm import ROOT
from pack.unit import Unit, find_python312, unpack


def _timed_dispatch(unit: Unit) -> float:
    began = time.perf_counter()
    result = unit.dispatch("update-status")
    elapsed = time.perf_counter() - began
    if result.returncode != 0 or result.status is None or result.status[0] != "active":
        raise RuntimeError(f"update-status did not report the standby status:\n{result.output}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Measure and print; exit 1 when there is no CPython 3.12 to run the charm on."""
    parser = argparse.ArgumentParser(description="time the packed charm's dispatch")
    parser.add_argument("charm", type=Path, nargs="?", default=ROOT / "kubeflow-spot_amd64.charm")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)
    python = find_python312()
    if python is None:
        print("bench_dispatch: no CPython 3.12 found; set CHARM_PYTHON", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="kubeflow-spot-bench-") as directory:
        charm_dir = unpack(args.charm, Path(directory) / "charm")
        unit = Unit(charm_dir, python, leader=False)
        first = _timed_dispatch(unit)
        runs = [_timed_dispatch(unit) for _ in range(args.runs)]
    print(f"{args.charm.name}: {args.charm.stat().st_size / 1e6:.2f} MB")
    print(
        f"dispatch update-status (no-op, {python.name}): first run {first * 1000:.0f} ms,"
        f" median of {args.runs} after {statistics.median(runs) * 1000:.0f} ms"
        f" (min {min(runs) * 1000:.0f}, max {max(runs) * 1000:.0f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
