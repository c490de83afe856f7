"""Fixtures for the charm's unit tests: the charm's metadata and a fake cluster at the seam."""

from __future__ import annotations

import pytest
from ops import testing

from charm import KubeflowSpotCharm
from localcluster.charm_context import charm_context
from tests.unit.fake_k8s import FakeCluster, configmap_owned_by
from tests.unit.shared import ARGO_CONFIGMAP, ARGO_CONTROLLER_DATA, MODEL, PROFILES


@pytest.fixture
def cluster() -> FakeCluster:
    """Return a cluster shaped like Charmed Kubeflow: PodDefault CRD, Argo ConfigMap, profiles."""
    fake = FakeCluster()
    crd_spec = {
        "group": "kubeflow.org",
        "names": {"kind": "PodDefault", "plural": "poddefaults"},
        "scope": "Namespaced",
        "versions": [],
    }
    fake.add(
        "CustomResourceDefinition",
        {"metadata": {"name": "poddefaults.kubeflow.org"}, "spec": crd_spec},
    )
    fake.add(
        "ConfigMap", configmap_owned_by(ARGO_CONFIGMAP, MODEL, ARGO_CONTROLLER_DATA, "lightkube")
    )
    for name in PROFILES:
        labels = {"app.kubernetes.io/part-of": "kubeflow-profile"}
        fake.add("Namespace", {"metadata": {"name": name, "labels": labels}})
    fake.add("Namespace", {"metadata": {"name": "kube-system"}})
    return fake


@pytest.fixture
def ctx(cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch) -> testing.Context:
    """Return a Context for the charm, its lightkube seam answered by the fake cluster."""
    monkeypatch.setattr(KubeflowSpotCharm, "lightkube_client", lambda self: cluster)
    return charm_context()
