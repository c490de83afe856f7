"""Run several Workflows at once on the e2e cluster, each with the disruption a test causes.

A `Scenario` submits its Workflow, then (in its own thread) runs its disruption, e.g. "evict
the pod of template X once it has run 11 s", and waits for the Workflow to finish. Running the
scenarios of a test module side by side keeps the suite's wall time near the longest one.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from lightkube import Client
from lightkube.core import decoders
from lightkube.resources.core_v1 import Node, Pod

from localcluster import e2e, workflows
from localcluster.seed import name_of

# Argo re-creates a vanished pod instead of retrying it when the pod started less than 10 s
# before (RECENTLY_STARTED_POD_DURATION); disruptions wait a little longer.
RUNNING_FOR = 11.0
FINISH_TIMEOUT = 240.0


@dataclass(frozen=True)
class Caused:
    """One eviction a test caused, and the signals report-placement counts it with."""

    pod: str
    kept: str | None
    """The pod's own signal while it is still there (its DisruptionTarget reason)."""
    gone: str
    """What Argo recorded once the pod is gone (a VM gone or a NoExecute taint takes the pods
    of its node with it, finished ones too)."""

    def signal(self, existing: Collection[str]) -> str:
        """Return the signal the report should count, given the pods that still exist."""
        return self.kept if self.kept is not None and self.pod in existing else self.gone


def caused_signals(scenarios: Iterable[Scenario], existing: Collection[str]) -> Counter[str]:
    """Count the evictions the scenarios caused by the signal the report should show."""
    return Counter(c.signal(existing) for s in scenarios for c in s.caused)


