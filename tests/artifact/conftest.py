"""Fixtures for the tests of the packed charm: the .charm file, CPython 3.12, a unit to run it.

The artifact is what `make charm` built (or $KUBEFLOW_SPOT_CHARM). Nothing here is skipped:
a missing artifact, charmcraft or CPython 3.12 fails the tests with what to do about it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from lightkube import Client

from localcluster.harness import ControlPlane
from localcluster.seed import KUBEFLOW_NAMESPACE, seed_aks_kubeflow
from pack.unit import Unit, find_python312, unpack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def charm_file() -> Path:
    """Return the packed charm under test."""
    path = Path(os.environ.get("KUBEFLOW_SPOT_CHARM", ROOT / "kubeflow-spot_amd64.charm"))
    if not path.is_file():
        pytest.fail(f"{path} does not exist; run `make charm` first")
    return path


@pytest.fixture(scope="session")
def python312() -> Path:
    """Return a CPython 3.12, the interpreter of the charm's base (Ubuntu 24.04)."""
    python = find_python312()
    if python is None:
        pytest.fail(
            "no CPython 3.12 found (the charm's wheels are cp312): set CHARM_PYTHON to one,"
            " or install one as python3.12 on PATH or under pyenv"
        )
    return python


@pytest.fixture(scope="session")
def unpacked_charm(
    charm_file: Path, python312: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Unpack the charm once; its first hook compiles the bytecode, as on a unit."""
    charm_dir = unpack(charm_file, tmp_path_factory.mktemp("unpacked") / "charm")
    first = Unit(charm_dir, python312, leader=False).dispatch("update-status")
    assert first.returncode == 0, first.output
    (charm_dir / ".unit-state.db").unlink()
    return charm_dir


@pytest.fixture
def unit(unpacked_charm: Path, python312: Path, tmp_path: Path) -> Unit:
    """Return a leader unit of a fresh copy of the charm in the Kubeflow model, with no cluster."""
    charm_dir = shutil.copytree(unpacked_charm, tmp_path / "charm", symlinks=True)
    return Unit(charm_dir, python312, model=KUBEFLOW_NAMESPACE)


@pytest.fixture(scope="module")
def control_plane() -> Iterator[ControlPlane]:
    """Return a real control plane seeded like Charmed Kubeflow on AKS, for one test module."""
    with ControlPlane() as plane:
        with plane.client() as client:
            seed_aks_kubeflow(client)
        yield plane


@pytest.fixture
def client(control_plane: ControlPlane) -> Iterator[Client]:
    """Return an admin client of the control plane."""
    with control_plane.client() as kube:
        yield kube
