"""Submit Workflows to the real workflow-controller and read what Argo recorded.

Shared by the e2e tests (tests/e2e, which import it as `tests.e2e.argo`) and `make demo`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lightkube import Client
from lightkube.resources.core_v1 import Pod

from localcluster.e2e import WORKFLOW_LABEL, Workflow, template_of

FINISHED = ("Succeeded", "Failed", "Error")
RUN_ANNOTATION = "kwok.kubeflow-spot/run"
EXIT_CODE_ANNOTATION = "kwok.kubeflow-spot/exit-code"


def parse_time(value: str | None) -> datetime | None:
    """Return an Argo timestamp (RFC 3339, `Z` for UTC) as a datetime, or None when unset."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@dataclass(frozen=True)
class Attempt:
    """One pod node of a Workflow: an attempt at running a template."""

    id: str
    template: str
    phase: str
    message: str
    host: str
    started: datetime | None
    finished: datetime | None


def submit(client: Client, namespace: str, manifest: Mapping[str, Any]) -> str:
    """Create the Workflow and return the name the API server generated."""
    created = client.create(Workflow.from_dict(copy.deepcopy(dict(manifest))), namespace=namespace)
    return str(created.metadata.name)


def status(client: Client, namespace: str, name: str) -> dict[str, Any]:
    """Return the Workflow's status as Argo last wrote it."""
    found = client.get(Workflow, name, namespace=namespace).status
    return dict(found) if isinstance(found, Mapping) else {}


def wait_finished(client: Client, namespace: str, name: str, timeout: float) -> dict[str, Any]:
    """Return the Workflow's status once it has finished, or as it is after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        current = status(client, namespace, name)
        if current.get("phase") in FINISHED or time.monotonic() > deadline:
            return current
        time.sleep(0.5)


def attempts(workflow_status: Mapping[str, Any], template: str) -> list[Attempt]:
    """Return the pod nodes that ran ``template``, in the order they started."""
    found = [
        Attempt(
            id=node["id"],
            template=node.get("templateName", ""),
            phase=node["phase"],
            message=node.get("message", ""),
            host=node.get("hostNodeName", ""),
            started=parse_time(node.get("startedAt")),
            finished=parse_time(node.get("finishedAt")),
        )
        for node in (workflow_status.get("nodes") or {}).values()
        if node["type"] == "Pod" and node.get("templateName") == template
    ]
    return sorted(found, key=lambda a: (a.started is None, a.started or datetime.min))


def nodes_of_type(workflow_status: Mapping[str, Any], node_type: str) -> list[dict[str, Any]]:
    """Return the Workflow's nodes of one type (Pod, DAG, Retry, ...)."""
    return [n for n in (workflow_status.get("nodes") or {}).values() if n["type"] == node_type]


def pods(client: Client, namespace: str, workflow: str) -> list[Pod]:
    """Return the pods Argo created for the Workflow."""
    return list(client.list(Pod, namespace=namespace, labels={WORKFLOW_LABEL: workflow}))


def wait_running(
    client: Client,
    namespace: str,
    workflow: str,
    template: str,
    *,
    skip: Iterable[str] = (),
    running_for: float = 0.0,
    timeout: float = 120.0,
) -> Pod:
    """Return a pod of ``template`` that has been Running for ``running_for`` s.

    Argo re-creates a vanished pod instead of retrying it when it started less than 10 s ago
    (RECENTLY_STARTED_POD_DURATION), so disruptions wait for ``running_for=11``.
    """
    deadline = time.monotonic() + timeout
    skipped = set(skip)
    while time.monotonic() < deadline:
        for pod in pods(client, namespace, workflow):
            assert pod.metadata is not None
            if (
                pod.metadata.name in skipped
                or pod.metadata.deletionTimestamp is not None
                or template_of(pod).get("name") != template
                or pod.status is None
                or pod.status.phase != "Running"
                or pod.status.startTime is None
            ):
                continue
            age = time.time() - pod.status.startTime.timestamp()
            if age >= running_for:
                return pod
        time.sleep(0.3)
    raise TimeoutError(f"no pod of {template} in {workflow} running for {running_for} s")


def with_annotations(
    manifest: Mapping[str, Any], annotations: Mapping[str, Mapping[str, str]]
) -> dict[str, Any]:
    """Return a copy of a Workflow whose templates carry extra pod annotations.

    Argo puts a template's metadata.annotations on its pods; kwok's stages read them.
    """
    result = copy.deepcopy(dict(manifest))
    for template in result["spec"]["templates"]:
        extra = annotations.get(template["name"])
        if extra:
            metadata = template.setdefault("metadata", {}) or {}
            template["metadata"] = metadata
            metadata.setdefault("annotations", {}).update(extra)
    return result


def named(manifest: Mapping[str, Any], generate_name: str) -> dict[str, Any]:
    """Return a copy of a Workflow with another generateName."""
    result = copy.deepcopy(dict(manifest))
    result["metadata"]["generateName"] = generate_name
    return result


def with_backoff(manifest: Mapping[str, Any], duration: str) -> dict[str, Any]:
    """Return a copy of a Workflow whose own spec.retryStrategy shortens the backoff.

    Argo merges workflowDefaults under the Workflow field by field, so limit, policy, expression
    and affinity of the defaults stay; only the backoff's duration changes.
    """
    result = copy.deepcopy(dict(manifest))
    result["spec"]["retryStrategy"] = {"backoff": {"duration": duration}}
    return result


def poll(predicate: Callable[[], bool], timeout: float, interval: float = 0.3) -> bool:
    """Wait until ``predicate`` holds, at most ``timeout`` s; return whether it does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
