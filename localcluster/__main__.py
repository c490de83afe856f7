"""``python -m localcluster up``: start and seed a local control plane, keep it up until Ctrl-C."""

from __future__ import annotations

import argparse
import sys

from localcluster.harness import ControlPlane, ControlPlaneError, hold
from localcluster.seed import seed_aks_kubeflow


def _up() -> int:
    try:
        with ControlPlane() as control_plane:
            with control_plane.client() as client:
                seed_aks_kubeflow(client)
            print(f"control plane ready in {control_plane.startup_seconds:.1f} s, seeded")
            hold(control_plane)
    except ControlPlaneError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m localcluster", description=__doc__)
    parser.add_argument("command", choices=["up"], help="start, seed and wait for Ctrl-C")
    parser.parse_args(argv)
    return _up()


if __name__ == "__main__":
    sys.exit(main())
