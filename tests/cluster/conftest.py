"""Fixtures for tests against a real local control plane (see localcluster/).

Every test under tests/cluster gets the ``cluster`` marker. The tests are skipped only when
KUBEFLOW_SPOT_SKIP_CLUSTER=1; missing binaries are an error, so a CI that forgot to run
localcluster/build.sh cannot pass by silently skipping.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lightkube import Client
from ops import testing

from charm import KubeflowSpotCharm
from localcluster.audit import AuditLog
from localcluster.charm_context import charm_context
from localcluster.harness import ControlPlane, CountingTransport
from localcluster.seed import (
    KUBEFLOW_NAMESPACE,
    PROFILE_NAMESPACE,
    delete_pods,
    seed_aks_kubeflow,
)
from tests.fuzz.survey import FUZZ_SUMMARY

CLUSTER_TESTS = Path(__file__).parent
SKIP_VARIABLE = "KUBEFLOW_SPOT_SKIP_CLUSTER"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark (and, on request, skip) the tests of this directory only.

    This hook sees every collected item of the session, not just this directory's.
    """
    skip = os.environ.get(SKIP_VARIABLE) == "1"
    for item in items:
        if not item.path.is_relative_to(CLUSTER_TESTS):
            continue
        item.add_marker(pytest.mark.cluster)
        if skip:
            item.add_marker(
                pytest.mark.skip(reason=f"{SKIP_VARIABLE}=1: local control plane tests disabled")
            )


_STARTUP = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """One seeded control plane for the whole session, always torn down; it audits requests."""
    with ControlPlane(audit=True) as plane:
        began = time.monotonic()
        with plane.client() as client:
            seed_aks_kubeflow(client)
        request.config.stash[_STARTUP] = (
            f"local control plane ready in {plane.startup_seconds:.1f} s,"
            f" seeded in {time.monotonic() - began:.1f} s"
        )
        yield plane


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Report how long the control plane took to start, and what each fuzz run found."""
    if _STARTUP in config.stash:
        terminalreporter.write_line(config.stash[_STARTUP])
    for line in config.stash.get(FUZZ_SUMMARY, []):
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def audit_log(control_plane: ControlPlane) -> AuditLog:
    """Return the API server's audit log: every request of every client, to count them."""
    assert control_plane.audit_log_path is not None
    return AuditLog(control_plane.audit_log_path)


@pytest.fixture(scope="session")
def client(control_plane: ControlPlane) -> Iterator[Client]:
    """Admin lightkube client of the session's control plane."""
    with control_plane.client(field_manager="kubeflow-spot-tests") as kube:
        yield kube


@pytest.fixture
def profile_pods(client: Client) -> Iterator[str]:
    """Yield the profile namespace; delete its pods after the test (no kubelet does it)."""
    yield PROFILE_NAMESPACE
    delete_pods(client, PROFILE_NAMESPACE)


@pytest.fixture
def ctx(client: Client, monkeypatch: pytest.MonkeyPatch) -> Iterator[testing.Context]:
    """Yield a Context for the charm whose lightkube seam is the real control plane.

    Afterwards the charm's own removal takes away what it applied, so every test starts from
    the seeded cluster.
    """
    monkeypatch.setattr(KubeflowSpotCharm, "lightkube_client", lambda self: client)
    context = charm_context()
    yield context
    last_unit = testing.State(
        leader=True, planned_units=0, model=testing.Model(name=KUBEFLOW_NAMESPACE)
    )
    context.run(context.on.remove(), last_unit)


@pytest.fixture
def charm_client(
    control_plane: ControlPlane, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CountingTransport]:
    """Give the charm its own real client whose every request is counted; yield its transport."""
    kube, transport = control_plane.counting_client(field_manager="kubeflow-spot")
    monkeypatch.setattr(KubeflowSpotCharm, "lightkube_client", lambda self: kube)
    yield transport
    kube.close()
