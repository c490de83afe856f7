"""Run pipelines for real: Argo's workflow-controller, kwok and kube-controller-manager.

On top of a `ControlPlane` (etcd, kube-apiserver, kube-scheduler) this adds, from the binaries
of ``localcluster/build-e2e.sh``:

- one kwok per spot node (so a test can kill a node's "kubelet" without touching the others)
  and one for the regular pool, with the pod stages of ``kwok/pod-stages.yaml`` (kubelet-like
  termination, node-pressure eviction, fixed delays) and kwok's own node stages;
- kube-controller-manager with the controllers that evict and collect pods: the taint
  manager (taint-eviction-controller), PodGC, and node-lifecycle (which the taint manager
  needs); the tests delete a vanished VM's Node themselves, as the cloud provider would;
- Argo's workflow-controller with every CRD of its module's ``manifests/base/crds/minimal``;
- `TaskResultPlayer`, which plays Argo's ``wait`` container for templates with outputs (kwok
  runs no container, so nothing else would report them).

Every process is stopped with the control plane, newest first.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from lightkube import ApiError, Client, codecs
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import Node, Pod

from localcluster.harness import (
    ControlPlane,
    ControlPlaneError,
    _Component,
    _free_port,
    binaries_dir,
)
from localcluster.seed import SEED_FIELD_MANAGER, _wait_established, name_of
from localcluster.upstream import argo_version, module_dir, pins

POD_STAGES = Path(__file__).with_name("kwok") / "pod-stages.yaml"
# kwok's own node stages: Ready at once, then heartbeats with a lease.
_KWOK_NODE_STAGES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
)
EXECUTOR_IMAGE = "quay.io/argoproj/argoexec:{release}"  # never pulled: kwok runs no container
_READY_TIMEOUT_SECONDS = 60.0
_POLL_SECONDS = 0.2

WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
Workflow = create_namespaced_resource("argoproj.io", "v1alpha1", "Workflow", "workflows")
WorkflowTaskResult = create_namespaced_resource(
    "argoproj.io", "v1alpha1", "WorkflowTaskResult", "workflowtaskresults"
)


def _cache_bin() -> Path:
    return binaries_dir().parent


def workflow_controller_binary(argo_minor: str = "3.7") -> Path:
    """Return the workflow-controller build-e2e.sh built for the pinned release of a minor."""
    return _cache_bin() / f"argo-{argo_version(argo_minor)}" / "workflow-controller"


def kwok_binary() -> Path:
    """Return the kwok build-e2e.sh built for KWOK_VERSION."""
    return _cache_bin() / f"kwok-{pins()['KWOK_VERSION']}" / "kwok"


def controller_manager_binary() -> Path:
    """Return the kube-controller-manager build-e2e.sh built for K8S_VERSION."""
    return binaries_dir() / "kube-controller-manager"


def _require(path: Path) -> Path:
    if not path.is_file():
        raise ControlPlaneError(f"missing {path}; run `bash localcluster/build-e2e.sh`")
    return path


def kwok_config() -> str:
    """Return kwok's --config: kwok's own node stages, then this repository's pod stages.

    No KwokConfiguration document: one would zero every option it does not set.
    """
    kwok_dir = module_dir("sigs.k8s.io/kwok", pins()["KWOK_VERSION"])
    node_stages = [(kwok_dir / path).read_text() for path in _KWOK_NODE_STAGES]
    return "\n---\n".join([*node_stages, POD_STAGES.read_text()])


def argo_crd_paths(argo_minor: str = "3.7") -> list[Path]:
    """Every CRD the workflow-controller needs, from its module's manifests/base/crds/minimal."""
    version = argo_version(argo_minor)
    major = version.removeprefix("v").split(".", 1)[0]
    crds = module_dir(f"github.com/argoproj/argo-workflows/v{major}", version) / (
        "manifests/base/crds/minimal"
    )
    return sorted(crds.glob("argoproj.io_*.yaml"))


