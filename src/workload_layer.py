"""The exporter's workload container: its Pebble layer, its config file, and how it is doing.

The charm runs the exporter (exporter-15's `python3 -m exporter`, the metrics contract in the
README) in the `exporter` container, whose image is the rock built from rockcraft.yaml: the
charm's own src/ at /opt/kubeflow-spot/src and its locked runtime dependencies. The charm pushes
the config file and the exporter re-reads it on change, so a `juju config` reaches the running
exporter without a restart; the layer changes (and the service is replanned) only when the
charm's code changes it. Pure: no ops import; the charm passes what Pebble reported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CONTAINER = "exporter"
"""The workload container in charmcraft.yaml; its image is the `exporter-image` resource."""
SERVICE = "kubeflow-spot-exporter"
CHECK = "exporter-healthy"
PORT = 9876
CONFIG_PATH = "/etc/kubeflow-spot/exporter.json"
CODE_DIR = "/opt/kubeflow-spot/src"
"""Where the rock keeps the charm's src/ (rockcraft.yaml's organize), put on PYTHONPATH."""
MODEL_NAMESPACE_KEY = "model-namespace"
"""The charm's model: its pods are control plane for the verdicts, as in report-placement."""


def exporter_layer() -> dict[str, Any]:
    """Return the Pebble layer that runs the exporter and checks its health endpoint.

    The check does not restart the service: /healthz fails while the API server is away, and
    the exporter retries its watches with backoff itself; the charm's status reports it.
    """
    command = f"python3 -m exporter --config {CONFIG_PATH} --port {PORT}"
    return {
        "summary": "kubeflow-spot placement exporter",
        "description": "Spot placement metrics for Prometheus, from one watch of pods and nodes",
        "services": {
            SERVICE: {
                "override": "replace",
                "summary": "kubeflow-spot exporter",
                "command": command,
                "startup": "enabled",
                "environment": {"PYTHONPATH": CODE_DIR, "PYTHONUNBUFFERED": "1"},
            }
        },
        "checks": {
            CHECK: {
                "override": "replace",
                "level": "ready",
                "period": "30s",
                "timeout": "5s",
                "threshold": 3,
                "http": {"url": f"http://localhost:{PORT}/healthz"},
            }
        },
    }


def exporter_config_file(options: Mapping[str, object], *, model_namespace: str) -> str:
    """Return the config file's text: the charm's raw options by name, plus the model namespace.

    The exporter parses the options as the charm does (spot_config), so its verdicts follow the
    same config. Keys sorted: the same config gives the same bytes, hence no needless push.
    """
    document: dict[str, object] = dict(options)
    document[MODEL_NAMESPACE_KEY] = model_namespace
    return json.dumps(document, sort_keys=True, indent=1) + "\n"


@dataclass(frozen=True)
class ExporterHealth:
    """What Pebble said about the exporter in this dispatch."""

    connected: bool
    service_running: bool = False
    check_up: bool | None = None
    """None when the check has not reported (or is unknown to Pebble)."""
    check_failures: int = 0

    def problem(self) -> str:
        """Return "" when the exporter is serving, else what a person should know, briefly."""
        if not self.connected:
            return "exporter container not reachable yet; metrics are off, defaults still apply"
        if not self.service_running:
            return "exporter not running; metrics are off, defaults still apply"
        if self.check_up is False:
            return (
                f"exporter unhealthy ({self.check_failures} failed /healthz checks); "
                "see `juju debug-log`"
            )
        return ""
