"""The settled placement counts that every output of the report is made from.

`PlacementTally.finish()` returns a `PlacementSummary`: frozen, its mappings read-only, so an
output can never change what another output shows. Pure: no ops, no lightkube.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from conflicts import Conflict
from placement.argo_records import FailedStepRow
from placement.facts import NodeFacts, Record
from placement.fallbacks import Fallbacks
from placement.request import ReportRequest
from placement.rules import NodeType, Verdict
from spot_config import SpotConfig
from workloads import WorkloadClass


@dataclass(frozen=True)
class Counts:
    """Verdicts, evictions and pod-hours of one class or one namespace."""

    verdicts: Mapping[Verdict, int] = field(default_factory=lambda: MappingProxyType(Counter()))
    """Pods by verdict; a verdict no pod got counts 0."""
    evictions: int = 0
    spot_hours: float = 0.0
    missed_hours: float = 0.0

    @property
    def pods(self) -> int:
        """Return how many pods were judged."""
        return sum(self.verdicts.values())

    @property
    def eligible_on_spot_percent(self) -> float | None:
        """Return the share of spot-eligible pods that run on spot, or None if there are none."""
        on_spot, missed = self.verdicts[Verdict.ON_SPOT], self.verdicts[Verdict.MISSED]
        return None if on_spot + missed == 0 else 100 * on_spot / (on_spot + missed)

    def to_dict(self, discount: float) -> dict[str, object]:
        """Return the counts as the json/yaml report shows them."""
        return {
            "pods": self.pods,
            **{str(v): self.verdicts[v] for v in Verdict},
            "evictions": self.evictions,
            "spot-pod-hours": round(self.spot_hours, 2),
            "saved-pod-hours": round(self.spot_hours * discount, 2),
            "missed-pod-hours": round(self.missed_hours, 2),
        }


class PodRow(Record, frozen=True):
    """One judged pod, as short as a row can be: 10,000 of them go into one action result."""

    namespace: str
    name: str
    workload: WorkloadClass
    node: str
    phase: str
    verdict: Verdict
    hours: float
    reason: str = ""
    """Why it needs action; set only for at-risk and stuck pods."""

    def cells(self) -> list[object]:
        """Return the row in POD_COLUMNS order."""
        return [self.name, str(self.workload), self.phase, str(self.verdict), round(self.hours, 2)]


@dataclass(frozen=True)
class PlacementSummary:
    """The settled counts of a tally: what every output of the report is made from."""

    config: SpotConfig
    request: ReportRequest
    now: datetime
    nodes: tuple[NodeFacts, ...]
    node_types: Mapping[str, NodeType]
    by_class: Mapping[WorkloadClass, Counts]
    by_namespace: Mapping[str, Counts]
    total: Counts
    signals: Mapping[str, int]
    """Evictions by how the pod showed them, or what Argo recorded (`evictions.EVICTION_SIGNALS`)
    when the pod is gone."""
    retries: int
    """Retry attempts Argo made, as its Workflows record them (else as the pods' names tell)."""
    needs_action: tuple[PodRow, ...]
    """The first TABLE_POD_ROWS at-risk and stuck pods."""
    needs_action_total: int
    rows: tuple[PodRow, ...]
    """Every judged pod, when the tally keeps rows; else none."""
    evicting: Mapping[str, str] = field(default_factory=dict)
    """Nodes about to go, each with what says so (`facts.eviction_notice`)."""
    doomed: Mapping[str, tuple[PodRow, ...]] = field(default_factory=dict)
    """The pods on each evicting node: its eviction takes them."""
    conflicts: tuple[Conflict, ...] = ()
    """Workloads whose pods the PodDefault webhook rejects because of the charm's toleration."""
    application_retries: int = 0
    """Of the retries, those after a failure that was no eviction (never counted as one)."""
    failed_steps: tuple[FailedStepRow, ...] = ()
    """Argo steps that failed after their last attempt was taken away."""
    notes: tuple[str, ...] = ()
    """What the report could not read (Argo Workflows missing or forbidden)."""
    fallbacks: Fallbacks = Fallbacks()
    """Steps spot-fallback-after ran on on-demand nodes, and what they cost."""

    @property
    def spot_nodes(self) -> int:
        """Return how many nodes are spot nodes."""
        return list(self.node_types.values()).count(NodeType.SPOT)

    @property
    def on_demand_nodes(self) -> int:
        """Return how many nodes are on-demand nodes."""
        return list(self.node_types.values()).count(NodeType.ON_DEMAND)

    @property
    def discount(self) -> float:
        """Return the spot discount the savings are estimated with."""
        return float(self.request.spot_discount)
