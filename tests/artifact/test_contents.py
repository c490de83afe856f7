"""What the packed charm contains, checked against uv.lock, charmcraft.yaml and charmcraft."""

from __future__ import annotations

import json
import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker

from pack.build_charm import EXECUTABLES

ROOT = Path(__file__).resolve().parents[2]
CHARMCRAFT_BIN = ROOT / ".tools" / "charmcraft" / "bin"
# Environment markers of a unit: Ubuntu 24.04 on amd64, CPython 3.12.
UNIT_ENVIRONMENT = {
    "implementation_name": "cpython",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_system": "Linux",
    "python_full_version": "3.12.3",
    "python_version": "3.12",
    "sys_platform": "linux",
}


def _entries(charm_file: Path) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(charm_file) as archive:
        return {info.filename: info for info in archive.infolist()}


def _read_yaml(charm_file: Path, name: str) -> object:
    with zipfile.ZipFile(charm_file) as archive:
        return yaml.safe_load(archive.read(name))


def _charmcraft(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    if not (CHARMCRAFT_BIN / "charmcraft").is_file():
        pytest.fail(f"charmcraft is not installed in {CHARMCRAFT_BIN.parent}; run `make artifact`")
    # Own HOME and runtime dir: charmcraft writes logs under HOME and warns without the latter.
    env = {**os.environ, "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)}
    return subprocess.run(
        [str(CHARMCRAFT_BIN / args[0]), *args[1:]],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_charmcraft_analyse_reports_no_error_or_warning(charm_file, tmp_path):
    analysed = _charmcraft(
        "charmcraft", "analyse", "--format=json", str(charm_file), tmp_path=tmp_path
    )

    assert analysed.returncode == 0, analysed.stderr
    results = {r["name"]: r for r in json.loads(analysed.stdout)}
    bad = {
        n: r["text"] for n, r in results.items() if r["result"] in ("error", "fatal", "warning")
    }
    assert bad == {}
    assert results["entrypoint"]["result"] == "ok"
    assert results["ops-main-call"]["result"] == "ok"


def test_manifest_attributes_are_what_charmcraft_analyse_finds(charm_file, tmp_path):
    analysed = _charmcraft(
        "charmcraft", "analyse", "--format=json", str(charm_file), tmp_path=tmp_path
    )

    found = {
        r["name"]: r["result"]
        for r in json.loads(analysed.stdout)
        if r["check_type"] == "attribute"
    }
    manifest = _read_yaml(charm_file, "manifest.yaml")
    assert {a["name"]: a["result"] for a in manifest["analysis"]["attributes"]} == found
    assert found == {"language": "python", "framework": "operator"}


def test_manifest_runs_on_ubuntu_24_04_amd64(charm_file):
    manifest = _read_yaml(charm_file, "manifest.yaml")

    assert manifest["bases"] == [
        {"name": "ubuntu", "channel": "24.04", "architectures": ["amd64"]}
    ]


def test_metadata_is_what_charmcraft_derives_from_charmcraft_yaml(charm_file, tmp_path):
    derive = (
        "import json, sys, yaml\n"
        "from charmcraft.models.metadata import CharmMetadata\n"
        "from charmcraft.models.project import CharmcraftProject\n"
        "project = CharmcraftProject.unmarshal(yaml.safe_load(open(sys.argv[1])))\n"
        "print(json.dumps(CharmMetadata.from_charm(project).marshal()))\n"
    )
    derived = _charmcraft("python", "-c", derive, str(ROOT / "charmcraft.yaml"), tmp_path=tmp_path)

    assert derived.returncode == 0, derived.stderr
    assert _read_yaml(charm_file, "metadata.yaml") == json.loads(derived.stdout)


@pytest.mark.parametrize("name", ["config.yaml", "actions.yaml"])
def test_config_and_actions_are_the_project_files(charm_file, name):
    with zipfile.ZipFile(charm_file) as archive:
        assert archive.read(name) == (ROOT / name).read_bytes()


def test_only_dispatch_and_the_entrypoint_are_executable(charm_file):
    modes = {
        name: (info.external_attr >> 16) & 0o777 for name, info in _entries(charm_file).items()
    }

    assert {name for name, mode in modes.items() if mode == 0o755} == EXECUTABLES
    assert {mode for name, mode in modes.items() if name not in EXECUTABLES} == {0o644}


def test_every_source_and_template_is_packed_without_bytecode(charm_file):
    names = set(_entries(charm_file))
    expected = {
        p.relative_to(ROOT).as_posix()
        for d in ("src", "templates")
        for p in (ROOT / d).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }

    assert expected <= names
    # Exactly the tree: packages such as src/placement/ included, no module left from an old
    # layout.
    assert {n for n in names if n.startswith(("src/", "templates/"))} == expected
    assert "src/placement/__init__.py" in expected
    # What the COS relations send: Prometheus's alert rules and Grafana's dashboard.
    assert "src/prometheus_alert_rules/kubeflow_spot.rules" in names
    assert "src/grafana_dashboards/kubeflow-spot.json" in names
    assert not [n for n in names if n.endswith(".pyc") or n.startswith("venv/bin/")]


def test_venv_holds_exactly_the_runtime_packages_locked_in_uv_lock(charm_file):
    exported = subprocess.run(
        [str(ROOT / ".tools" / "uv" / "bin" / "uv"), "export", "--frozen", "--no-dev",
         "--no-emit-project", "--no-hashes", "--no-header", "--no-annotate"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    locked = set()
    for line in exported.stdout.splitlines():
        requirement, _, marker = line.partition(" ; ")
        if marker and not Marker(marker).evaluate(UNIT_ENVIRONMENT):
            continue  # e.g. browser-only (emscripten) dependencies
        name, _, version = requirement.partition("==")
        locked.add((re.sub(r"[-_.]+", "_", name).lower(), version))
    dist_info = re.compile(r"^venv/([^/]+)-([^-/]+)\.dist-info/METADATA$")
    packed = {(m[1].lower(), m[2]) for n in _entries(charm_file) if (m := dist_info.match(n))}

    assert packed == locked


def test_compiled_dependencies_are_cpython_3_12_manylinux_builds(charm_file):
    extensions = [n for n in _entries(charm_file) if n.endswith(".so")]

    assert "venv/msgspec/_core.cpython-312-x86_64-linux-gnu.so" in extensions
    assert all(".cpython-312-x86_64-linux-gnu.so" in n for n in extensions)
