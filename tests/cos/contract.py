"""The exporter's metrics and their labels, as the metrics contract of issue 15 names them.

As exporter-15 finalised it (21:35 UTC): counters appear only once they have a value, so the
queries must read an absent series as none (`or vector(0)` where a number is shown).

The alert rules and the dashboard may use these and nothing else (plus the juju_* labels
Prometheus adds to every scraped series). Kept here, once, for tests/cos.
"""

from __future__ import annotations

JUJU_LABELS = frozenset({"juju_model", "juju_model_uuid", "juju_application", "juju_unit"})

METRIC_LABELS: dict[str, frozenset[str]] = {
    "kubeflow_spot_pods": frozenset({"namespace", "workload_class", "verdict"}),
    "kubeflow_spot_evictions_total": frozenset({"namespace", "workload_class", "signal"}),
    "kubeflow_spot_pod_hours_total": frozenset({"workload_class", "capacity"}),
    "kubeflow_spot_nodes": frozenset({"capacity", "pool", "state"}),
    "kubeflow_spot_config_info": frozenset(
        {"cloud", "spot_placement", "eligible_classes", "retry_on", "retry_limit", "spot_discount"}
    ),
    "kubeflow_spot_spot_discount": frozenset(),
    "kubeflow_spot_evicted_pods": frozenset({"namespace", "workload_class", "signal"}),
    "kubeflow_spot_config_valid": frozenset(),
    "kubeflow_spot_watch_events_total": frozenset({"resource", "type"}),
    "kubeflow_spot_watch_up": frozenset({"resource"}),
    "kubeflow_spot_last_sync_timestamp_seconds": frozenset({"resource"}),
}

LABEL_VALUES: dict[str, frozenset[str]] = {
    "verdict": frozenset({"on-spot", "missed", "at-risk", "stuck", "pending", "ok", "node-gone"}),
    "capacity": frozenset({"spot", "on-demand"}),
    "state": frozenset({"ready", "not-ready", "cordoned", "evicting"}),
    "resource": frozenset({"pods", "nodes"}),
}
"""The values the contract fixes; a matcher on one of these labels must use them."""
