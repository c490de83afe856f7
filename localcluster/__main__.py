"""``python -m localcluster up``: start and seed a local control plane, keep it up until Ctrl-C."""

from __future__ import annotations

import argparse
import sys

from localcluster.session import run_seeded


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m localcluster", description=__doc__)
    parser.add_argument("command", choices=["up"], help="start, seed and wait for Ctrl-C")
    parser.parse_args(argv)
    return run_seeded(lambda client: None, keep=True, field_manager="kubeflow-spot-localcluster")


if __name__ == "__main__":
    sys.exit(main())
