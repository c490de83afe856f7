"""The unpacked charm's own dispatch, on CPython 3.12, under stand-in Juju hook tools.

No cluster here: the kubeconfig the unit is given does not exist, as when the charm is deployed
without `--trust` working. tests/artifact/test_dispatch_on_cluster.py gives it a real one.
"""

from __future__ import annotations

import json


def test_install_without_an_api_server_waits_and_says_why(unit):
    result = unit.dispatch("install")

    assert result.returncode == 0, result.output
    assert result.status is not None
    state, message = result.status
    assert state == "waiting"
    assert message.startswith("Kubernetes API unreachable: ")


def test_invalid_config_blocks_naming_option_value_and_what_is_accepted(unit):
    unit.config = {"spot-placement": "sometimes"}

    result = unit.dispatch("config-changed")

    assert result.returncode == 0, result.output
    assert result.status == (
        "blocked",
        "invalid config: spot-placement='sometimes' is invalid: one of require, prefer, tolerate",
    )


def test_show_defaults_reports_the_rendered_defaults_as_json(unit):
    unit.config = {"spot-workloads": "pipelines,training"}

    result = unit.dispatch("show-defaults", action_params={"format": "json"})

    assert result.returncode == 0, result.output
    assert result.action_failure is None
    results = result.action_results
    assert results["summary"].startswith("spot: pipelines,training · require")
    defaults = json.loads(results["defaults"])
    manifests = defaults["podDefaults"]["manifests"]
    names = [m["metadata"]["name"] for m in manifests]
    assert names == ["kubeflow-spot-training", "kubeflow-spot-trainjob"]
    assert defaults["argo"]["configMap"] == "kubeflow/argo-workflow-controller-configmap"
    assert "retryStrategy" in defaults["argo"]["value"]
    assert "pipelines:" in results["notes"]


def test_show_defaults_sets_no_status(unit):
    result = unit.dispatch("show-defaults", action_params={"format": "yaml"})

    assert result.returncode == 0, result.output
    assert result.tool_calls("status-set") == []


def test_show_defaults_with_invalid_config_fails_the_action(unit):
    unit.config = {"retry-limit": 99}

    result = unit.dispatch("show-defaults", action_params={"format": "yaml"})

    assert result.returncode == 0, result.output
    assert result.action_failure is not None
    assert result.action_failure.startswith("invalid config: retry-limit=99 is invalid")
    assert result.action_results == {}


def test_update_status_on_a_non_leader_reports_standby_without_touching_the_api(unit):
    unit.leader = False

    result = unit.dispatch("update-status")

    assert result.returncode == 0, result.output
    assert result.status is not None
    assert result.status[0] == "active"
    assert result.status[1].endswith(
        "· standby, the leader applies · exporter container not reachable yet; metrics are off,"
        " defaults still apply"
    )


def test_a_non_leader_no_op_calls_only_the_hook_tools_its_status_needs(unit):
    unit.leader = False
    unit.dispatch("update-status")  # A unit's first hook also logs setting up its state.

    result = unit.dispatch("update-status")

    assert result.returncode == 0, result.output
    # Under Juju each call is a round trip to the unit agent; ops logs its start-up line itself.
    assert [call[0] for call in result.calls] == [
        "juju-log",
        "is-leader",
        "config-get",
        "status-set",
    ]


HUGE = "x" * 70000
"""Longer than one argument may be (MAX_ARG_STRLEN, 128 KiB) once the message repeats it twice."""


def test_a_70000_character_value_blocks_with_a_short_status_through_the_real_hook_tool(unit):
    unit.config = {"spot-workloads": HUGE}

    result = unit.dispatch("config-changed")

    assert result.returncode == 0, result.output[-2000:]
    assert "Argument list too long" not in result.output
    assert result.status is not None
    state, message = result.status
    assert state == "blocked"
    assert message.startswith("invalid config: spot-workloads=")
    assert len(message) <= 1024


def test_a_70000_character_value_fails_an_action_with_a_short_reason(unit):
    unit.config = {"spot-workloads": HUGE}

    result = unit.dispatch("show-defaults", action_params={"format": "yaml"})

    assert result.returncode == 0, result.output[-2000:]
    assert result.action_failure is not None
    assert result.action_failure.startswith("invalid config: spot-workloads=")
    assert len(result.action_failure) <= 1024


def test_a_non_leader_no_op_imports_neither_the_kubernetes_client_nor_the_renderer(unit):
    unit.leader = False
    unit.dispatch("update-status")  # The unit has said its status for this config once.

    result = unit.dispatch("update-status", env={"PYTHONPROFILEIMPORTTIME": "1"})

    assert result.returncode == 0, result.output
    # `import time: self | cumulative | name`, one line per module imported.
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.output.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "ops" in imported  # the profile is there
    assert imported.isdisjoint(
        {"lightkube", "httpx2", "httpcore2", "jinja2", "render", "spot_config", "workloads"}
    )
