"""The metric model: from the counts of a watched placement to Prometheus metric families.

Every label is bounded by the cluster's shape, never by its pods: namespaces, workload classes
(a fixed enum), verdicts (a fixed enum), eviction signals (a fixed set), capacity, node pools
and node states. The names and labels are the metrics contract in the README, which the alert
rules and the dashboard are written against. Pure: no ops, no lightkube.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)

from exporter.config import ExporterConfig
from placement.facts import NodeFacts, eviction_notice, eviction_taint

PREFIX = "kubeflow_spot"
CAPACITIES = ("spot", "on-demand")
RESOURCES = ("nodes", "pods", "workflows")


def node_state(node: NodeFacts) -> str:
    """Return a node's one state: evicting, cordoned, not-ready or ready, the first that holds."""
    if eviction_notice(node):
        return "evicting"
    if node.unschedulable or eviction_taint(node):
        return "cordoned"
    ready = next((c for c in node.conditions if c.type == "Ready"), None)
    if ready is not None and ready.status != "True":
        return "not-ready"
    return "ready"


@dataclass(frozen=True)
class PlacementSamples:
    """The counts of one moment, by label values in the metric's label order."""

    config: ExporterConfig
    pods: Mapping[tuple[str, str, str], int]
    """(namespace, workload_class, verdict)"""
    evicted_pods: Mapping[tuple[str, str, str], int]
    """(namespace, workload_class, signal)"""
    evictions_total: Mapping[tuple[str, str, str], int]
    pod_hours_total: Mapping[tuple[str, str], float]
    """(workload_class, capacity)"""
    nodes: Mapping[tuple[str, str, str], int]
    """(capacity, pool, state)"""


@dataclass(frozen=True)
class WatchHealth:
    """How one watch stands, for `watch_up` and `last_sync_timestamp_seconds`."""

    synced: bool = False
    last_sync: float = 0.0
    """Unix time of the last successful list, (re)connection or event; 0 before the first."""
    events: Mapping[str, int] = field(default_factory=dict)
    """Events applied, by type."""
    problem: str = ""


def placement_families(samples: PlacementSamples) -> Iterator[Metric]:
    """Yield the placement metrics of one snapshot."""
    by_pod = ["namespace", "workload_class", "verdict"]
    by_signal = ["namespace", "workload_class", "signal"]
    yield _family(
        GaugeMetricFamily,
        "pods",
        "Pods now, by namespace, workload class and report-placement's verdict",
        by_pod,
        samples.pods.items(),
    )
    yield _family(
        GaugeMetricFamily,
        "evicted_pods",
        "Evicted pods visible now (report-placement's evictions), by how they show it",
        by_signal,
        samples.evicted_pods.items(),
    )
    yield _family(
        CounterMetricFamily,
        "evictions",
        "Evictions seen since the exporter started, each evicted pod once",
        by_signal,
        samples.evictions_total.items(),
    )
    yield _family(
        CounterMetricFamily,
        "pod_hours",
        "Pod-hours run while watched, by workload class and node capacity",
        ["workload_class", "capacity"],
        samples.pod_hours_total.items(),
    )
    yield _family(
        GaugeMetricFamily,
        "nodes",
        "Nodes now, by capacity, pool and state",
        ["capacity", "pool", "state"],
        samples.nodes.items(),
    )
    yield from config_families(samples.config)


def _family(
    kind: type[GaugeMetricFamily] | type[CounterMetricFamily],
    name: str,
    documentation: str,
    labels: list[str],
    samples: Iterable[tuple[tuple[str, ...], float]],
) -> Metric:
    """Return one metric family holding a sample per label set, in a stable order."""
    family = kind(f"{PREFIX}_{name}", documentation, labels=labels)
    for label_values, value in sorted(samples):
        family.add_metric(list(label_values), value)
    return family


def config_families(config: ExporterConfig) -> Iterator[Metric]:
    """Yield the config the verdicts use, and the spot discount the savings panel multiplies by."""
    spot = config.spot
    info = InfoMetricFamily(f"{PREFIX}_config", "The config the verdicts are judged with")
    info.add_metric(
        [],
        {
            "cloud": spot.profile.name,
            "spot_placement": str(spot.placement),
            "eligible_classes": ",".join(spot.workloads),
            "retry_on": str(spot.retry.on),
            "retry_limit": str(spot.retry.limit),
            "spot_discount": f"{config.spot_discount:g}",
        },
    )
    yield info
    yield GaugeMetricFamily(
        f"{PREFIX}_spot_discount",
        "spot-discount: the fraction of the on-demand price a spot pod-hour saves",
        value=config.spot_discount,
    )


def health_families(health: Mapping[str, WatchHealth], config_valid: bool) -> Iterator[Metric]:
    """Yield whether each watch is synced, when it last was, its events, and the config's state."""
    up = GaugeMetricFamily(
        f"{PREFIX}_watch_up",
        "1 while the watch is synced, 0 while re-listing or backing off",
        labels=["resource"],
    )
    last = GaugeMetricFamily(
        f"{PREFIX}_last_sync_timestamp_seconds",
        "Unix time of the watch's last successful list, connection or event",
        labels=["resource"],
    )
    events = CounterMetricFamily(
        f"{PREFIX}_watch_events", "Watch events applied", labels=["resource", "type"]
    )
    for resource in RESOURCES:
        status = health.get(resource, WatchHealth())
        up.add_metric([resource], 1 if status.synced else 0)
        last.add_metric([resource], status.last_sync)
        for kind, count in sorted(status.events.items()):
            events.add_metric([resource, kind], count)
    yield up
    yield last
    yield events
    yield GaugeMetricFamily(
        f"{PREFIX}_config_valid",
        "1 when the config file parsed; 0 when missing or invalid (the last good config stays)",
        value=1 if config_valid else 0,
    )
