"""The charm's ops.testing Context, shared by the unit tests, the cluster tests and the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from ops import testing

from charm import KubeflowSpotCharm

CHARM_ROOT = Path(__file__).resolve().parents[1]
APP = "kubeflow-spot"


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHARM_ROOT / name).read_text())
    return loaded


def charm_context() -> testing.Context[KubeflowSpotCharm]:
    """Return a Context for the charm with the metadata, config and actions charmcraft reads.

    Context's autoload would take config and actions only from charmcraft.yaml, but this charm
    keeps them in config.yaml and actions.yaml, so all three are passed explicitly.
    """
    return testing.Context(
        KubeflowSpotCharm,
        meta=_load("charmcraft.yaml"),
        config=_load("config.yaml"),
        actions=_load("actions.yaml"),
        app_name=APP,
    )
