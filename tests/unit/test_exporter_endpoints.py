"""The exporter's config file, its metric text and its HTTP endpoints, without a cluster."""

from __future__ import annotations

import json
import os
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from lightkube.resources.core_v1 import Node, Pod
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from exporter.config import ConfigFile, ConfigFileError, parse_exporter_config
from exporter.live import LivePlacement
from exporter.server import exporter_app
from exporter.watch import Backoff
from tests.unit.aks_cluster import manifests

POD_NAMES = {pod["metadata"]["name"] for pod in manifests()["pods"]}


def test_options_left_out_take_the_charms_defaults():
    config = parse_exporter_config(json.dumps({"retry-limit": 2, "model-namespace": "kf"}))

    assert config.spot.retry.limit == 2
    assert config.spot.workloads == ("pipelines", "training", "hpo")
    assert (config.spot_discount, "kf" in config.control_plane_namespaces) == (0.7, True)


def test_options_the_verdicts_do_not_read_are_accepted():
    # The charm pushes every option it has (cos-15's note), some of which SpotConfig never reads.
    config = parse_exporter_config('{"pod-defaults-delivery": "auto", "some-later-option": 1}')

    assert config.spot.retry.limit == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1]", "not a JSON object"),
        ("{", "not JSON"),
        ('{"spot-discount": 2}', "spot-discount=2 is invalid: a number from 0 to 1"),
        ('{"spot-workloads": "notebooks"}', "spot-workloads='notebooks' is invalid"),
        ('{"retry-limit": "x", "spot-placement": "nope"}', "retry-limit='x' is invalid"),
    ],
)
def test_a_bad_config_file_names_the_option_the_value_and_what_is_accepted(text, message):
    with pytest.raises(ConfigFileError, match=message.replace("(", r"\(")):
        parse_exporter_config(text)


def test_the_config_file_is_read_again_only_when_it_changed(tmp_path: Path):
    path = tmp_path / "exporter.json"
    path.write_text('{"retry-limit": 3}')
    config_file = ConfigFile(path)
    first = config_file.read()
    unchanged = config_file.changed()
    replacement = tmp_path / "new.json"
    replacement.write_text('{"retry-limit": 4}')
    os.replace(replacement, path)  # how a push replaces a file: a new inode

    assert first is not None
    assert (first.spot.retry.limit, unchanged) == (3, False)
    assert config_file.changed()
    second = config_file.read()
    assert second is not None
    assert second.spot.retry.limit == 4


def live_with_fixture(tmp_path: Path, text: str = "{}") -> LivePlacement:
    """Return a live placement whose watches listed the fixture cluster (lightkube models)."""
    path = tmp_path / "exporter.json"
    path.write_text(text)
    live = LivePlacement(ConfigFile(path))
    live.nodes.listed([Node.from_dict(node) for node in manifests()["nodes"]])
    live.pods.listed([Pod.from_dict(pod) for pod in manifests()["pods"]])
    return live


def scrape(live: LivePlacement) -> dict[str, list[Any]]:
    registry = CollectorRegistry()
    registry.register(live)
    text = generate_latest(registry).decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def test_no_metric_has_a_per_pod_label_or_value(tmp_path):
    families = scrape(live_with_fixture(tmp_path))

    labels = {name for samples in families.values() for s in samples for name in s.labels}
    values = {
        value for samples in families.values() for s in samples for value in s.labels.values()
    }
    assert labels <= {
        "namespace", "workload_class", "verdict", "signal", "capacity", "pool", "state",
        "resource", "type", "cloud", "spot_placement", "eligible_classes", "retry_on",
        "retry_limit", "spot_discount",
    }  # fmt: skip
    assert not values & POD_NAMES
    assert sum(s.value for s in families["kubeflow_spot_pods"]) == 11


def test_a_changed_config_file_changes_the_verdicts_without_a_restart(tmp_path):
    live = live_with_fixture(tmp_path)
    before = scrape(live)["kubeflow_spot_pods"]
    replacement = tmp_path / "new.json"
    replacement.write_text('{"spot-workloads": "pipelines"}')
    os.replace(replacement, tmp_path / "exporter.json")

    assert live.reload_config()
    after = scrape(live)["kubeflow_spot_pods"]
    missed = [s for s in after if s.labels["verdict"] == "missed"]
    assert missed != [s for s in before if s.labels["verdict"] == "missed"]
    assert {s.labels["workload_class"] for s in missed} <= {"pipelines"}


def test_an_invalid_config_keeps_the_last_good_one_and_says_so(tmp_path):
    live = live_with_fixture(tmp_path, '{"retry-limit": 2}')
    (tmp_path / "exporter.json").write_text('{"retry-limit": 99}')

    assert not live.reload_config()
    families = scrape(live)
    assert families["kubeflow_spot_config_valid"][0].value == 0
    assert families["kubeflow_spot_config_info"][0].labels["retry_limit"] == "2"


def call(app: Any, path: str) -> tuple[str, bytes]:
    status: list[str] = []
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "wsgi.input": BytesIO(b"")}
    body = b"".join(app(environ, lambda s, headers: status.append(s)))
    return status[0], body


def test_healthz_is_503_until_both_watches_are_synced(tmp_path):
    path = tmp_path / "exporter.json"
    path.write_text("{}")
    live = LivePlacement(ConfigFile(path))
    registry = CollectorRegistry()
    registry.register(live)
    app = exporter_app(registry, live.health)

    before = call(app, "/healthz")
    live.nodes.status(synced=True)
    half = call(app, "/healthz")
    live.pods.status(synced=True)

    assert (before[0][:3], b"nodes: not synced" in before[1]) == ("503", True)
    assert (half[0][:3], b"nodes" in half[1]) == ("503", False)
    assert call(app, "/healthz")[0].startswith("200")
    status, body = call(app, "/metrics")
    assert (status[:3], b"kubeflow_spot_watch_up" in body) == ("200", True)


def test_without_argos_crd_healthz_passes_and_says_so_and_workflows_are_down(tmp_path):
    live = live_with_fixture(tmp_path)
    for sink in (live.nodes, live.pods):
        sink.status(synced=True)
    problem = "404 Not Found: the resource is not served (its CRD is not installed)"
    live.workflows.status(synced=False, problem=problem)

    healthy, reason = live.health()
    up = {s.labels["resource"]: s.value for s in scrape(live)["kubeflow_spot_watch_up"]}

    assert (healthy, reason) == (True, f"nodes and pods synced; workflows: not synced ({problem})")
    assert up == {"nodes": 1, "pods": 1, "workflows": 0}


def test_backoff_doubles_to_its_ceiling_and_resets():
    backoff = Backoff(first=0.5, most=4)
    delays = [backoff.next_delay() for _ in range(6)]
    backoff.reset()

    assert delays == [0.5, 1, 2, 4, 4, 4]
    assert backoff.next_delay() == 0.5