class E2ECluster:
    """The e2e components on a started `ControlPlane`; each is stopped with the plane."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self._kwoks: dict[str, _Component] = {}
        self._stages = plane.work_dir / "kwok-stages.yaml"
        self._stages.write_text(kwok_config())
        self.workflow_controller: _Component | None = None

    # --- kwok -------------------------------------------------------------------------------

    def start_kwok(
        self, name: str, *, node: str | None = None, selector: str | None = None
    ) -> None:
        """Start a kwok for one node (``node``) or for the nodes matching a label ``selector``."""
        assert (node is None) != (selector is None)
        kubeconfig = str(self.plane.kubeconfig_path)
        manage = (
            f"--manage-single-node={node}"
            if node
            else (f"--manage-nodes-with-label-selector={selector}")
        )
        self._kwoks[name] = self.plane.launch(
            f"kwok-{name}",
            _require(kwok_binary()),
            [
                f"--kubeconfig={kubeconfig}",
                f"--config={self._stages}",
                manage,
                "--node-lease-duration-seconds=40",
                # kwok's own server (logs, exec, metrics) is not needed.
                "--server-address=",
            ],
        )

    def kill_kwok(self, name: str) -> None:
        """SIGKILL a node's kwok: its pods get no status update any more, as with a dead VM."""
        self._kwoks[name].kill()

    def wait_nodes_ready(self, client: Client, names: list[str]) -> None:
        """Wait until kwok has made every named node Ready."""
        deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
        while True:
            ready = {
                name_of(node)
                for node in client.list(Node)
                if node.status
                and any(
                    c.type == "Ready" and c.status == "True" for c in node.status.conditions or []
                )
            }
            if set(names) <= ready:
                return
            for component in self._kwoks.values():
                component.check_running()
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"nodes not Ready: {sorted(set(names) - ready)}")
            time.sleep(_POLL_SECONDS)

    # --- kube-controller-manager -----------------------------------------------------------

    def start_controller_manager(self) -> None:
        """Start kube-controller-manager with the controllers that evict and collect pods."""
        kubeconfig = str(self.plane.kubeconfig_path)
        component = self.plane.launch(
            "kube-controller-manager",
            _require(controller_manager_binary()),
            [
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                # Without it the log fills with requestheader client-CA look-up errors.
                "--authentication-skip-lookup=true",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                # The taint manager finds a node's pods through the spec.nodeName index that the
                # node-lifecycle controller registers ("Index with name spec.nodeName does not
                # exist" without it), so both run; kwok keeps every node's lease fresh.
                "--controllers=node-lifecycle-controller,taint-eviction-controller,"
                "pod-garbage-collector-controller",
            ],
        )
        time.sleep(1.0)
        component.check_running()

    # --- Argo -------------------------------------------------------------------------------

    def install_argo_crds(self, client: Client, argo_minor: str = "3.7") -> None:
        """Apply every CRD of the Argo module's minimal manifests and wait until served."""
        for path in argo_crd_paths(argo_minor):
            for crd in codecs.load_all_yaml(path.read_text()):
                client.apply(crd, field_manager=SEED_FIELD_MANAGER, force=True)
                _wait_established(client, name_of(crd))

    def start_workflow_controller(
        self, *, namespace: str, configmap: str, argo_minor: str = "3.7"
    ) -> None:
        """Start Argo's controller for every namespace, as CKF's argo-controller runs it."""
        release = argo_version(argo_minor)
        self.workflow_controller = self.plane.launch(
            "workflow-controller",
            _require(workflow_controller_binary(argo_minor)),
            [
                f"--kubeconfig={self.plane.kubeconfig_path}",
                "--namespaced=false",
                f"--namespace={namespace}",
                f"--configmap={configmap}",
                f"--executor-image={EXECUTOR_IMAGE.format(release=release)}",
            ],
            env={
                "LEADER_ELECTION_DISABLE": "true",
                # The default requeue is 10 s; tests wait on the controller's every move.
                "DEFAULT_REQUEUE_TIME": "1s",
            },
        )
        self._wait_for_log(self.workflow_controller, "Manager initialized successfully")

    @staticmethod
    def _wait_for_log(component: _Component, marker: str) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
        while marker not in component.log.read_text(errors="replace"):
            component.check_running()
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"{component.name} did not log {marker!r}")
            time.sleep(_POLL_SECONDS)


