"""Run the exporter: `python3 -m exporter --config FILE --port 9876`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from prometheus_client import ProcessCollector
from prometheus_client.registry import CollectorRegistry

from exporter.config import ConfigFile
from exporter.live import LivePlacement, WatchedNode, WatchedPod, WatchedWorkflow
from exporter.server import serve
from exporter.watch import ResourceWatch, connect, run_in_thread, warm_decoders

DEFAULT_CONFIG = Path("/etc/kubeflow-spot/exporter.json")
DEFAULT_PORT = 9876
LOG = logging.getLogger("exporter")
HTTP_LOGGERS = ("httpx2", "httpcore2", "lightkube")
"""Loggers of a line per request; warnings only."""


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python3 -m exporter", description=__doc__)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the charm's JSON")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="HTTP port (0: any)")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")  # noqa: S104
    parser.add_argument(
        "--config-poll", type=float, default=2.0, help="seconds between config file checks"
    )
    return parser.parse_args(argv)


def _stop_on_sigterm(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] = ()) -> int:
    """Start the watches, the config poller and the HTTP server; run until SIGTERM or Ctrl-C."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    live = LivePlacement(ConfigFile(args.config))
    registry = CollectorRegistry()
    registry.register(live)
    ProcessCollector(registry=registry)
    stop = threading.Event()
    _stop_on_sigterm(stop)
    warm_decoders(WatchedNode, WatchedPod, WatchedWorkflow)
    watches = (
        (WatchedNode, live.nodes),
        (WatchedPod, live.pods),
        (WatchedWorkflow, live.workflows),
    )
    for kind, sink in watches:
        run_in_thread(ResourceWatch(connect, kind, sink, stop=stop), f"watch-{kind.__name__}")
    server = serve(registry, live.health, args.host, args.port)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    LOG.info("serving /metrics and /healthz on %s:%d", args.host, server.server_port)
    try:
        while not stop.wait(args.config_poll):
            live.reload_config()
    except KeyboardInterrupt:
        pass
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
