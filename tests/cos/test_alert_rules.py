"""The alert rules, checked and run by Prometheus's own promtool, as written and as sent.

`promtool test rules` evaluates the rules on input series (tests/cos/kubeflow_spot_test.yaml)
with the rule engine of Prometheus 3.16 and compares the firing alerts, their labels and their
rendered summary and description with the expected ones.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cos_scrape import RULES_DIR, Topology, alert_rules
from localcluster.prometheus_tools import parse_queries
from tests.cos.contract import METRIC_LABELS

HERE = Path(__file__).parent
RULES_FILE = RULES_DIR / "kubeflow_spot.rules"
UNIT_TEST = HERE / "kubeflow_spot_test.yaml"
TOPOLOGY = Topology(
    model="kubeflow",
    model_uuid="8d2a5c4e-1f3b-4c6d-9e7f-0a1b2c3d4e5f",
    application="kubeflow-spot",
    unit="kubeflow-spot/0",
    charm_name="kubeflow-spot",
)
EXPECTED_ALERTS = {
    "KubeflowSpotPodsAtRisk",
    "KubeflowSpotStepsStuck",
    "KubeflowSpotEvictionRateHigh",
    "KubeflowSpotNodesEvicting",
    "KubeflowSpotExporterWatchDown",
}


def _promtool(promtool_bin: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool_bin), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(RULES_FILE.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def test_promtool_check_rules_accepts_the_rules_file(promtool_bin):
    checked = _promtool(promtool_bin, "check", "rules", RULES_FILE)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(EXPECTED_ALERTS)} rules found" in checked.stdout


def test_promtool_check_rules_rejects_a_broken_expression(promtool_bin, tmp_path):
    broken = tmp_path / "broken.rules"
    rule = {"alert": "Broken", "expr": "max by (namespace) (kubeflow_spot_pods{verdict=})"}
    broken.write_text(yaml.safe_dump({"groups": [{"name": "b", "rules": [rule]}]}))

    checked = _promtool(promtool_bin, "check", "rules", broken)

    assert checked.returncode != 0
    assert "Broken" in checked.stdout + checked.stderr or "parse" in checked.stderr


def test_promtool_test_rules_fires_each_alert_as_expected(promtool_bin):
    tested = _promtool(promtool_bin, "test", "rules", UNIT_TEST)

    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def _with_topology(series: str, application: str) -> str:
    labels = dict(TOPOLOGY.expression_matchers, juju_application=application)
    added = ",".join(f'{name}="{value}"' for name, value in labels.items())
    return series.replace("{", "{" + added + ",", 1)


def _sent_rules_unit_test(tmp_path: Path, application: str) -> Path:
    """Write the rules as the relation sends them, and the unit test pointed at them."""
    sent = tmp_path / "sent.rules"
    sent.write_text(yaml.safe_dump(alert_rules(TOPOLOGY)))
    test = yaml.safe_load(UNIT_TEST.read_text())
    test["rule_files"] = [str(sent)]
    for case in test["tests"]:
        for series in case["input_series"]:
            series["series"] = _with_topology(series["series"], application)
        for check in case["alert_rule_test"]:
            for alert in check["exp_alerts"]:
                alert["exp_labels"].update(TOPOLOGY.rule_labels)
    path = tmp_path / "sent_test.yaml"
    path.write_text(yaml.safe_dump(test, width=1000))
    return path


def test_rules_sent_over_the_relation_fire_on_this_applications_series(promtool_bin, tmp_path):
    test = _sent_rules_unit_test(tmp_path, TOPOLOGY.application)

    tested = _promtool(promtool_bin, "test", "rules", test)

    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_rules_sent_over_the_relation_ignore_another_applications_series(promtool_bin, tmp_path):
    test = _sent_rules_unit_test(tmp_path, "other-kubeflow-spot")

    tested = _promtool(promtool_bin, "test", "rules", test)

    # Every case that expects an alert now fails: the series are not this application's.
    failed = re.findall(r"alertname: (\w+)", tested.stdout + tested.stderr)
    assert tested.returncode != 0
    assert set(failed) == EXPECTED_ALERTS


def test_every_selector_of_a_sent_rule_is_restricted_to_the_topology(promql_check_bin):
    sent = [rule["expr"] for group in alert_rules(TOPOLOGY)["groups"] for rule in group["rules"]]

    parsed = parse_queries(sent)

    expected = {f"{name} = {value}" for name, value in TOPOLOGY.expression_matchers.items()}
    assert [p["error"] for p in parsed] == [""] * len(sent)
    unrestricted = [
        s["metric"] for p in parsed for s in p["selectors"] if not expected <= set(s["matchers"])
    ]
    assert unrestricted == []
    assert sum(len(p["selectors"]) for p in parsed) == 7


def test_rules_use_only_the_contracts_metrics_and_labels(promql_check_bin):
    rules = _rules()

    parsed = parse_queries([rule["expr"] for rule in rules])

    for rule, result in zip(rules, parsed, strict=True):
        assert result["error"] == "", rule["alert"]
        assert set(result["metrics"]) <= set(METRIC_LABELS), rule["alert"]
        allowed = set().union(*(METRIC_LABELS[m] for m in result["metrics"]))
        assert set(result["labels"]) | set(result["grouping"]) <= allowed, rule["alert"]


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: rule["alert"])
def test_each_alert_says_what_happened_and_what_to_do(rule):
    annotations = rule["annotations"]

    assert rule["labels"]["severity"] in {"warning", "info"}
    # One line that fits a notification's title (the template; rendered it is shorter).
    assert "\n" not in annotations["summary"]
    assert len(annotations["summary"]) <= 100
    # The description names a command or a config option a person on call can use.
    assert re.search(
        r"`juju |spot-placement=|spot-node-taint|dashboard", annotations["description"]
    )


def test_the_rules_file_holds_the_four_alerts_of_the_issue_and_the_watch_alert():
    assert {rule["alert"] for rule in _rules()} == EXPECTED_ALERTS