@dataclass
class Scenario:
    """One Workflow and what is done to it while it runs."""

    label: str
    manifest: Mapping[str, Any]
    disrupt: Callable[[Scenario], None] | None = None
    name: str = ""
    status: dict[str, Any] = field(default_factory=dict)
    disrupted: list[Pod] = field(default_factory=list)
    """The pods the disruption took away, in order."""
    caused: list[Caused] = field(default_factory=list)
    """The evictions the disruption caused, one per pod taken away."""
    error: str = ""
    client: Client | None = None
    namespace: str = ""
    cluster: e2e.E2ECluster | None = None
    _thread: threading.Thread | None = None

    def start(self, client: Client, namespace: str, cluster: e2e.E2ECluster) -> None:
        _warm_decoders()
        self.client, self.namespace, self.cluster = client, namespace, cluster
        self.name = workflows.submit(client, namespace, self.manifest)
        self._thread = threading.Thread(target=self._run, name=self.label, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self.client is not None
        try:
            if self.disrupt is not None:
                self.disrupt(self)
            self.status = workflows.wait_finished(
                self.client, self.namespace, self.name, FINISH_TIMEOUT
            )
        except Exception:  # reported by the test that reads this scenario
            self.error = traceback.format_exc()

    def join(self) -> Scenario:
        assert self._thread is not None
        self._thread.join()
        assert not self.error, self.error
        return self

    def running_pod(self, template: str) -> Pod:
        """Wait for a pod of ``template`` running long enough to be retried, not taken yet."""
        assert self.client is not None
        return workflows.wait_running(
            self.client,
            self.namespace,
            self.name,
            template,
            skip={p.metadata.name for p in self.disrupted if p.metadata},
            running_for=RUNNING_FOR,
        )

    def attempts(self, template: str) -> list[workflows.Attempt]:
        return workflows.attempts(self.status, template)


@functools.cache
def _warm_decoders() -> None:
    """Decode each type the scenario threads decode once, here, before the threads start.

    One `make e2e` run crashed (SIGSEGV in msgspec's decode, lightkube 1.0 `decode_object`)
    when several scenario threads evicted at the same moment, each decoding the Eviction
    response first; msgspec builds a type's decoder on first use, so that is done once here.
    """
    for kind in (Pod, Pod.Eviction, Pod.Status, Node, Node.Status, e2e.Workflow):
        with contextlib.suppress(msgspec.ValidationError):
            msgspec.json.decode(b"{}", type=kind)
        decoders.decode_list(b'{"items": []}', kind)


def run_all(
    client: Client, namespace: str, cluster: e2e.E2ECluster, scenarios: list[Scenario]
) -> dict[str, Scenario]:
    """Start every scenario, then wait for all of them; return them by label."""
    for scenario in scenarios:
        scenario.start(client, namespace, cluster)
    for scenario in scenarios:
        assert scenario._thread is not None
        scenario._thread.join()
    return {s.label: s for s in scenarios}


# --- disruptions --------------------------------------------------------------------------------


def evict(template: str, times: int = 1) -> Callable[[Scenario], None]:
    """Evict the running pod of ``template`` through the Eviction API, ``times`` in a row."""

    def disrupt(scenario: Scenario) -> None:
        assert scenario.client is not None
        for _ in range(times):
            pod = scenario.running_pod(template)
            e2e.evict(scenario.client, pod)
            scenario.disrupted.append(pod)
            scenario.caused.append(Caused(name_of(pod), "EvictionByEvictionAPI", "ArgoTerminated"))

    return disrupt


def drain(template: str) -> Callable[[Scenario], None]:
    """Drain the node of the running pod of ``template``: cordon it, then evict the pod."""

    def disrupt(scenario: Scenario) -> None:
        assert scenario.client is not None
        pod = scenario.running_pod(template)
        assert pod.spec is not None
        scenario.client.patch(Node, str(pod.spec.nodeName), {"spec": {"unschedulable": True}})
        e2e.evict(scenario.client, pod)
        scenario.disrupted.append(pod)
        scenario.caused.append(Caused(name_of(pod), "EvictionByEvictionAPI", "ArgoTerminated"))

    return disrupt


def press(template: str) -> Callable[[Scenario], None]:
    """Evict the running pod of ``template`` for memory pressure on its node (kubelet)."""

    def disrupt(scenario: Scenario) -> None:
        assert scenario.client is not None
        pod = scenario.running_pod(template)
        e2e.press_node(scenario.client, pod)
        scenario.disrupted.append(pod)
        scenario.caused.append(Caused(name_of(pod), "TerminationByKubelet", "ArgoNodePressure"))

    return disrupt


def taint(template: str) -> Callable[[Scenario], None]:
    """Taint the node of the running pod of ``template`` out-of-service:NoExecute."""

    def disrupt(scenario: Scenario) -> None:
        assert scenario.client is not None
        pod = scenario.running_pod(template)
        assert pod.spec is not None
        e2e.taint_out_of_service(scenario.client, str(pod.spec.nodeName))
        scenario.disrupted.append(pod)
        scenario.caused.append(Caused(name_of(pod), "DeletionByTaintManager", "ArgoTerminated"))

    return disrupt


def vm_gone(template: str) -> Callable[[Scenario], None]:
    """Make the VM under the running pod of ``template`` vanish (kwok killed, Node deleted)."""

    def disrupt(scenario: Scenario) -> None:
        assert scenario.client is not None
        assert scenario.cluster is not None
        pod = scenario.running_pod(template)
        assert pod.spec is not None
        e2e.vm_gone(scenario.cluster, scenario.client, str(pod.spec.nodeName))
        scenario.disrupted.append(pod)
        scenario.caused.append(Caused(name_of(pod), None, "ArgoPodDeleted"))  # PodGC deletes it

    return disrupt


def force_delete(template: str) -> Callable[[Scenario], None]:
    """Delete the running pod of ``template`` at once (grace 0): it vanishes, no end reported."""

    def disrupt(scenario: Scenario) -> None:
        assert scenario.client is not None
        pod = scenario.running_pod(template)
        assert pod.metadata is not None
        scenario.client.delete(
            Pod, str(pod.metadata.name), namespace=pod.metadata.namespace, grace_period=0
        )
        scenario.disrupted.append(pod)
        scenario.caused.append(Caused(name_of(pod), None, "ArgoPodDeleted"))

    return disrupt


def restore_nodes(client: Client) -> None:
    """Uncordon every node and take off the taints the disruptions added."""
    for node in client.list(Node):
        for resource in e2e.PRESSURE_TAINTS:
            e2e.relieve_node(client, str(node.metadata and node.metadata.name), resource)
    for node in client.list(Node):
        assert node.metadata is not None
        assert node.spec is not None
        taints = [
            t.to_dict()
            for t in node.spec.taints or []
            if t.key not in {e2e.OUT_OF_SERVICE_TAINT["key"], *e2e.PRESSURE_TAINTS.values()}
        ]
        client.patch(
            Node, str(node.metadata.name), {"spec": {"unschedulable": False, "taints": taints}}
        )


# --- Workflows ----------------------------------------------------------------------------------


def step(
    name: str,
    *,
    run: str = "15s",
    exit_code: int | None = None,
    retry: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a container template whose pod runs ``run`` and ends with ``exit_code`` (kwok)."""
    annotations = {workflows.RUN_ANNOTATION: run}
    if exit_code is not None:
        annotations[workflows.EXIT_CODE_ANNOTATION] = str(exit_code)
    template: dict[str, Any] = {
        "name": name,
        "metadata": {"annotations": annotations},
        "container": {"image": "registry.invalid/step:1", "command": ["run"]},
    }
    if retry is not None:
        template["retryStrategy"] = dict(retry)
    return template


def nested(generate_name: str, template: Mapping[str, Any]) -> dict[str, Any]:
    """Return a Workflow whose step sits two DAGs deep (entry DAG > DAG > step), as in KFP."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": generate_name},
        "spec": {
            "entrypoint": "entry",
            "serviceAccountName": "pipeline-runner",
            "templates": [
                {"name": "entry", "dag": {"tasks": [{"name": "outer", "template": "inner"}]}},
                {
                    "name": "inner",
                    "dag": {"tasks": [{"name": "step", "template": template["name"]}]},
                },
                dict(template),
            ],
        },
    }


def flat(generate_name: str, template: Mapping[str, Any]) -> dict[str, Any]:
    """Return a Workflow that is just one step."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": generate_name},
        "spec": {
            "entrypoint": template["name"],
            "serviceAccountName": "pipeline-runner",
            "templates": [dict(template)],
        },
    }


def v2_pipeline(
    fixture: Mapping[str, Any],
    generate_name: str,
    annotations: Mapping[str, Mapping[str, str]],
    *,
    set_retry_backoff: str | None = None,
) -> dict[str, Any]:
    """Return the KFP v2-shaped fixture with pod annotations, maybe a shorter set_retry backoff."""
    manifest = workflows.named(workflows.with_annotations(fixture, annotations), generate_name)
    if set_retry_backoff is not None:
        root = next(t for t in manifest["spec"]["templates"] if t["name"] == "root")
        for task in root["dag"]["tasks"]:
            for parameter in task.get("arguments", {}).get("parameters", []):
                if parameter["name"] == "retry-backoff-duration":
                    parameter["value"] = set_retry_backoff
    return manifest
