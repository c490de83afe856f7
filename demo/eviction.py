"""The demo's story: the seed guide's set_retry pipeline on spot, a spot node reclaimed mid-step.

The pipeline is the one the guide's users write, compiled by the real KFP v1 SDK; it runs on
Argo's real workflow-controller with the charm's defaults, kwok playing each node's kubelet.
Once its first step has run a while, the spot VM under it is reclaimed the way AKS does it: a
Preempt Scheduled Event on the node (node-problem-detector's condition), node auto-drain's cordon
and taint, then the step's pod evicted through the Eviction API. kwok then terminates the pod as
kubelet would (SIGTERM, exit code 143, phase Failed) and Argo decides what happens next.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lightkube import Client
from lightkube.resources.core_v1 import Pod

from localcluster import e2e, kfp_v1, workflows
from localcluster.seed import PROFILE_NAMESPACE, preempt_scheduled

EVICTED_STEP = "download-data"
SET_RETRY_BACKOFF = "3s"
"""The demo's set_retry backoff instead of the guide's 5m: Argo waits it before a retry."""
STEP_RUNS = {"download-data": "20s", "merge-csv": "10s"}
"""How long kwok runs each step's main container (the pod annotation kwok's stages read)."""
RUNNING_FOR = 11.0
"""Argo re-creates a pod that vanished within 10 s of its start instead of retrying the step
(RECENTLY_STARTED_POD_DURATION), so the eviction comes later, as a real one usually does."""
FINISH_TIMEOUT = 180.0

Say = Callable[[str], None]


@dataclass(frozen=True)
class PipelineRun:
    """What the demo's pipeline run did and what Argo recorded about it."""

    workflow: str
    evicted_pod: str
    evicted_node: str
    status: Mapping[str, Any]


