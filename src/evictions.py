"""What Argo records on a step whose pod was taken away: one home for the render and the report.

The charm's retry expression (`render`) matches a failed attempt's `lastRetry.message` against
`EVICTION_MESSAGE_PATTERN`, and `report-placement` counts an attempt Argo recorded with such a
message as an eviction (`eviction_kind`), with the signal of its kind. Both read the same
`EVICTION_MESSAGES`, so what the charm retries as an eviction is what the report counts as one.
Pure: no ops, no lightkube.
"""

from __future__ import annotations

import re

# Messages Argo (3.7.17, inferFailedReason and podReconciliation) records on a step whose pod was
# taken away: deleted before Argo saw an end ("pod deleted"); terminated gracefully on deletion
# (Eviction API, drain, taint manager: "main: Error (exit code 143)", or 137 after the grace
# period, or ContainerStatusUnknown for a container kubelet could not find); node-pressure
# eviction ("The node was low on resource: ..."); kubelet node shutdown, scheduler preemption,
# and PodGC's orphans ("neither main nor wait"). OOMKilled (137 with reason OOMKilled) is not
# one: it would fail again. `.` stands for the parenthesis so that no backslash needs escaping
# through YAML, expr-lang and Go regexp (Python's `re` reads the pattern the same way). DAG and
# steps retry wrappers carry no such message, so matching it keeps them from multiplying
# attempts.
EVICTION_MESSAGES: tuple[tuple[str, str], ...] = (
    ("pod deleted", "ArgoPodDeleted"),
    ("imminent node shutdown", "ArgoNodeShutdown"),
    ("node is shutting down", "ArgoNodeShutdown"),
    ("shutting, evicting", "ArgoNodeShutdown"),
    ("evict", "ArgoEvicted"),
    ("low on resource", "ArgoNodePressure"),
    ("preempt", "ArgoPreempted"),
    ("neither main nor wait", "ArgoPodLost"),
    ("exit code 143", "ArgoTerminated"),
    ("Error .exit code 137", "ArgoTerminated"),
    ("ContainerStatusUnknown", "ArgoTerminated"),
)
"""(message pattern, report signal), in the order the retry expression lists them."""

EVICTION_MESSAGE_PATTERN = "(?i)(" + "|".join(pattern for pattern, _ in EVICTION_MESSAGES) + ")"
"""The retry expression's `lastRetry.message matches '...'` (Go regexp, case-insensitive)."""

EVICTION_SIGNALS = {
    "ArgoPodDeleted": "the pod vanished before Argo saw it end (its VM gone, force-deleted)",
    "ArgoTerminated": "terminated on deletion: SIGTERM, exit 143 (Eviction API, drain, taints)",
    "ArgoNodePressure": "evicted by kubelet for node pressure",
    "ArgoNodeShutdown": "terminated by a node shutdown",
    "ArgoPreempted": "preempted",
    "ArgoEvicted": "evicted",
    "ArgoPodLost": "no container of the pod reported an end (PodGC's orphan)",
}
"""What each signal of an eviction Argo recorded means (README, report section)."""

_KINDS = tuple(
    (re.compile(pattern, re.IGNORECASE), signal) for pattern, signal in EVICTION_MESSAGES
)
FAILED_PHASES = ("Failed", "Error")


def eviction_kind(phase: str, message: str) -> str | None:
    """Return the signal of an attempt Argo recorded as taken away, or None.

    Only a failed attempt (phase Failed or Error) can be an eviction; the first pattern of
    `EVICTION_MESSAGES` that the message contains gives the kind, as `matches` finds it.
    """
    if phase not in FAILED_PHASES:
        return None
    return next((signal for pattern, signal in _KINDS if pattern.search(message)), None)
