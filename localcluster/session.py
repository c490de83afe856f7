"""Start a seeded control plane for a command-line program, run its work, and clean up."""

from __future__ import annotations

import sys
from collections.abc import Callable

from lightkube import Client

from localcluster.harness import ControlPlane, ControlPlaneError, hold
from localcluster.seed import seed_aks_kubeflow


def run_seeded(work: Callable[[Client], None], *, keep: bool, field_manager: str) -> int:
    """Start and seed a control plane, run `work` with an admin client, and return an exit code.

    With `keep`, the control plane stays up after `work` until Ctrl-C, SIGTERM or SIGHUP.
    Whatever happens, every process and temporary file is gone when this returns.
    """
    try:
        with ControlPlane() as plane:
            print(
                f"control plane up in {plane.startup_seconds:.1f} s (etcd, kube-apiserver,"
                " kube-scheduler, built from Go modules)"
            )
            with plane.client(field_manager=field_manager) as client:
                seed_aks_kubeflow(client)
                work(client)
            if keep:
                hold(plane)
    except ControlPlaneError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped")
    return 0