# --- the controller's ConfigMap ----------------------------------------------------------


def wait_config_reloaded(cluster: E2ECluster, before: int, timeout: float = 30.0) -> None:
    """Wait until the workflow-controller has reloaded its ConfigMap since ``before``."""
    assert cluster.workflow_controller is not None
    log = cluster.workflow_controller.log
    deadline = time.monotonic() + timeout
    while log.read_text(errors="replace").count("Configuration updated") <= before:
        if time.monotonic() > deadline:
            raise TimeoutError("the workflow-controller did not reload its ConfigMap")
        time.sleep(0.2)


def config_reloads(cluster: E2ECluster) -> int:
    """Return how often the workflow-controller has loaded its ConfigMap so far."""
    assert cluster.workflow_controller is not None
    return cluster.workflow_controller.log.read_text(errors="replace").count(
        "Configuration updated"
    )


# --- playing Argo's wait container ------------------------------------------------------------

OUTPUT_ANNOTATION_PREFIX = "kwok.kubeflow-spot/output."
"""A pod annotation ``kwok.kubeflow-spot/output.<name>`` sets that output parameter's value."""


def template_of(pod: Pod) -> dict[str, Any]:
    """Return the Argo template a pod runs (the ARGO_TEMPLATE variable of its init container)."""
    assert pod.spec is not None
    for container in [*(pod.spec.initContainers or []), *pod.spec.containers]:
        for env in container.env or []:
            if env.name == "ARGO_TEMPLATE" and env.value:
                return dict(json.loads(env.value))
    return {}


def _artifact_repository() -> dict[str, Any]:
    """Return the seeded artifact repository (CKF's MinIO), without its key format."""
    from localcluster.seed import _ARGO_CONFIG

    s3 = dict(yaml.safe_load(_ARGO_CONFIG["artifactRepository"])["s3"])
    s3.pop("keyFormat", None)
    return s3


def reported_outputs(pod: Pod) -> dict[str, Any] | None:
    """Return the outputs a wait container would report for a pod, None if it has none.

    Each output parameter gets its annotation value, else its ``valueFrom.default``, else
    ``"kwok"``. Each output artifact gets a full s3 location in the seeded repository (Argo
    waits for every non-optional one: "required outputs are not yet set"); nothing is uploaded.
    """
    outputs = template_of(pod).get("outputs", {})
    parameters = outputs.get("parameters", [])
    artifacts = outputs.get("artifacts", [])
    if not parameters and not artifacts:
        return None
    metadata = pod.metadata
    assert metadata is not None
    annotations = metadata.annotations or {}
    values = []
    for parameter in parameters:
        name = parameter["name"]
        default = (parameter.get("valueFrom") or {}).get("default")
        value = annotations.get(OUTPUT_ANNOTATION_PREFIX + name, default)
        values.append({"name": name, "value": "kwok" if value is None else value})
    workflow = (metadata.labels or {}).get(WORKFLOW_LABEL, "")
    located = [
        {
            "name": artifact["name"],
            "s3": {
                **_artifact_repository(),
                "key": f"artifacts/{workflow}/{metadata.name}/{artifact['name']}.tgz",
            },
        }
        for artifact in artifacts
    ]
    return {"parameters": values, "artifacts": located}


