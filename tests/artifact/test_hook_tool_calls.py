"""How many hook tool calls the packed charm makes: under a real Juju each is a round trip.

ops turns every log record that reaches the root logger into one `juju-log` process on a unit,
so a record per HTTP request (httpx, httpcore, lightkube log a dozen each at DEBUG) would make a
200-namespace reconcile take minutes. Counted here on the packed charm's own dispatch, under
the stand-in hook tools, against a real API server with 200 profile namespaces.
"""

from __future__ import annotations

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

pytestmark = pytest.mark.cluster

PROFILES = 200


@pytest.fixture(scope="module")
def profiles(control_plane):
    """Create 200 profile namespaces besides the seeded one."""
    with control_plane.client(field_manager="kubeflow-spot-tests") as client:
        for index in range(PROFILES):
            labels = {"app.kubernetes.io/part-of": "kubeflow-profile"}
            namespace = Namespace(metadata=ObjectMeta(name=f"team-{index:03d}", labels=labels))
            client.apply(namespace)
    return PROFILES + 1  # and the seeded admin profile


@pytest.fixture
def leader(unit, control_plane, profiles):
    """Yield the leader unit on the cluster; remove the application afterwards."""
    unit.kubeconfig = control_plane.kubeconfig_path
    yield unit
    removed = unit.dispatch("remove", planned_units=0, timeout=600)
    assert removed.returncode == 0, removed.output


def test_a_reconcile_of_200_namespaces_makes_at_most_10_juju_log_calls(leader, profiles):
    result = leader.dispatch("config-changed", timeout=600)

    assert result.returncode == 0, result.output
    assert result.status is not None
    # The stand-in unit has no Pebble: the status also says the exporter is not reachable.
    expected = f"direct to {profiles} namespaces · exporter container not reachable"
    assert expected in result.status[1]
    assert len(result.tool_calls("juju-log")) <= 10, result.tool_calls("juju-log")[:20]


def test_a_no_op_update_status_makes_at_most_3_juju_log_calls(leader, profiles):
    leader.dispatch("config-changed", timeout=600)

    result = leader.dispatch("update-status", timeout=600)

    assert result.returncode == 0, result.output
    assert result.status is not None
    assert result.status[0] == "active"
    assert len(result.tool_calls("juju-log")) <= 3, result.tool_calls("juju-log")


def test_pruning_a_class_from_200_namespaces_makes_at_most_10_juju_log_calls(leader, profiles):
    leader.dispatch("config-changed", timeout=600)
    leader.config = {"spot-workloads": "pipelines,hpo"}

    result = leader.dispatch("config-changed", timeout=600)

    assert result.returncode == 0, result.output
    assert result.status is not None
    assert result.status[0] == "active"
    assert len(result.tool_calls("juju-log")) <= 10, result.tool_calls("juju-log")[:20]
