"""The report's slim views of Pods and Nodes read the same facts as lightkube's full models.

The views decode only the fields the reader copies; if the reader starts reading a field the
views lack, the facts differ here (and mypy flags the attribute).
"""

from __future__ import annotations

import json

import msgspec
import pytest
from lightkube.resources import core_v1

from placement import views
from placement.reader import node_facts, pod_facts
from tests.unit.aks_cluster import manifests


def _wire(manifest, view):
    """Decode a manifest as lightkube decodes a LIST page: JSON bytes into the struct."""
    return msgspec.json.decode(json.dumps(manifest).encode(), type=view)


@pytest.mark.parametrize("manifest", manifests()["pods"], ids=lambda m: m["metadata"]["name"])
def test_a_pod_view_reads_the_facts_the_full_model_reads(manifest):
    full = pod_facts(core_v1.Pod.from_dict(manifest))

    assert pod_facts(_wire(manifest, views.Pod)) == full
    assert pod_facts(views.Pod.from_dict(manifest)) == full


@pytest.mark.parametrize("manifest", manifests()["nodes"], ids=lambda m: m["metadata"]["name"])
def test_a_node_view_reads_the_facts_the_full_model_reads(manifest):
    full = node_facts(core_v1.Node.from_dict(manifest))

    assert node_facts(_wire(manifest, views.Node)) == full
    assert node_facts(views.Node.from_dict(manifest)) == full


def test_a_view_skips_what_the_report_does_not_read():
    manifest = {
        "metadata": {"name": "p", "managedFields": [{"manager": "kubelet"}], "uid": "1"},
        "spec": {"containers": [{"name": "main", "image": "x"}], "nodeName": "n"},
    }

    pod = _wire(manifest, views.Pod)

    assert pod.to_dict() == {"metadata": {"name": "p"}, "spec": {"nodeName": "n"}}


def test_a_view_lists_from_the_same_api_path_as_the_full_model():
    assert views.Pod._api_info == core_v1.Pod._api_info
    assert views.Node._api_info == core_v1.Node._api_info
