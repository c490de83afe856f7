"""kubeflow-spot deployed with --trust beside Charmed Kubeflow's charms on a real Juju.

One model per module; the tests run in order and build on each other, as an operator would:
deploy, integrate, configure, use the actions, reconfigure, remove. Every check reads the
cluster itself or the charm's own answers through Juju.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import jubilant
import pytest
import yaml
from lightkube import Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace

APP = "kubeflow-spot"
UNIT = f"{APP}/0"
ARGO_CONFIGMAP = "argo-workflow-controller-configmap"
PROFILE = "kubeflow-spot-it-user"
PodDefault = create_namespaced_resource("kubeflow.org", "v1alpha1", "PodDefault", "poddefaults")

# Charmed Kubeflow's charms from Charmhub. The default channels follow the newest CKF release;
# KUBEFLOW_SPOT_CHANNEL_<APP> (e.g. KUBEFLOW_SPOT_CHANNEL_ARGO_CONTROLLER=3.4/stable) pins one.
NEIGHBOURS = {
    "admission-webhook": True,  # name: deploy with --trust
    "argo-controller": True,
    "minio": False,  # argo-controller's object storage
    "metacontroller-operator": True,  # resource-dispatcher's controller
    "resource-dispatcher": True,
}
RELATIONS = [
    ("argo-controller:object-storage", "minio:object-storage"),
    (f"{APP}:pod-defaults", "resource-dispatcher:pod-defaults"),
]
REPORT_PLACEMENT_KEYS = {
    "summary", "pods-total", "pods-on-spot", "eligible-on-spot-percent", "missed", "at-risk",
    "stuck", "evictions", "spot-nodes", "on-demand-nodes", "savings-pod-hours", "report",
}  # fmt: skip

T = TypeVar("T")


def _channel(app: str) -> str:
    return os.environ.get(
        f"KUBEFLOW_SPOT_CHANNEL_{app.upper().replace('-', '_')}", "latest/stable"
    )


def eventually(check: Callable[[], T], timeout: float = 300.0, every: float = 5.0) -> T:
    """Return check()'s result once it stops raising AssertionError, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(every)


def poddefault_names(kube: Client) -> set[str]:
    """Return the names of the PodDefaults kubeflow-spot manages in the test profile."""
    labels = {"app.kubernetes.io/managed-by": "kubeflow-spot"}
    return {p.metadata.name for p in kube.list(PodDefault, namespace=PROFILE, labels=labels)}


def argo_data(kube: Client, model: str) -> dict[str, str]:
    """Return the data of Argo's workflow-controller ConfigMap."""
    return dict(kube.get(ConfigMap, ARGO_CONFIGMAP, namespace=model).data or {})


def app_status(juju: jubilant.Juju) -> tuple[str, str]:
    """Return the charm's unit status as (current, message)."""
    unit = juju.status().apps[APP].units[UNIT]
    return unit.workload_status.current, unit.workload_status.message


@pytest.fixture(scope="module")
def profile(kube: Client) -> Iterator[str]:
    """Create a namespace that Kubeflow's profile controller would have made for a user."""
    labels = {"app.kubernetes.io/part-of": "kubeflow-profile", "user.kubeflow.org/enabled": "true"}
    kube.apply(Namespace(metadata=ObjectMeta(name=PROFILE, labels=labels)))
    yield PROFILE
    kube.delete(Namespace, PROFILE)


def test_deploy_beside_kubeflow_and_integrate(juju: jubilant.Juju, charm: Path, profile: str):
    for app, trust in NEIGHBOURS.items():
        juju.deploy(app, channel=_channel(app), trust=trust)
    # A local charm gets no resource from Charmhub: pass the image charmcraft.yaml points to.
    metadata = yaml.safe_load((Path(__file__).parents[2] / "charmcraft.yaml").read_text())
    image = metadata["resources"]["exporter-image"]["upstream-source"]
    juju.deploy(charm, APP, trust=True, resources={"exporter-image": image})
    for first, second in RELATIONS:
        juju.integrate(first, second)

    juju.wait(
        lambda status: jubilant.all_active(status, APP, "argo-controller", "admission-webhook"),
        error=lambda status: jubilant.any_error(status, APP),
    )


def test_poddefaults_reach_the_profile_namespace(juju: jubilant.Juju, kube: Client, profile: str):
    def present() -> set[str]:
        names = poddefault_names(kube)
        assert names == {f"{APP}-training", f"{APP}-hpo"}
        return names

    eventually(present)
    spec = kube.get(PodDefault, f"{APP}-training", namespace=PROFILE).spec
    assert spec["tolerations"][0]["key"] == "kubernetes.azure.com/scalesetpriority"


def test_argo_configmap_holds_the_workflow_defaults(juju: jubilant.Juju, kube: Client):
    assert juju.model is not None
    defaults = yaml.safe_load(argo_data(kube, juju.model)["workflowDefaults"])

    assert "retryStrategy" in defaults["spec"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" in json.dumps(
        defaults["spec"]["affinity"]
    )


def test_show_defaults_returns_what_is_applied(juju: jubilant.Juju, kube: Client):
    task = juju.run(UNIT, "show-defaults", {"format": "json"})

    assert task.success
    document = json.loads(task.results["defaults"])
    names = {m["metadata"]["name"] for m in document["podDefaults"]["manifests"]}
    assert names == poddefault_names(kube)


def test_report_placement_returns_every_figure(juju: jubilant.Juju):
    task = juju.run(UNIT, "report-placement", {"format": "json"})

    assert task.success
    assert set(task.results) >= REPORT_PLACEMENT_KEYS
    assert int(task.results["spot-nodes"]) >= 0
    json.loads(task.results["report"])


def test_config_change_is_applied_and_prunes(juju: jubilant.Juju, kube: Client):
    juju.config(APP, {"spot-workloads": "pipelines,hpo", "spot-placement": "prefer"})

    juju.wait(lambda status: jubilant.all_active(status, APP))
    eventually(lambda: _assert_equal(poddefault_names(kube), {f"{APP}-hpo"}))
    assert juju.model is not None
    defaults = yaml.safe_load(argo_data(kube, juju.model)["workflowDefaults"])
    assert "preferredDuringSchedulingIgnoredDuringExecution" in json.dumps(defaults["spec"])


def test_invalid_config_blocks_and_changes_nothing(juju: jubilant.Juju, kube: Client):
    assert juju.model is not None
    before = argo_data(kube, juju.model)

    juju.config(APP, {"spot-placement": "sometimes"})

    juju.wait(lambda status: jubilant.all_blocked(status, APP))
    assert "spot-placement='sometimes'" in app_status(juju)[1]
    assert argo_data(kube, juju.model) == before
    juju.config(APP, reset="spot-placement")
    juju.wait(lambda status: jubilant.all_active(status, APP))


def test_remove_application_cleans_up_only_its_own(juju: jubilant.Juju, kube: Client):
    assert juju.model is not None
    argo_keys = set(argo_data(kube, juju.model)) - {"workflowDefaults"}

    juju.remove_application(APP)

    juju.wait(lambda status: APP not in status.apps)
    assert poddefault_names(kube) == set()
    data = argo_data(kube, juju.model)
    assert "workflowDefaults" not in data
    assert set(data) == argo_keys


def _assert_equal(actual: object, expected: object) -> None:
    assert actual == expected
