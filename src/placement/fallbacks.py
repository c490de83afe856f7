"""What spot-fallback-after cost: pipeline steps that ran on on-demand after their evictions.

A pod the fallback released from spot carries `kubeflow-spot/fallback=true` (see `fallback`);
one such pod on an on-demand node makes its step a step that fell back, and its run hours are
on-demand pod-hours the guarantee cost. Counted per class and per namespace, like every other
count of the report. Pure: no ops, no lightkube.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from workloads import WorkloadClass

StepKey = tuple[str, ...]
"""One pipeline step: its namespace, Workflow and step name (or the pod, without Argo's)."""


@dataclass(frozen=True)
class FallbackCounts:
    """Steps that fell back to on-demand, and the on-demand pod-hours they ran."""

    steps: int = 0
    on_demand_hours: float = 0.0

    def to_dict(self) -> dict[str, object]:
        """Return the counts as the json/yaml report shows them."""
        return {"steps": self.steps, "on-demand-pod-hours": round(self.on_demand_hours, 2)}


@dataclass(frozen=True)
class Fallbacks:
    """The fallbacks of a report, in total and per class and namespace."""

    total: FallbackCounts = FallbackCounts()
    by_class: Mapping[WorkloadClass, FallbackCounts] = field(
        default_factory=lambda: MappingProxyType({})
    )
    by_namespace: Mapping[str, FallbackCounts] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def to_dict(self) -> dict[str, object]:
        """Return the json/yaml report's `fallbacks`."""
        return {
            **self.total.to_dict(),
            "classes": {str(w): c.to_dict() for w, c in self.by_class.items()},
            "namespaces": {n: c.to_dict() for n, c in sorted(self.by_namespace.items())},
        }

    def line(self) -> str | None:
        """Return the table's line on fallbacks, or None when no step fell back."""
        if self.total.steps == 0:
            return None
        classes = ", ".join(f"{w} {c.steps}" for w, c in self.by_class.items())
        namespaces = ", ".join(f"{n} {c.steps}" for n, c in sorted(self.by_namespace.items()))
        return (
            f"Fallbacks (spot-fallback-after): {self.total.steps}"
            f" step{'s' * (self.total.steps != 1)} ran on on-demand after"
            f" their evictions, {self.total.on_demand_hours:.2f} on-demand pod-hours"
            f" ({classes}; {namespaces})"
        )


@dataclass
class FallbackSums:
    """Fallbacks being summed, one pod at a time; a step counts once however many pods."""

    _steps: dict[StepKey, tuple[str, WorkloadClass]] = field(default_factory=dict)
    _hours: dict[tuple[str, WorkloadClass], float] = field(default_factory=dict)

    def add(self, step: StepKey, namespace: str, workload: WorkloadClass, hours: float) -> None:
        """Count one fallback pod that ran ``hours`` on an on-demand node."""
        self._steps.setdefault(step, (namespace, workload))
        key = (namespace, workload)
        self._hours[key] = self._hours.get(key, 0.0) + hours

    def freeze(self) -> Fallbacks:
        """Return the counts per class and per namespace (a namespace may be named as a class)."""
        by_class: dict[WorkloadClass, list[float]] = {}
        by_namespace: dict[str, list[float]] = {}
        for namespace, workload in self._steps.values():
            by_class.setdefault(workload, [0, 0.0])[0] += 1
            by_namespace.setdefault(namespace, [0, 0.0])[0] += 1
        for (namespace, workload), hours in self._hours.items():
            by_class.setdefault(workload, [0, 0.0])[1] += hours
            by_namespace.setdefault(namespace, [0, 0.0])[1] += hours
        return Fallbacks(
            total=FallbackCounts(len(self._steps), sum(self._hours.values(), 0.0)),
            by_class=MappingProxyType(
                {
                    w: FallbackCounts(int(by_class[w][0]), by_class[w][1])
                    for w in WorkloadClass
                    if w in by_class
                }
            ),
            by_namespace=MappingProxyType(
                {n: FallbackCounts(int(c[0]), c[1]) for n, c in sorted(by_namespace.items())}
            ),
        )