def prepare(compiled: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Return the seed guide's spot-retry Workflow with the demo's backoff and step run times."""
    manifest = kfp_v1.set_retry_backoff(compiled["spot-retry"], SET_RETRY_BACKOFF)
    annotations = {step: {workflows.RUN_ANNOTATION: run} for step, run in STEP_RUNS.items()}
    return kfp_v1.v1_pipeline(manifest, "iris-spot-retry-", annotations)


def describe(manifest: Mapping[str, Any]) -> list[str]:
    """Return one line per step template: where it may run and how it is retried."""
    lines = []
    for template in manifest["spec"]["templates"]:
        if "container" not in template:
            continue
        tolerations = ", ".join(t["key"] for t in template.get("tolerations", [])) or "none"
        retry = template.get("retryStrategy", {})
        lines.append(
            f"{template['name']:14} tolerates {tolerations}; set_retry: limit"
            f" {retry.get('limit')}, backoff {retry.get('backoff', {}).get('duration')}"
            f" (no retryPolicy: Argo's OnFailure); kwok runs it"
            f" {STEP_RUNS.get(template['name'], '2s')}"
        )
    return lines


def run(client: Client, manifest: Mapping[str, Any], say: Say) -> PipelineRun:
    """Submit the pipeline, reclaim the spot node under its first step, wait for the end."""
    name = workflows.submit(client, PROFILE_NAMESPACE, manifest)
    say(f"submitted Workflow {PROFILE_NAMESPACE}/{name}")
    watcher = _Watcher(client, name, say)
    pod = watcher.until(lambda: _running(client, name, 0.0))
    watcher.until(lambda: _running(client, name, RUNNING_FOR))
    pod_name, node = _names(pod)
    say(
        f"evicting spot node {node} (pod {pod_name} running step {EVICTED_STEP} for"
        f" {RUNNING_FOR:.0f} s): Azure schedules a Preempt of its VM; AKS node auto-drain"
        " cordons and taints the node, then evicts the pod through the Eviction API"
    )
    preempt_scheduled(client, node, datetime.now(UTC) + timedelta(seconds=30))
    e2e.evict(client, pod)
    status = watcher.until(lambda: _finished(client, name), FINISH_TIMEOUT)
    started = workflows.parse_time(status.get("startedAt"))
    finished = workflows.parse_time(status.get("finishedAt"))
    took = f" in {(finished - started).total_seconds():.0f} s" if started and finished else ""
    say(f"Workflow {PROFILE_NAMESPACE}/{name} {status.get('phase')}{took}")
    hosts = [a.host for a in workflows.attempts(status, EVICTED_STEP)]
    say(
        f"{EVICTED_STEP} ran {len(hosts)} times, on {', '.join(hosts)}: set_retry's own"
        " retryStrategy retried the evicted (Failed) attempt, and the scheduler kept the retry"
        " off the cordoned node"
    )
    return PipelineRun(name, pod_name, node, status)


def attempts_table(status: Mapping[str, Any]) -> str:
    """Return every attempt of every step as Argo recorded it, in the order they started."""
    lines = [f"{'STEP':14} {'ATTEMPT':18} {'NODE':16} {'PHASE':9} MESSAGE"]
    templates = sorted({n.get("templateName", "") for n in workflows.nodes_of_type(status, "Pod")})
    for template in templates:
        for attempt in workflows.attempts(status, template):
            node = dict((status.get("nodes") or {})[attempt.id])
            lines.append(
                f"{template:14} {node.get('displayName', ''):18} {attempt.host:16}"
                f" {attempt.phase:9} {attempt.message}".rstrip()
            )
    return "\n".join(lines)


def _names(pod: Pod) -> tuple[str, str]:
    assert pod.metadata is not None
    assert pod.spec is not None
    return str(pod.metadata.name), str(pod.spec.nodeName)


def _running(client: Client, workflow: str, running_for: float) -> Pod | None:
    """Return the first step's pod once it has been Running for ``running_for`` s, else None."""
    for pod in workflows.pods(client, PROFILE_NAMESPACE, workflow):
        if e2e.template_of(pod).get("name") != EVICTED_STEP or pod.status is None:
            continue
        started = pod.status.startTime
        if pod.status.phase != "Running" or started is None:
            continue
        if time.time() - started.timestamp() >= running_for:
            return pod
    return None


def _finished(client: Client, workflow: str) -> dict[str, Any] | None:
    status = workflows.status(client, PROFILE_NAMESPACE, workflow)
    return status if status.get("phase") in workflows.FINISHED else None


class _Watcher:
    """Print each step attempt's moves (phase, node, message) while the demo waits on Argo."""

    def __init__(self, client: Client, workflow: str, say: Say) -> None:
        self._client = client
        self._workflow = workflow
        self._say = say
        self._seen: dict[str, tuple[str, str, str]] = {}

    def until(self, found: Callable[[], Any], timeout: float = 60.0) -> Any:
        """Poll ``found`` until it returns something, printing every move Argo records."""
        deadline = time.monotonic() + timeout
        while True:
            self._report(workflows.status(self._client, PROFILE_NAMESPACE, self._workflow))
            result = found()
            if result is not None:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"Workflow {self._workflow}: nothing after {timeout:.0f} s")
            time.sleep(0.3)

    def _report(self, status: Mapping[str, Any]) -> None:
        """Print each attempt's new phase, node or message, and a step's retry backoff."""
        nodes = (status.get("nodes") or {}).values()
        # Attempts first: a retry's backoff message comes after the attempt that failed.
        for node in sorted(nodes, key=lambda n: n.get("type") != "Pod"):
            name = node.get("displayName", node["id"])
            seen = (node.get("phase", ""), node.get("hostNodeName", ""), node.get("message", ""))
            if self._seen.get(node["id"]) == seen:
                continue
            self._seen[node["id"]] = seen
            phase, host, message = seen
            if node.get("type") == "Pod":
                where = f" on {host}" if host else ""
                why = f": {message}" if message else ""
                self._say(f"  {name}: {phase}{where}{why}")
            elif node.get("type") == "Retry" and message:
                self._say(f"  {name}: {message} (set_retry's backoff) before the next attempt")