class TaskResultPlayer:
    """Report outputs of succeeded pods as Argo's wait container does (a WorkflowTaskResult).

    Runs in a thread while used as a context manager; ``reported`` counts the results created.
    The namespace may be lightkube's ``ALL_NS`` ("*"): then pods of every namespace.
    """

    def __init__(self, client: Client, namespace: str) -> None:
        self._client = client
        self._namespace = namespace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="task-results", daemon=True)
        self._done: set[str] = set()
        self.reported = 0
        self.errors: list[str] = []

    def __enter__(self) -> TaskResultPlayer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.3):
            try:
                self.play_once()
            except ApiError as error:  # the cluster is going away, or a transient error
                self.errors.append(str(error))

    def play_once(self) -> None:
        """Report the outputs of every succeeded pod not reported yet."""
        for pod in self._client.list(
            Pod, namespace=self._namespace, labels={WORKFLOW_LABEL: None}
        ):
            metadata = pod.metadata
            assert metadata is not None
            if pod.status is None or pod.status.phase != "Succeeded" or metadata.uid in self._done:
                continue
            self._done.add(str(metadata.uid))
            outputs = reported_outputs(pod)
            if outputs is None:
                continue
            annotations = metadata.annotations or {}
            node_id = annotations.get("workflows.argoproj.io/node-id") or name_of(pod)
            result = WorkflowTaskResult.from_dict(
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "WorkflowTaskResult",
                    "metadata": {
                        "name": node_id,
                        "namespace": metadata.namespace,
                        "labels": {
                            WORKFLOW_LABEL: (metadata.labels or {})[WORKFLOW_LABEL],
                            "workflows.argoproj.io/report-outputs-completed": "true",
                        },
                    },
                    "outputs": outputs,
                }
            )
            with contextlib.suppress(ApiError):  # already reported (a restart of the player)
                self._client.create(result)
                self.reported += 1


def workflow_nodes(workflow: Any) -> Mapping[str, Mapping[str, Any]]:
    """Return the ``status.nodes`` of a Workflow read with the generic resource."""
    status = workflow.get("status") if isinstance(workflow, dict) else workflow.status
    return dict((status or {}).get("nodes") or {})


SPOT_NODES = ("aks-spotpool-0", "aks-spotpool-1", "aks-spotpool-2")
"""Spot nodes of the e2e cluster, each with its own kwok (a test may kill one)."""


def start_e2e(plane: ControlPlane, client: Client, *, argo_minor: str = "3.7") -> E2ECluster:
    """Seed the plane like CKF on AKS and start kwok, kube-controller-manager and Argo on it.

    Three spot nodes (one kwok each) and the two regular nodes (one kwok for the pool); the
    Argo CRDs; the `pipeline-runner` ServiceAccount KFP runs steps as. On failure the last
    lines of every component's log are printed.
    """
    try:
        return _start_e2e(plane, client, argo_minor)
    except BaseException:
        plane.print_log_tails()
        raise


def _start_e2e(plane: ControlPlane, client: Client, argo_minor: str) -> E2ECluster:
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import ServiceAccount

    from localcluster import seed

    seed.seed_aks_kubeflow(client)
    for index in range(2, len(SPOT_NODES)):
        seed._create_node(client, seed.SPOT_POOL, index)
    cluster = E2ECluster(plane)
    cluster.install_argo_crds(client, argo_minor)
    client.apply(
        ServiceAccount(
            metadata=ObjectMeta(name="pipeline-runner", namespace=seed.PROFILE_NAMESPACE)
        ),
        field_manager=SEED_FIELD_MANAGER,
    )
    cluster.start_kwok("regular", selector=f"{seed.AGENTPOOL_LABEL}={seed.REGULAR_POOL}")
    for node in SPOT_NODES:
        cluster.start_kwok(node, node=node)
    cluster.wait_nodes_ready(
        client, [*SPOT_NODES, f"aks-{seed.REGULAR_POOL}-0", f"aks-{seed.REGULAR_POOL}-1"]
    )
    cluster.start_controller_manager()
    # The workflow-controller panics when its metrics port (9090 by default) is taken ("listen
    # tcp :9090: bind: address already in use"): each cluster gets a free one, so clusters side
    # by side (the e2e tests and make demo) can run at once. (Its healthz on :6060 is fixed in
    # cmd/workflow-controller/main.go, but a taken port there is only logged.)
    seed.apply_argo_configmap(client, metrics_port=_free_port())
    cluster.start_workflow_controller(
        namespace=seed.KUBEFLOW_NAMESPACE, configmap=seed.ARGO_CONFIGMAP, argo_minor=argo_minor
    )
    return cluster


# --- the ways a spot node takes a pod away -----------------------------------------------------

OUT_OF_SERVICE_TAINT = {
    "key": "node.kubernetes.io/out-of-service",
    "value": "nodeshutdown",
    "effect": "NoExecute",
}


