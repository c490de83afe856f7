"""Paths of Prometheus's promtool and of promql-check, as localcluster/build.sh names them.

Both are built by `make promtool` (build.sh's promtool group) from go/prometheus/go.mod, into
the cache directory keyed by PROMETHEUS_VERSION of versions.env. promql-check's name carries a
digest of its source and modfiles, so an edited checker is rebuilt, not reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from localcluster.upstream import pins

_MODULE_DIR = Path(__file__).parent / "go" / "prometheus"


class PrometheusToolsMissingError(RuntimeError):
    """promtool or promql-check is not built; the message says how to build it."""


def prometheus_dir() -> Path:
    """Directory where build.sh puts the promtool group's binaries."""
    cache = Path(os.environ.get("KUBEFLOW_SPOT_CACHE", Path.home() / ".cache" / "kubeflow-spot"))
    return cache / "bin" / f"prometheus-{pins()['PROMETHEUS_VERSION']}"


def _built(name: str) -> Path:
    path = prometheus_dir() / name
    if not path.is_file():
        raise PrometheusToolsMissingError(
            f"missing {path}; run `make promtool` (a first build takes about 20 min on 2 cores)"
        )
    return path


def promtool() -> Path:
    """Return promtool built from github.com/prometheus/prometheus at PROMETHEUS_VERSION."""
    return _built("promtool")


def promql_check() -> Path:
    """Return promql-check (go/prometheus/main.go), Prometheus's own PromQL parser."""
    parts = ("main.go", "go.mod", "go.sum")
    digest = hashlib.sha256(b"".join((_MODULE_DIR / p).read_bytes() for p in parts)).hexdigest()
    return _built(f"promql-check-{digest[:12]}")


def parse_queries(expressions: list[str]) -> list[dict[str, Any]]:
    """Parse each expression with Prometheus's parser: its error, metrics, labels, selectors."""
    done = subprocess.run(
        [str(promql_check())],
        input=json.dumps(expressions),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    parsed: list[dict[str, Any]] = json.loads(done.stdout)
    return parsed
