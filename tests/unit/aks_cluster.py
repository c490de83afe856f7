"""The AKS-shaped nodes and pods of fixtures/aks_cluster.yaml, as manifests and as report facts."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from lightkube.resources.core_v1 import Node, Pod

from placement.facts import NodeFacts, PodFacts
from placement.reader import node_facts, pod_facts

FIXTURE = Path(__file__).parent / "fixtures" / "aks_cluster.yaml"
REPORTED_COUNTS = {"pods-total": 11, "pods-on-spot": 4, "missed": 2, "at-risk": 2, "stuck": 1}
"""What report-placement counts on the fixture with the default config (finished pods left out)."""


@cache
def manifests() -> dict[str, list[dict[str, Any]]]:
    """Return the fixture's `nodes` and `pods` manifests."""
    loaded: dict[str, list[dict[str, Any]]] = yaml.safe_load(FIXTURE.read_text())
    return loaded


def aks_nodes() -> list[NodeFacts]:
    """Return the fixture's nodes, read the way the charm reads them from the API."""
    return [node_facts(Node.from_dict(node)) for node in manifests()["nodes"]]


def aks_pods() -> dict[str, PodFacts]:
    """Return the fixture's pods by name, read the way the charm reads them from the API."""
    pods = (pod_facts(Pod.from_dict(pod)) for pod in manifests()["pods"])
    return {pod.name: pod for pod in pods}
