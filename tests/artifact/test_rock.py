"""rockcraft.yaml, the exporter's image, checked without rockcraft (it needs snapd and LXD).

The keys are checked against rockcraft's documented schema (schema/rockcraft.json of
canonical/rockcraft: its top-level properties and required keys, and its Pebble Service and
HttpCheck models), the parts by craft-parts itself (charmcraft's, installed by `make artifact`:
the same plugin models rockcraft validates with), and the paths and service against the Pebble
layer the charm plans.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from workload_layer import CODE_DIR, CONFIG_PATH, PORT, SERVICE, exporter_layer

ROOT = Path(__file__).resolve().parents[2]
CHARMCRAFT_PYTHON = ROOT / ".tools" / "charmcraft" / "bin" / "python"
# rockcraft.json: "properties" of the project, and "required".
TOP_LEVEL_KEYS = {
    "name", "title", "version", "summary", "description", "base", "build-base", "platforms",
    "contact", "issues", "source-code", "license", "adopt-info", "parts",
    "package-repositories", "environment", "run-user", "services", "checks",
    "entrypoint-service", "entrypoint-command",
}  # fmt: skip
REQUIRED_KEYS = {"name", "summary", "description", "base", "platforms", "parts"}
BASES = {"bare", "ubuntu@20.04", "ubuntu@22.04", "ubuntu@24.04", "ubuntu@25.10"}
SERVICE_KEYS = {
    "override", "command", "summary", "description", "startup", "after", "before", "requires",
    "environment", "user", "user-id", "group", "group-id", "working-dir", "on-success",
    "on-failure", "on-check-failure", "backoff-delay", "backoff-factor", "backoff-limit",
    "kill-delay",
}  # fmt: skip
HTTP_CHECK_KEYS = {"override", "level", "period", "timeout", "threshold", "http"}
# Pebble's layer format for names; rockcraft.json: at most 40 characters.
NAME = re.compile(r"^[a-z](?:-?[a-z0-9])*$")


@pytest.fixture(scope="module")
def rock() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "rockcraft.yaml").read_text())
    return loaded


def test_top_level_keys_are_rockcrafts(rock):
    assert set(rock) <= TOP_LEVEL_KEYS
    assert set(rock) >= REQUIRED_KEYS
    assert NAME.match(rock["name"])
    assert len(rock["name"]) <= 40
    assert rock["base"] in BASES
    assert rock["run-user"] == "_daemon_"


def test_services_and_checks_use_pebbles_keys(rock):
    for service in rock["services"].values():
        assert set(service) <= SERVICE_KEYS
        assert service["override"] in {"merge", "replace"}
    for check in rock["checks"].values():
        assert set(check) <= HTTP_CHECK_KEYS
        assert set(check["http"]) <= {"url", "headers"}


def _validate_parts(parts: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    if not CHARMCRAFT_PYTHON.is_file():
        pytest.fail(f"{CHARMCRAFT_PYTHON} is missing; run `make artifact` (installs charmcraft)")
    script = (
        "import json, sys, craft_parts\n"
        "for name, part in json.load(sys.stdin).items():\n"
        "    craft_parts.validate_part(part)\n"
        "    print('valid', name)\n"
    )
    return subprocess.run(
        [str(CHARMCRAFT_PYTHON), "-c", script],
        input=json.dumps(parts),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_craft_parts_accepts_every_part(rock):
    validated = _validate_parts(rock["parts"])

    assert validated.returncode == 0, validated.stderr[-2000:]
    assert validated.stdout.split() == [w for name in rock["parts"] for w in ("valid", name)]


def test_craft_parts_rejects_a_misspelt_plugin_key(rock):
    misspelt = {"runtime": {**rock["parts"]["runtime"], "uv-group": ["dev"]}}

    validated = _validate_parts(misspelt)

    assert validated.returncode != 0
    assert "uv-group" in validated.stderr


def test_the_rock_keeps_src_where_the_charms_layer_puts_it_on_pythonpath(rock):
    organize = rock["parts"]["exporter"]["organize"]

    assert "/" + organize["src"] == CODE_DIR
    assert "/" + organize["config.yaml"] == str(Path(CODE_DIR).parent / "config.yaml")
    assert rock["environment"]["PYTHONPATH"] == CODE_DIR


def test_the_rocks_own_service_runs_what_the_charms_layer_runs(rock):
    charm_service = exporter_layer()["services"][SERVICE]

    assert rock["services"][SERVICE]["command"] == charm_service["command"]
    assert f"--config {CONFIG_PATH}" in charm_service["command"]
    assert f"--port {PORT}" in charm_service["command"]
    assert rock["checks"]["exporter-healthy"]["http"]["url"] == f"http://localhost:{PORT}/healthz"


def test_the_charm_resource_pulls_the_tag_ci_publishes(rock):
    charmcraft = yaml.safe_load((ROOT / "charmcraft.yaml").read_text())

    resource = charmcraft["resources"]["exporter-image"]
    assert resource["type"] == "oci-image"
    assert resource["upstream-source"] == (
        f"ghcr.io/canonical/{rock['name']}:{rock['version']}-{rock['base'].split('@')[1]}"
    )
    assert charmcraft["containers"]["exporter"]["resource"] == "exporter-image"