def evict(client: Client, pod: Pod) -> None:
    """Evict through the Eviction API, as a drain or the cloud's eviction handler does.

    The API server adds the DisruptionTarget condition (EvictionByEvictionAPI) and deletes the
    pod gracefully; its kwok then terminates it like kubelet (exit 143, phase Failed).
    """
    from lightkube.models.meta_v1 import ObjectMeta

    metadata = pod.metadata
    assert metadata is not None
    client.create(
        Pod.Eviction(metadata=ObjectMeta(name=metadata.name, namespace=metadata.namespace)),
        name=str(metadata.name),
        namespace=metadata.namespace,
    )


def taint_out_of_service(client: Client, node: str) -> None:
    """Add the out-of-service NoExecute taint: the taint manager evicts every pod on the node."""
    taints = list(client.get(Node, node).spec.taints or [])  # type: ignore[union-attr]
    raw = [t.to_dict() for t in taints] + [OUT_OF_SERVICE_TAINT]
    client.patch(Node, node, {"spec": {"taints": raw}})


def remove_taint(client: Client, node: str, key: str = OUT_OF_SERVICE_TAINT["key"]) -> None:
    """Take a taint (by key) off a node: the pressure is over, the node is back in service."""
    taints = list(client.get(Node, node).spec.taints or [])  # type: ignore[union-attr]
    client.patch(Node, node, {"spec": {"taints": [t.to_dict() for t in taints if t.key != key]}})


PRESSURE_TAINTS = {
    "memory": "node.kubernetes.io/memory-pressure",
    "ephemeral-storage": "node.kubernetes.io/disk-pressure",
}
_PRESSURE_CONDITIONS = {"memory": "MemoryPressure", "ephemeral-storage": "DiskPressure"}


def _set_pressure(client: Client, node: str, resource: str, pressed: bool) -> None:
    """Set the node's pressure condition as its kubelet reports it (nodes/status)."""
    condition = {
        "type": _PRESSURE_CONDITIONS[resource],
        "status": "True" if pressed else "False",
        "reason": "KubeletHasInsufficientMemory" if pressed else "KubeletHasSufficientMemory",
        "message": f"kubelet has {'insufficient' if pressed else 'sufficient'} {resource}",
    }
    client.patch(Node.Status, node, {"status": {"conditions": [condition]}})


def press_node(client: Client, pod: Pod, resource: str = "memory") -> None:
    """Put the pod's node under pressure on ``resource``: its kubelet (kwok) evicts the pod.

    First the node reports the pressure condition, as kubelet does, and the node-lifecycle
    controller turns it into a NoSchedule taint (TaintNodesByCondition); once the taint is there
    the pod is evicted, so its retry is not scheduled back onto the pressed node. kwok's
    heartbeat rewrites the conditions only every 10 minutes; `relieve_node` ends the pressure.
    """
    metadata = pod.metadata
    assert metadata is not None
    assert pod.spec is not None
    node = str(pod.spec.nodeName)
    _set_pressure(client, node, resource, pressed=True)
    deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
    while not any(t.key == PRESSURE_TAINTS[resource] for t in _taints(client, node)):
        if time.monotonic() > deadline:
            raise ControlPlaneError(f"node-lifecycle did not taint {node} for {resource}")
        time.sleep(_POLL_SECONDS)
    client.patch(
        Pod,
        str(metadata.name),
        {"metadata": {"annotations": {"kwok.kubeflow-spot/node-pressure": resource}}},
        namespace=metadata.namespace,
    )


def _taints(client: Client, node: str) -> list[Any]:
    spec = client.get(Node, node).spec
    return list((spec.taints if spec else None) or [])


def relieve_node(client: Client, node: str, resource: str = "memory") -> None:
    """End the pressure on a node: node-lifecycle then takes its taint off."""
    _set_pressure(client, node, resource, pressed=False)


def vm_gone(cluster: E2ECluster, client: Client, node: str) -> None:
    """Make a spot VM vanish: its kubelet dies at once, the cloud provider deletes the Node.

    PodGC then marks the node's pods Failed and force-deletes them (after its 40 s quarantine).
    """
    cluster.kill_kwok(node)
    client.delete(Node, node)
