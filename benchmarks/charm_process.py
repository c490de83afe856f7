"""Run one event of the charm in a process of its own, against the cluster $KUBECONFIG names.

The benchmark starts this module as a child process, so its wall time is the whole process
(interpreter, imports, the charm, the API calls) and its peak RSS is the event's alone. The Juju
model is simulated with ops.testing; the charm's own lightkube client reads $KUBECONFIG, as it
does on a unit outside a pod. It prints one JSON line: the event's time inside the process and
the action's results.

Usage: python -m benchmarks.charm_process EVENT [PARAMS_JSON]
  EVENT: config-changed, update-status, or an action name (report-placement, show-defaults)
"""

from __future__ import annotations

import json
import sys
import time

from ops import testing

from localcluster.charm_context import charm_context

_HOOKS = ("config-changed", "update-status")


def main(argv: list[str]) -> int:
    """Run the event once and print what it did."""
    event = argv[0]
    params = json.loads(argv[1]) if len(argv) > 1 else {}
    ctx = charm_context()
    state = testing.State(leader=True, model=testing.Model(name="kubeflow"))
    hook = event.replace("-", "_")
    began = time.perf_counter()
    if event in _HOOKS:
        out = ctx.run(getattr(ctx.on, hook)(), state)
        status = out.unit_status
        results: dict[str, str] = {"status": f"{status.name}: {status.message}"}
    else:
        ctx.run(ctx.on.action(event, params=params), state)
        results = {k: str(v) for k, v in (ctx.action_results or {}).items()}
    seconds = time.perf_counter() - began
    print(json.dumps({"seconds": seconds, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
