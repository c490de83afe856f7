"""The unpacked charm's own dispatch against a real kube-apiserver, through its kubeconfig.

lightkube's Client() reads $KUBECONFIG when it is not in a pod, so the packed charm, on
CPython 3.12 with its own venv, reconciles the seeded control plane exactly as on a unit.
"""

from __future__ import annotations

import pytest

from localcluster.seed import PROFILE_NAMESPACE
from tests.cluster.charm_on_cluster import argo_configmap, owners, poddefaults

pytestmark = pytest.mark.cluster


@pytest.fixture
def unit_on_cluster(unit, control_plane, client):
    """Yield the unit with the admin kubeconfig; remove the application afterwards."""
    unit.kubeconfig = control_plane.kubeconfig_path
    yield unit
    removed = unit.dispatch("remove", planned_units=0)
    assert removed.returncode == 0, removed.output


def test_install_applies_the_defaults_and_reports_active(unit_on_cluster, client):
    result = unit_on_cluster.dispatch("install")

    assert result.returncode == 0, result.output
    assert result.status == (
        "active",
        "spot: pipelines,training,hpo · require · retry 5× at once on evictions"
        " (set_retry steps: their own policy) · on-demand after 2 evictions"
        " · direct to 1 namespace"
        # No Pebble here: the charm's job is done all the same, and the status says so.
        " · exporter container not reachable yet; metrics are off, defaults still apply",
    )
    assert set(poddefaults(client, PROFILE_NAMESPACE)) == {
        "kubeflow-spot-training",
        "kubeflow-spot-trainjob",
        "kubeflow-spot-hpo",
    }
    assert owners(argo_configmap(client))["workflowDefaults"] == {"kubeflow-spot"}


def test_config_changed_prunes_the_poddefaults_no_longer_wanted(unit_on_cluster, client):
    unit_on_cluster.dispatch("install")
    unit_on_cluster.config = {"spot-workloads": "pipelines,hpo", "spot-placement": "prefer"}

    result = unit_on_cluster.dispatch("config-changed")

    assert result.returncode == 0, result.output
    assert result.status is not None
    assert result.status[0] == "active"
    assert set(poddefaults(client, PROFILE_NAMESPACE)) == {"kubeflow-spot-hpo"}


def test_invalid_config_writes_nothing(unit_on_cluster, client):
    before = argo_configmap(client).data
    unit_on_cluster.config = {"spot-profile": "azure"}

    result = unit_on_cluster.dispatch("config-changed")

    assert result.status is not None
    assert result.status[0] == "blocked"
    assert poddefaults(client, PROFILE_NAMESPACE) == {}
    assert argo_configmap(client).data == before


def test_remove_of_the_last_unit_deletes_everything_it_applied(unit_on_cluster, client):
    unit_on_cluster.dispatch("install")

    result = unit_on_cluster.dispatch("remove", planned_units=0)

    assert result.returncode == 0, result.output
    assert poddefaults(client, PROFILE_NAMESPACE) == {}
    # Argo's ConfigMap stays, with argo-controller's keys: only the charm's key is gone.
    assert "workflowDefaults" not in argo_configmap(client).data
