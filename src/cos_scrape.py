"""The provider side of `prometheus_scrape` (the `metrics-endpoint` relation), as data.

What Prometheus reads (prometheus-k8s's `prometheus_scrape` library, MetricsEndpointConsumer,
LIBPATCH 26 and later): in the provider's application databag, JSON under `scrape_metadata`
(the Juju topology: model, model_uuid, application, unit, charm_name), `scrape_jobs` (a list
of scrape configs; a `*` host is replaced by each unit's address) and `alert_rules` (a rules
file: {"groups": [...]}); in each unit's databag `prometheus_scrape_unit_address`,
`prometheus_scrape_unit_name` and `prometheus_scrape_unit_path`. The consumer prefixes the job
names with `juju_<identifier>_prometheus_scrape` and adds the topology labels to every target.

Alert rules are read as that library's provider reads them: every *.rule, *.rules, *.yml and
*.yaml file below src/prometheus_alert_rules, in the official format; each group renamed
`<identifier>_<group>_rules` (cosl's AlertRules), each rule labelled with the juju_* topology
and every selector of its expression restricted to this application's topology. The library
does the last step with the cos-tool binary; here every selector names a kubeflow_spot_ metric
(the rule tests check that with Prometheus's own parser), so the matchers are inserted by name.
Pure: no ops import.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from workload_layer import PORT

RULES_DIR = Path(__file__).resolve().parent / "prometheus_alert_rules"
RULE_SUFFIXES = (".rule", ".rules", ".yml", ".yaml")
JOB_NAME = "kubeflow-spot-exporter"
SCRAPE_INTERVAL = "30s"
METRIC_PREFIX = "kubeflow_spot_"
_SELECTOR = re.compile(r"\b(?P<name>kubeflow_spot_[A-Za-z0-9_]+)(?P<matchers>\{[^}]*\})?")
_INVALID_GROUP_CHARS = re.compile(r"[^a-zA-Z0-9_:]")


@dataclass(frozen=True)
class Topology:
    """Where the charm runs in Juju, as the COS libraries' JujuTopology describes it."""

    model: str
    model_uuid: str
    application: str
    unit: str
    charm_name: str

    def as_dict(self) -> dict[str, str]:
        """Return `scrape_metadata`: the five fields under their JujuTopology names."""
        return {
            "model": self.model,
            "model_uuid": self.model_uuid,
            "application": self.application,
            "unit": self.unit,
            "charm_name": self.charm_name,
        }

    @property
    def identifier(self) -> str:
        """Return `<model>_<first 8 of the model UUID>_<application>`, JujuTopology's."""
        return f"{self.model}_{self.model_uuid[:8]}_{self.application}".replace("/", "_")

    @property
    def rule_labels(self) -> dict[str, str]:
        """Return the labels every alert carries: juju_model, _model_uuid, _application, _charm."""
        return {
            "juju_model": self.model,
            "juju_model_uuid": self.model_uuid,
            "juju_application": self.application,
            "juju_charm": self.charm_name,
        }

    @property
    def expression_matchers(self) -> dict[str, str]:
        """Return the matchers put into alert expressions (no unit: rules are per application)."""
        return {
            "juju_model": self.model,
            "juju_model_uuid": self.model_uuid,
            "juju_application": self.application,
        }


def scrape_jobs() -> list[dict[str, Any]]:
    """Return the scrape job: every unit's exporter, at its address, on the contract's port."""
    return [
        {
            "job_name": JOB_NAME,
            "metrics_path": "/metrics",
            "scrape_interval": SCRAPE_INTERVAL,
            "static_configs": [{"targets": [f"*:{PORT}"]}],
        }
    ]


def inject_topology(expression: str, matchers: dict[str, str]) -> str:
    """Return the expression with the matchers added to every kubeflow_spot_ selector."""
    added = ",".join(f"{name}={json.dumps(value)}" for name, value in matchers.items())

    def with_matchers(found: re.Match[str]) -> str:
        existing = (found["matchers"] or "{}")[1:-1].strip().rstrip(",")
        inner = f"{added},{existing}" if existing else added
        return f"{found['name']}{{{inner}}}"

    return _SELECTOR.sub(with_matchers, expression)


def _rule_files(rules_dir: Path) -> Iterator[Path]:
    yield from sorted(
        path for path in rules_dir.rglob("*") if path.is_file() and path.suffix in RULE_SUFFIXES
    )


def _group_name(topology: Topology, relative_dir: str, group: str) -> str:
    name = "_".join(part for part in (topology.identifier, relative_dir, group) if part)
    if not name.endswith("_rules"):
        name += "_rules"
    return _INVALID_GROUP_CHARS.sub("_", name)


def alert_rules(topology: Topology, rules_dir: Path = RULES_DIR) -> dict[str, Any]:
    """Return the rules file sent as `alert_rules`, {} when there are no rules."""
    groups = []
    for path in _rule_files(rules_dir):
        loaded = yaml.safe_load(path.read_text()) or {}
        relative = path.parent.relative_to(rules_dir).as_posix().replace("/", "_").strip(".")
        for group in loaded.get("groups", []):
            rules = []
            for rule in group["rules"]:
                labels = {**topology.rule_labels, **rule.get("labels", {})}
                expr = inject_topology(str(rule["expr"]), topology.expression_matchers)
                rules.append({**rule, "expr": expr, "labels": labels})
            groups.append(
                {**group, "name": _group_name(topology, relative, group["name"]), "rules": rules}
            )
    return {"groups": groups} if groups else {}


def scrape_app_data(topology: Topology, rules_dir: Path = RULES_DIR) -> dict[str, str]:
    """Return the application databag: scrape_metadata, scrape_jobs and alert_rules as JSON."""
    data = {
        "scrape_metadata": json.dumps(topology.as_dict(), sort_keys=True),
        "scrape_jobs": json.dumps(scrape_jobs(), sort_keys=True),
    }
    rules = alert_rules(topology, rules_dir)
    if rules:
        data["alert_rules"] = json.dumps(rules, sort_keys=True)
    return data


def scrape_unit_data(address: str, unit_name: str) -> dict[str, str]:
    """Return a unit's databag: where Prometheus finds this unit's exporter."""
    return {
        "prometheus_scrape_unit_address": address,
        "prometheus_scrape_unit_name": unit_name,
        "prometheus_scrape_unit_path": "",
    }
