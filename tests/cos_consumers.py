"""Prometheus's and Grafana's side of the COS relations, played against an ops.testing State.

The protocols' expectations live here, once, read the way the consumers read them:
- prometheus-k8s's MetricsEndpointConsumer (`prometheus_scrape`, LIBPATCH 26+): `jobs()` reads
  `scrape_jobs` and `scrape_metadata` from the provider's application databag (skipping a
  relation without units), builds the topology with JujuTopology.from_dict, prefixes every job
  name with `juju_<identifier>_prometheus_scrape`, and replaces each `*` host by every unit's
  `prometheus_scrape_unit_address` (unit name from `prometheus_scrape_unit_name`, path prefix
  `prometheus_scrape_unit_path`), one job per unit; `alerts()` reads `alert_rules`, keyed by
  the topology identifier.
- grafana-k8s's GrafanaDashboardConsumer (`grafana_dashboard`): reads `dashboards` from the
  provider's application databag, takes its `templates`, and decompresses each `content` with
  LZMABase64.
cosl provides the helpers both use (JujuTopology, LZMABase64); the tests use the real ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cosl import JujuTopology, LZMABase64
from ops import testing

PROMETHEUS = "prometheus-k8s"
GRAFANA = "grafana-k8s"


@dataclass(frozen=True)
class Prometheus:
    """A prometheus-k8s application related over `metrics-endpoint`."""

    relation: testing.Relation = field(
        default_factory=lambda: testing.Relation(
            "metrics-endpoint", interface="prometheus_scrape", remote_app_name=PROMETHEUS
        )
    )

    def _app_data(self, state: testing.State) -> dict[str, str]:
        return dict(state.get_relation(self.relation.id).local_app_data)

    def topology(self, state: testing.State) -> JujuTopology:
        return JujuTopology.from_dict(json.loads(self._app_data(state)["scrape_metadata"]))

    def jobs(self, state: testing.State, units: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
        """Return the scrape jobs Prometheus builds, given each provider unit's databag."""
        data = self._app_data(state)
        jobs = json.loads(data.get("scrape_jobs", "[]"))
        if not jobs or not units:
            return []
        topology = self.topology(state)
        prefix = f"juju_{topology.identifier}_prometheus_scrape"
        built = []
        for job in jobs:
            for unit_data in units.values():
                unit_name = unit_data["prometheus_scrape_unit_name"]
                address = unit_data["prometheus_scrape_unit_address"]
                path = unit_data.get("prometheus_scrape_unit_path", "")
                for static in job["static_configs"]:
                    targets = [t.replace("*", address) for t in static["targets"]]
                    labels = {**topology.label_matcher_dict, "juju_unit": unit_name}
                    built.append(
                        {
                            **job,
                            "job_name": f"{prefix}_{job['job_name']}-{unit_name.split('/')[-1]}",
                            "metrics_path": path + job.get("metrics_path", "/metrics"),
                            "static_configs": [{"targets": targets, "labels": labels}],
                        }
                    )
        return built

    def alerts(self, state: testing.State) -> dict[str, dict[str, Any]]:
        """Return the alert rules files Prometheus writes, keyed by the topology identifier."""
        data = self._app_data(state)
        rules = json.loads(data.get("alert_rules", "{}"))
        if not rules:
            return {}
        return {self.topology(state).identifier: rules}


@dataclass(frozen=True)
class Grafana:
    """A grafana-k8s application related over `grafana-dashboard`."""

    relation: testing.Relation = field(
        default_factory=lambda: testing.Relation(
            "grafana-dashboard", interface="grafana_dashboard", remote_app_name=GRAFANA
        )
    )

    def raw(self, state: testing.State) -> dict[str, Any]:
        data = state.get_relation(self.relation.id).local_app_data
        raw: dict[str, Any] = json.loads(data.get("dashboards", "{}"))
        return raw

    def dashboards(self, state: testing.State) -> dict[str, dict[str, Any]]:
        """Return each dashboard Grafana loads, by template id, decoded as the consumer does."""
        templates = self.raw(state).get("templates", {})
        return {
            dashboard_id: json.loads(LZMABase64.decompress(template["content"]))
            for dashboard_id, template in templates.items()
        }
