"""Fixtures for the end-to-end tests: the real Argo workflow-controller on the local cluster.

One session: the control plane (localcluster.harness), seeded like CKF on AKS, plus kwok per
spot node, kube-controller-manager and Argo's workflow-controller (localcluster.e2e). Every
test here gets the ``e2e`` marker. ``KUBEFLOW_SPOT_SKIP_E2E=1`` skips them (with a reason);
missing binaries are an error, never a silent skip. When a test fails, the last lines of every
component's log are printed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from lightkube import ALL_NS, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, ServiceAccount
from ops import testing

from charm import KubeflowSpotCharm
from localcluster import kfp_v1 as kfp_v1_sdk
from localcluster.charm_context import charm_context
from localcluster.e2e import E2ECluster, TaskResultPlayer, start_e2e
from localcluster.harness import ControlPlane
from localcluster.seed import KUBEFLOW_NAMESPACE, PROFILE_NAMESPACE

E2E_TESTS = Path(__file__).parent
SKIP_VARIABLE = "KUBEFLOW_SPOT_SKIP_E2E"
V2_FIXTURE = E2E_TESTS / "fixtures" / "kfp-v2-two-steps.yaml"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = os.environ.get(SKIP_VARIABLE) == "1"
    for item in items:
        if not item.path.is_relative_to(E2E_TESTS):
            continue
        item.add_marker(pytest.mark.e2e)
        if skip:
            item.add_marker(pytest.mark.skip(reason=f"{SKIP_VARIABLE}=1: e2e tests disabled"))


_STARTUP = pytest.StashKey[str]()
_PLANE = pytest.StashKey[ControlPlane]()


class E2E:
    """What a test needs: the admin client, the cluster's components, the wait-container player."""

    def __init__(self, plane: ControlPlane, client: Client, cluster: E2ECluster) -> None:
        self.plane = plane
        self.client = client
        self.cluster = cluster
        self.namespace = PROFILE_NAMESPACE


@pytest.fixture(scope="session")
def e2e(request: pytest.FixtureRequest) -> Iterator[E2E]:
    """One cluster with Argo, kwok and kube-controller-manager for the session, torn down after."""
    with ControlPlane() as plane:
        began = time.monotonic()
        request.config.stash[_PLANE] = plane
        with plane.client(field_manager="kubeflow-spot-tests") as client:
            cluster = start_e2e(plane, client)
            request.config.stash[_STARTUP] = (
                f"e2e cluster ready in {plane.startup_seconds + time.monotonic() - began:.1f} s"
                " (control plane, kwok ×4, kube-controller-manager, workflow-controller)"
            )
            with TaskResultPlayer(client, ALL_NS):
                yield E2E(plane, client, cluster)


def own_namespace(e2e: E2E, name: str) -> str:
    """Create a namespace with KFP's `pipeline-runner` ServiceAccount, for one module's runs.

    A module that reports on its runs (report-placement namespace=...) counts only its own.
    """
    e2e.client.create(Namespace(metadata=ObjectMeta(name=name)))
    e2e.client.create(ServiceAccount(metadata=ObjectMeta(name="pipeline-runner", namespace=name)))
    return name


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    plane = item.config.stash.get(_PLANE, None)
    if plane is not None and report.failed and call.when == "call":
        plane.print_log_tails(40)
    return report


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    if _STARTUP in config.stash:
        terminalreporter.write_line(config.stash[_STARTUP])


@pytest.fixture
def charm(e2e: E2E, monkeypatch: pytest.MonkeyPatch) -> Iterator[testing.Context]:
    """Yield a Context for the charm whose lightkube seam is the e2e cluster; removed after."""
    monkeypatch.setattr(KubeflowSpotCharm, "lightkube_client", lambda self: e2e.client)
    context = charm_context()
    yield context
    last_unit = testing.State(
        leader=True, planned_units=0, model=testing.Model(name=KUBEFLOW_NAMESPACE)
    )
    context.run(context.on.remove(), last_unit)


@pytest.fixture(scope="session")
def kfp_v1(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Return the seed guide's pipelines compiled now by the KFP v1 SDK: base, spot, spot-retry."""
    python = kfp_v1_sdk.sdk_python()
    if not python.is_file():
        pytest.fail(f"no KFP v1 SDK at {python}: run `make kfp-sdk`", pytrace=False)
    return kfp_v1_sdk.compile_seed_pipelines(tmp_path_factory.mktemp("kfp-v1"))


@pytest.fixture(scope="session")
def kfp_v2() -> dict:
    """Return the KFP v2-backend-shaped two-task Workflow (tests/e2e/fixtures)."""
    return dict(yaml.safe_load(V2_FIXTURE.read_text()))
