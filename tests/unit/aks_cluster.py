"""The AKS-shaped nodes and pods of fixtures/*.yaml, as manifests and as report facts."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from lightkube.resources.core_v1 import Node, Pod

from placement.facts import NodeFacts, PodFacts
from placement.reader import node_facts, pod_facts
from placement.workflows import Workflow, WorkflowFacts, workflow_facts

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE = FIXTURES / "aks_cluster.yaml"
WORKLOADS_FIXTURE = FIXTURES / "kubeflow_workloads.yaml"
"""Trainer v2, Spark operator and opted-out pods; nodes with AKS and Karpenter eviction notices."""
REPORTED_COUNTS = {"pods-total": 11, "pods-on-spot": 4, "missed": 2, "at-risk": 2, "stuck": 1}
"""What report-placement counts on the fixture with the default config (finished pods left out)."""


@cache
def manifests(fixture: Path = FIXTURE) -> dict[str, list[dict[str, Any]]]:
    """Return the fixture's `nodes`, `pods` and `workflows` manifests."""
    loaded: dict[str, list[dict[str, Any]]] = yaml.safe_load(fixture.read_text())
    return loaded


def aks_nodes(fixture: Path = FIXTURE) -> list[NodeFacts]:
    """Return the fixture's nodes, read the way the charm reads them from the API."""
    return [node_facts(Node.from_dict(node)) for node in manifests(fixture)["nodes"]]


def aks_pods(fixture: Path = FIXTURE) -> dict[str, PodFacts]:
    """Return the fixture's pods by name, read the way the charm reads them from the API."""
    pods = (pod_facts(Pod.from_dict(pod)) for pod in manifests(fixture)["pods"])
    return {pod.name: pod for pod in pods}


def aks_workflows(fixture: Path = FIXTURE) -> list[WorkflowFacts]:
    """Return what Argo recorded in the fixture's Workflows, read the way the charm reads it."""
    return [workflow_facts(Workflow.from_dict(w)) for w in manifests(fixture).get("workflows", [])]
