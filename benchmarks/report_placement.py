"""Benchmark `report-placement` on 10,000 pods and 500 nodes: time, requests, result sizes.

Runs the charm's action through ops.testing with a real lightkube client against the paginating
API stand-in of localcluster/paged_apiserver.py, once per format, and prints what it measured.
Run with `make bench`.
"""

from __future__ import annotations

import json
import resource
import statistics
import time

from ops import testing

from charm import KubeflowSpotCharm
from localcluster.charm_context import charm_context
from localcluster.paged_apiserver import NODES, PODS, serving
from placement.action_results import join_report

RUNS = 3


def main() -> None:
    """Print the measurements, one line per format."""
    ctx = charm_context()
    state = testing.State(leader=True, model=testing.Model(name="kubeflow"))
    print(f"report-placement on {PODS:,} pods and {NODES} nodes, median of {RUNS} runs")
    for fmt in ("table", "json", "yaml"):
        seconds, requests, results = [], 0, {}
        for _ in range(RUNS):
            with serving() as (server, client):
                # The charm's one Kubernetes seam, pointed at the stand-in.
                seam = lambda self: client  # noqa: E731
                KubeflowSpotCharm.lightkube_client = seam  # type: ignore[method-assign]
                start = time.perf_counter()
                ctx.run(ctx.on.action("report-placement", params={"format": fmt}), state)
                seconds.append(time.perf_counter() - start)
                requests, results = len(server.requests), ctx.action_results or {}
        total = sum(len(f"{k}={v}") for k, v in results.items())
        largest = max(len(f"{k}={v}") for k, v in results.items())
        per_row = ""
        if fmt == "json":
            document = json.loads(join_report(results))
            rows = [r for nodes in document["pods"].values() for rs in nodes.values() for r in rs]
            per_row = f", {statistics.mean(len(json.dumps(r)) for r in rows):.0f} B/pod row"
        print(
            f"  {fmt:5}: {statistics.median(seconds):.2f} s, {requests} requests,"
            f" results {total / 1024:.0f} KiB in {results['report-parts']} part(s),"
            f" largest argument {largest / 1024:.0f} KiB{per_row}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
