"""The exporter's config file: the charm's options as JSON, parsed the way the charm parses them.

The charm pushes `/etc/kubeflow-spot/exporter.json` (the metrics contract in the README): its
option values by name, plus `spot-discount` and `model-namespace`. Options left out take
config.yaml's defaults, so the verdicts are those `report-placement` gives under the same
config. `ConfigFile` notices a change by the file's (mtime, size, inode) and re-reads it; Pebble
and `juju` push a new file by replacing it, which changes all three. Pure: no ops, no lightkube.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from config_options import config_defaults
from placement.request import DEFAULT_SPOT_DISCOUNT
from spot_config import SpotConfig, parse_config
from workloads import CONTROL_PLANE_NAMESPACES

SPOT_DISCOUNT_KEY = "spot-discount"
MODEL_NAMESPACE_KEY = "model-namespace"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
"""Where a pod finds its own namespace: the charm's model, when the key is left out."""


class ConfigFileError(ValueError):
    """The config file cannot be used; the message names the problem and what is accepted."""


@dataclass(frozen=True)
class ExporterConfig:
    """What the verdicts and the savings estimate are computed with."""

    spot: SpotConfig
    spot_discount: float = DEFAULT_SPOT_DISCOUNT
    model_namespace: str = ""

    @property
    def control_plane_namespaces(self) -> frozenset[str]:
        """Return the namespaces whose unrecognised pods are control plane, as in the action."""
        extra = {self.model_namespace} if self.model_namespace else set()
        return CONTROL_PLANE_NAMESPACES | extra


def default_config() -> ExporterConfig:
    """Return the config of a charm whose options are all at their defaults."""
    return ExporterConfig(parse_config(config_defaults()), model_namespace=_own_namespace())


def parse_exporter_config(text: str) -> ExporterConfig:
    """Parse the file's text.

    Raises:
        ConfigFileError: not a JSON object, an invalid option (each named, with its value and
            what is accepted, as the charm's status names them), or a bad spot-discount.

    """
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ConfigFileError(f"not JSON: {error}") from error
    if not isinstance(document, dict):
        raise ConfigFileError("not a JSON object of option names and values")
    discount = document.pop(SPOT_DISCOUNT_KEY, DEFAULT_SPOT_DISCOUNT)
    if isinstance(discount, bool) or not isinstance(discount, int | float):
        raise ConfigFileError(f"{SPOT_DISCOUNT_KEY}={discount!r} is invalid: a number from 0 to 1")
    if not (math.isfinite(discount) and 0 <= discount <= 1):
        raise ConfigFileError(f"{SPOT_DISCOUNT_KEY}={discount!r} is invalid: a number from 0 to 1")
    namespace = document.pop(MODEL_NAMESPACE_KEY, None)
    if namespace is not None and not isinstance(namespace, str):
        raise ConfigFileError(f"{MODEL_NAMESPACE_KEY}={namespace!r} is invalid: a namespace name")
    try:
        spot = parse_config({**config_defaults(), **document})
    except ValueError as error:  # ConfigError names every invalid option
        raise ConfigFileError(str(error)) from error
    return ExporterConfig(
        spot, float(discount), _own_namespace() if namespace is None else namespace
    )


def _own_namespace() -> str:
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    except OSError:
        return ""


class ConfigFile:
    """The config file, re-read when its (mtime, size, inode) change."""

    def __init__(self, path: Path):
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self.problem = ""
        """Why the last read failed; "" after a good read."""

    def changed(self) -> bool:
        """Tell whether the file differs from the last read (a vanished file is a change too)."""
        return self._stamp() != self._seen

    def read(self) -> ExporterConfig | None:
        """Read and parse the file; None (and `problem` set) if it is missing or invalid."""
        self._seen = self._stamp()
        try:
            config = parse_exporter_config(self.path.read_text())
        except OSError as error:
            self.problem = f"cannot read {self.path}: {error.strerror or error}"
            return None
        except ConfigFileError as error:
            self.problem = f"{self.path}: {error}"
            return None
        self.problem = ""
        return config

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)
