"""spot-fallback-after: once a pipeline step has been evicted N times, it may leave spot.

How (seen on Argo v3.7.17 with kwok, tests/e2e/test_fallback.py): the required spot affinity
moves from the Workflow's `spec.affinity` to `spec.templateDefaults.affinity`. Argo merges the
template defaults into every template (operator.go executeTemplate: mergedTemplateDefaultsInto)
and then, for each attempt of a retried template, substitutes `{{retries}}` (the number of
earlier attempts) and, from 3.7, `{{lastRetry.message}}` into the whole template
(SubstituteParams), affinity and metadata included. A `{{= }}` expression in the affinity can
therefore see the attempt. A Workflow-level `podSpecPatch` cannot: Argo substitutes only
`pod.name` and global parameters into it (workflowpod.go processPodSpecPatch), and KFP v2's
impl templates carry a `podSpecPatch` of their own, which would replace a template default.

Only label keys change, never an operator: Argo 3.5's published schema restricts `operator` to
its enum. The required affinity gets a second term, ORed with the spot one, whose key is a label
no node has until the step falls back, and then `kubernetes.io/os`, which kubelet puts on every
node. The preferred term turns to "not spot", so a fallback attempt goes to on-demand when
there is room and may still use spot (it keeps the spot toleration) when there is not.

Pure: no ops, no lightkube, no project imports (spot_config and render both use it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

FALLBACK_LABEL = "kubeflow-spot/fallback"
"""Put on every pipeline pod under the fallback: "true" on attempts that no longer need spot."""
NO_NODE_KEY = FALLBACK_LABEL
"""A node label key nothing sets, so a requirement that it exists matches no node."""
EVERY_NODE_KEY = "kubernetes.io/os"
"""A node label kubelet sets on every node, so a requirement that it exists matches all."""
MIN_ARGO = (3, 5)
"""3.4 substitutes `{{retries}}` only when it creates an attempt's node: an attempt whose pod is
re-created later (resource quota, argo-workflows#11486) would get the raw expression."""
LAST_RETRY_MIN_ARGO = (3, 7)
"""`{{lastRetry.*}}` inside templates, not only in retryStrategy.expression (#14450, 3.7.0)."""


def _minor(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@dataclass(frozen=True)
class Gap:
    """Why spot-fallback-after renders nothing."""

    reason: str
    warn: bool
    """The Argo version cannot take it: the status warns. Else there is nothing to lift."""


def fallback_gap(
    *, after: int, argo_version: str, retry_on: str, retry_limit: int, required: bool
) -> Gap | None:
    """Say why spot-fallback-after renders nothing for this config, or None when it renders.

    `required`: pipeline steps are required on spot (pipelines in spot-workloads, under
    spot-placement=require). `retry_on` is the spot_config.RetryOn value; `after == 0` is off
    and needs no reason.
    """
    if after == 0:
        return None
    if not required:
        return Gap("pipeline steps are not required on spot, so there is nothing to lift", False)
    if retry_limit == 0:
        return Gap("retry-limit=0: a step is never retried, so no attempt can fall back", False)
    if _minor(argo_version) < MIN_ARGO:
        return Gap(
            f"Argo {argo_version} substitutes {{{{retries}}}} only when it creates an attempt,"
            " so a re-created pod would get the raw expression: no fallback before Argo 3.5",
            True,
        )
    if _minor(argo_version) < LAST_RETRY_MIN_ARGO and retry_on != "evictions":
        return Gap(
            f"Argo {argo_version} has no lastRetry.message in templates, and under"
            f" retry-on={retry_on} retries count other failures too: the fallback needs"
            " retry-on=evictions before Argo 3.7",
            True,
        )
    return None


def fallback_condition(after: int, argo_version: str, eviction_pattern: str) -> str:
    """Return the expr-lang condition under which an attempt no longer requires spot.

    `retries` counts the earlier attempts of the step. Under the charm's own retry default
    (retry-on=evictions) only evictions are retried, so they are all evictions. From Argo 3.7
    the last one must also have been an eviction, so an application failure (of a step with
    its own set_retry) never triggers the fallback, even though it counts towards N.
    """
    condition = f"asInt(retries) >= {after}"
    if _minor(argo_version) >= LAST_RETRY_MIN_ARGO:
        condition += f" && lastRetry.message matches '{eviction_pattern}'"
    return condition


def _choose(condition: str, then: str, otherwise: str) -> str:
    return f"{{{{={condition} ? '{then}' : '{otherwise}'}}}}"


def fallback_requirements(
    condition: str, spot_label_key: str, spot_label_value: str
) -> tuple[dict[str, object], dict[str, object]]:
    """Return the node requirements that turn on with `condition`: any node, and not spot.

    The first is a required term of its own, ORed with the spot term; the second the
    preferred term. Before the condition holds, both name a label no node has: the first then
    matches no node and the second every node alike.
    """
    any_node: dict[str, object] = {
        "key": _choose(condition, EVERY_NODE_KEY, NO_NODE_KEY),
        "operator": "Exists",
    }
    not_spot: dict[str, object] = {
        "key": _choose(condition, spot_label_key, NO_NODE_KEY),
        "operator": "NotIn",
        "values": [spot_label_value],
    }
    return any_node, not_spot


def fallback_label_value(condition: str) -> str:
    """Return the value of `FALLBACK_LABEL`: "true" on attempts that fell back, else "false"."""
    return _choose(condition, "true", "false")


def fell_back(labels: Mapping[str, str]) -> bool:
    """Tell whether a pod (by its labels) is an attempt that no longer required spot."""
    return labels.get(FALLBACK_LABEL) == "true"
