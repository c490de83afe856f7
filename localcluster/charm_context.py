"""The charm's ops.testing Context, shared by the unit tests, the cluster tests and the demo."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml
from ops import pebble, testing

from charm import KubeflowSpotCharm
from workload_layer import CHECK, CONTAINER, SERVICE, exporter_layer

CHARM_ROOT = Path(__file__).resolve().parents[1]
APP = "kubeflow-spot"


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHARM_ROOT / name).read_text())
    return loaded


def exporter_container(
    *,
    can_connect: bool = True,
    service: pebble.ServiceStatus = pebble.ServiceStatus.ACTIVE,
    check: pebble.CheckStatus = pebble.CheckStatus.UP,
    failures: int = 0,
    planned: bool = True,
) -> testing.Container:
    """Return the exporter's container; by default reachable, its layer planned, healthy."""
    if not planned:
        return testing.Container(CONTAINER, can_connect=can_connect)
    layer = pebble.Layer(exporter_layer())  # type: ignore[arg-type]
    return testing.Container(
        CONTAINER,
        can_connect=can_connect,
        layers={CONTAINER: layer},
        service_statuses={SERVICE: service},
        check_infos={
            testing.CheckInfo(
                CHECK, level=pebble.CheckLevel.READY, status=check, failures=failures
            )
        },
    )


class _Context(testing.Context[KubeflowSpotCharm]):
    """A Context whose States have the exporter's container unless the test gives one.

    The charm's metadata declares the container, and ops.testing refuses a charm that asks for a
    container its State lacks; most tests are about the defaults, not the exporter, so they get
    a healthy one and the status they assert is the one a healthy exporter leaves unchanged.
    """

    def run(self, event: Any, state: testing.State) -> testing.State:
        if not any(container.name == CONTAINER for container in state.containers):
            containers = frozenset({*state.containers, exporter_container()})
            state = dataclasses.replace(state, containers=containers)
        return super().run(event, state)


def charm_context() -> testing.Context[KubeflowSpotCharm]:
    """Return a Context for the charm with the metadata, config and actions charmcraft reads.

    Context's autoload would take config and actions only from charmcraft.yaml, but this charm
    keeps them in config.yaml and actions.yaml, so all three are passed explicitly.
    """
    return _Context(
        KubeflowSpotCharm,
        meta=_load("charmcraft.yaml"),
        config=_load("config.yaml"),
        actions=_load("actions.yaml"),
        app_name=APP,
    )
