"""Every query of the Grafana dashboard, parsed by Prometheus's own PromQL parser.

Grafana substitutes its variables before a query reaches Prometheus; the tests do the same
with values of the right shape ($__range a duration, $namespace a regex), then promql-check
(localcluster/go/prometheus/main.go, the parser of Prometheus 3.16) parses each query and
reports the metrics and labels it uses, which must be the metrics contract's.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from cos_dashboards import DASHBOARDS_DIR
from localcluster.prometheus_tools import parse_queries
from tests.cos.contract import LABEL_VALUES, METRIC_LABELS

DASHBOARD = DASHBOARDS_DIR / "kubeflow-spot.json"
# What Grafana puts in place of each variable, in a shape PromQL accepts where it stands.
GRAFANA_VARIABLES = {
    "$__rate_interval": "2m",
    "$__interval": "1m",
    "$__range": "24h",
    "$namespace": "alice|bob",
}
_VARIABLE = re.compile(r"\$\{?(\w+)\}?")


def substituted(expr: str) -> str:
    """Return the query as Grafana sends it: every variable replaced, none left over."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def _targets() -> list[tuple[str, dict[str, Any]]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target) for panel in dashboard["panels"] for target in panel["targets"]
    ]


def _parsed() -> list[tuple[str, dict[str, Any]]]:
    titles = [title for title, _ in _targets()]
    return list(
        zip(titles, parse_queries([substituted(t["expr"]) for _, t in _targets()]), strict=True)
    )


def test_every_query_parses(promql_check_bin):
    errors = {title: result["error"] for title, result in _parsed() if result["error"]}

    assert errors == {}
    assert len(_targets()) == 9


def test_no_grafana_variable_is_left_in_a_substituted_query():
    left = {title: _VARIABLE.findall(substituted(t["expr"])) for title, t in _targets()}

    assert {title: found for title, found in left.items() if found} == {}


def test_the_parser_reports_a_broken_query(promql_check_bin):
    (result,) = parse_queries(["sum by (namespace) (rate(kubeflow_spot_evictions_total))"])

    assert "range vector" in result["error"]


def test_queries_use_only_the_contracts_metrics_and_their_labels(promql_check_bin):
    for title, result in _parsed():
        metrics = set(result["metrics"])
        assert metrics, title
        assert metrics <= set(METRIC_LABELS), title
        allowed = set().union(*(METRIC_LABELS[m] for m in metrics))
        assert set(result["labels"]) | set(result["grouping"]) <= allowed, title


def test_matchers_on_fixed_labels_use_the_contracts_values(promql_check_bin):
    for title, result in _parsed():
        for selector in result["selectors"]:
            for matcher in selector["matchers"]:
                name, op, value = matcher.split(" ", 2)
                if name not in LABEL_VALUES:
                    continue
                values = value.split("|") if op == "=~" else [value]
                assert set(values) <= LABEL_VALUES[name], f"{title}: {matcher}"


@pytest.mark.parametrize(
    "title",
    [
        "Spot share per workload class",
        "At-risk pods",
        "Stuck pods",
        "Evictions per hour",
        "Pod-hours in the range",
        "Savings estimate",
    ],
)
def test_the_dashboard_has_the_panels_the_issue_asks_for(title):
    assert title in {panel_title for panel_title, _ in _targets()}


def test_every_panel_queries_the_prometheus_datasource_variable():
    dashboard = json.loads(DASHBOARD.read_text())

    uids = {panel["datasource"]["uid"] for panel in dashboard["panels"]}
    assert uids == {"${prometheusds}"}
    assert any(v["name"] == "prometheusds" for v in dashboard["templating"]["list"])
