"""Settle the evictions Argo recorded against the pods the report saw, counting each once.

An attempt Argo recorded as taken away (`workflows.WorkflowFacts`) is an eviction, unless its
pod is still there showing the disruption itself (a `DisruptionTarget` condition, an `Evicted`
reason): that pod is counted by its own signal already, and the two are the same pod when
Argo's name for the attempt's pod is the pod's name. An attempt that failed for another reason
(exit 1, OOMKilled) is never an eviction, whether Argo retried it (`set_retry`, `retry-on=all`)
or not. Pure: no ops, no lightkube.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from placement.workflows import WorkflowFacts
from workloads import WorkloadClass

TABLE_FAILED_STEPS = 10
"""At most this many steps failed by evictions are named in the table; the rest are counted."""


@dataclass(frozen=True)
class SeenPod:
    """What the report knows of a pod it read, to match Argo's attempts to it."""

    workload: WorkloadClass
    disrupted: bool
    """The pod shows its disruption itself, and counts it."""


@dataclass(frozen=True)
class FailedStepRow:
    """A step that failed after its last attempt was taken away, for the report."""

    namespace: str
    workflow: str
    step: str
    evictions: int
    attempts: int
    message: str

    def to_dict(self) -> dict[str, object]:
        """Return the row as the json/yaml report shows it."""
        return {
            "workflow": f"{self.namespace}/{self.workflow}",
            "step": self.step,
            "evictions": self.evictions,
            "attempts": self.attempts,
            "message": self.message,
        }

    def describe(self) -> str:
        """Say it as the table does."""
        times = "once" if self.evictions == 1 else f"{self.evictions} times"
        argo = f"; Argo: {self.message}" if self.message else ""
        return (
            f"{self.namespace}/{self.workflow} step {self.step}: failed, evicted {times}"
            f" in {self.attempts} attempts{argo}"
        )


@dataclass
class ArgoSettlement:
    """The evictions and retries Argo recorded that the report counts."""

    evictions: Counter[tuple[str, WorkloadClass, str]] = field(default_factory=Counter)
    """(namespace, class, signal) -> evictions no visible pod counts already."""
    retries: int = 0
    """Attempts Argo followed with another one."""
    application_retries: int = 0
    """Of those, the ones after a failure that was no eviction."""
    failed_steps: list[FailedStepRow] = field(default_factory=list)
    workflows: int = 0


def settle(
    workflows: Iterable[WorkflowFacts],
    pods: Mapping[tuple[str, str], SeenPod],
    selected: frozenset[tuple[str, str]] | None = None,
) -> ArgoSettlement:
    """Count what the Workflows recorded, each eviction once against the pods seen.

    Args:
        workflows: the Workflows read.
        pods: the pods read, by (namespace, name).
        selected: with a label selector, the (namespace, workflow) of the pods it selected:
            only those Workflows count. None counts every Workflow.

    """
    settled = ArgoSettlement()
    for workflow in workflows:
        if selected is not None and (workflow.namespace, workflow.name) not in selected:
            continue
        settled.workflows += 1
        for attempt in workflow.attempts:
            seen = pods.get((workflow.namespace, attempt.pod))
            if attempt.retried:
                settled.retries += 1
                settled.application_retries += attempt.signal is None
            if attempt.signal is None or (seen is not None and seen.disrupted):
                continue
            workload = seen.workload if seen is not None else WorkloadClass.PIPELINES
            settled.evictions[workflow.namespace, workload, attempt.signal] += 1
        settled.failed_steps.extend(
            FailedStepRow(
                workflow.namespace, workflow.name, s.step, s.evictions, s.attempts, s.message
            )
            for s in workflow.failed_steps
        )
    return settled
