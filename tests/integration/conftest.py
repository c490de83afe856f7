"""Fixtures for the integration tests: a real Juju controller on Kubernetes, or a clean skip.

These tests run only when a Juju controller on a Kubernetes cloud is reachable; the check runs
`juju` itself. Without one, every test in this directory is skipped with the reason, and no
test outside it is touched. They run in their own environment (tests/integration/pyproject.toml,
synced by `make integration`), apart from the unit tests'.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import jubilant
import pytest
from lightkube import Client

INTEGRATION_TESTS = Path(__file__).resolve().parent
ROOT = INTEGRATION_TESTS.parents[1]
_JUJU_TIMEOUT_SECONDS = 30


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--charm",
        default=os.environ.get("KUBEFLOW_SPOT_CHARM", str(ROOT / "kubeflow-spot_amd64.charm")),
        help="the packed charm to deploy (charmcraft pack or make charm)",
    )
    parser.addoption("--model", default=None, help="use this existing model, not a new one")
    parser.addoption("--keep-models", action="store_true", help="keep the model afterwards")


def _juju_json(*args: str) -> object:
    completed = subprocess.run(
        ["juju", *args, "--format=json"],
        capture_output=True,
        text=True,
        timeout=_JUJU_TIMEOUT_SECONDS,
        check=True,
    )
    return json.loads(completed.stdout)


@cache
def controller_unavailable() -> str | None:
    """Return why no usable controller is reachable, or None when one is."""
    if shutil.which("juju") is None:
        return "the juju CLI is not installed, so no Juju controller is reachable"
    try:
        # Listing models needs a live connection to the controller, not only its cached details.
        _juju_json("models")
        controllers = _juju_json("show-controller")
    except subprocess.CalledProcessError as error:
        said = (error.stderr or "").strip().splitlines()[:1] or ["`juju models` failed"]
        return f"no Juju controller is reachable ({said[0]})"
    except (subprocess.TimeoutExpired, json.JSONDecodeError) as error:
        return f"no Juju controller is reachable ({error})"
    assert isinstance(controllers, dict)
    name, info = next(iter(controllers.items()))
    try:
        cloud = _juju_json("show-cloud", "--controller", name, info["details"]["cloud"])
    except (subprocess.SubprocessError, json.JSONDecodeError, KeyError):
        return None  # cannot tell the cloud's type: let the tests try
    cloud_type = cloud.get("type") if isinstance(cloud, dict) else None
    if cloud_type not in (None, "k8s"):
        return f"controller {name} is on a {cloud_type} cloud; kubeflow-spot needs Kubernetes"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip this directory's tests, and only those, when no controller is reachable."""
    mine = [item for item in items if item.path.is_relative_to(INTEGRATION_TESTS)]
    reason = controller_unavailable() if mine else None
    if reason:
        for item in mine:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def charm(request: pytest.FixtureRequest) -> Path:
    """Return the packed charm to deploy."""
    path = Path(request.config.getoption("--charm")).resolve()
    if not path.is_file():
        pytest.fail(f"{path} does not exist: run `charmcraft pack` or `make charm`")
    return path


@pytest.fixture(scope="module")
def juju(request: pytest.FixtureRequest) -> Iterator[jubilant.Juju]:
    """Return a Juju model for one test module: a new temporary one unless --model names one."""
    model = request.config.getoption("--model")
    if model:
        yield jubilant.Juju(model=model, wait_timeout=30 * 60)
        return
    with jubilant.temp_model(keep=request.config.getoption("--keep-models")) as temp:
        temp.wait_timeout = 30 * 60
        yield temp
        if request.session.testsfailed:
            print(temp.debug_log(limit=200))


@pytest.fixture(scope="module")
def kube(juju: jubilant.Juju) -> Iterator[Client]:
    """Return a lightkube client of the model's cluster ($KUBECONFIG or ~/.kube/config)."""
    assert juju.model is not None
    with Client(namespace=juju.model, field_manager="kubeflow-spot-integration-tests") as client:
        yield client
