"""Say what the rendered spot defaults mean for a config: what each class gets, and the caveats.

`show-defaults` prints these notes next to the manifests, and the status its warnings; they are
prose for the operator and take no part in what is applied. Pure: no ops, no lightkube.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from conflicts import Conflict
from fallback import FALLBACK_LABEL, LAST_RETRY_MIN_ARGO
from label_selectors import SelectorRequirement
from render import (
    argo_at_least,
    avoids_tried_nodes,
    pod_default_name,
    rendered_rules,
    retries_at_once,
)
from spot_config import Placement, RetryOn, SpotConfig
from workloads import (
    EXCLUSIONS,
    NEVER_ELIGIBLE,
    POD_DEFAULT_CLASSES,
    WorkloadClass,
)

APP_PLACEHOLDER = "<app>"


def status_warnings(config: SpotConfig, conflicts: Sequence[Conflict]) -> list[str]:
    """Return what the Active status warns of: untainted spot nodes, rejected workloads."""
    warnings = []
    if config.profile.taint is None:
        warnings.append(
            "spot nodes are untainted, nothing keeps notebooks, servers or the control plane"
            " off them: taint the spot pool and set spot-node-taint"
        )
    gap = config.fallback_gap()
    if gap is not None and gap.warn:
        warnings.append(
            f"spot-fallback-after={config.fallback_after} is not applied: {gap.reason}"
        )
    if conflicts:
        first, count = conflicts[0], len(conflicts)
        warnings.append(
            f"{count} workload{'s tolerate' if count > 1 else ' tolerates'} the spot taint"
            f" differently from the PodDefaults, so their pods are rejected ({first.kind}"
            f" {first.namespace}/{first.name}): run report-placement"
        )
    return warnings


def explain(config: SpotConfig) -> tuple[str, ...]:
    """Return the notes on a config, one paragraph each: pipelines, PodDefault classes, retry."""
    return tuple(_notes(config))


def _notes(config: SpotConfig) -> list[str]:
    notes = [_pipelines_note(config)]
    pod_default_classes = [w for w in POD_DEFAULT_CLASSES if config.is_spot(w)]
    taint = config.profile.taint
    if pod_default_classes and taint is None:
        notes.append(
            f"{', '.join(pod_default_classes)}: no PodDefault is rendered because spot nodes under"
            f" spot-profile={config.profile.name} carry no taint, so nothing needs tolerating and"
            " PodDefaults cannot add node affinity. Nothing keeps notebooks, servers or the"
            " control plane off spot nodes either: taint the spot pool and set spot-node-taint."
        )
    elif pod_default_classes and taint is not None:
        selects = "; ".join(
            f"{pod_default_name(rule, APP_PLACEHOLDER)}: {rule.describes}"
            for rule in rendered_rules(config)
        )
        notes.append(
            f"{', '.join(pod_default_classes)}: a PodDefault in every profile namespace adds the"
            f" toleration {json.dumps(taint.toleration())} ({selects}). PodDefaults cannot carry"
            " node affinity, so these pods may use spot nodes but are not steered to them;"
            " spot-placement applies to pipelines only. A workload that already tolerates"
            f" {taint.key} must use exactly this toleration, or the PodDefault webhook rejects"
            " its pods (report-placement lists such workloads)."
        )
    if not config.is_spot(WorkloadClass.SPARK):
        notes.append("spark: Spark executors stay off spot unless spot-workloads names spark.")
    never = ", ".join(str(workload) for workload in NEVER_ELIGIBLE)
    excluded = ", ".join(_requirement_text(exclusion.requirement) for exclusion in EXCLUSIONS)
    notes.append(
        f"{never}: never tolerated on spot; every PodDefault excludes pods with {excluded}."
    )
    notes.extend(_retry_notes(config))
    notes.extend(_fallback_notes(config))
    return notes


def _fallback_notes(config: SpotConfig) -> list[str]:
    after = config.fallback_after
    if after == 0:
        return ["spot-fallback-after=0: a step evicted again and again keeps requiring spot."]
    gap = config.fallback_gap()
    if gap is not None:
        return [f"spot-fallback-after={after}: nothing rendered: {gap.reason}."]
    times = f"{after} time{'s' * (after > 1)}"
    note = (
        f"spot-fallback-after={after}: once a step has been evicted {times}, its next attempts"
        " no longer require spot nodes: they prefer on-demand nodes and may still use spot ones"
        f" (such pods are labelled {FALLBACK_LABEL}=true and report-placement counts them)."
        " The retries it counts are Argo's: under the retry default only evictions are retried."
    )
    if argo_at_least(config.argo_version, ".".join(map(str, LAST_RETRY_MIN_ARGO))):
        note += (
            " A step with its own set_retry counts its application failures too, but only an"
            " attempt right after an eviction falls back."
        )
    else:
        note += (
            f" Argo {config.argo_version} has no lastRetry in templates: a step with its own"
            " set_retry counts every failed attempt, so its application failures can trigger"
            " the fallback too."
        )
    return [
        note,
        "spot-fallback-after counts evictions, not waiting: when the spot pool is gone before a"
        f" step's eviction number {after}, its retry stays Pending (report-placement: stuck).",
        "spot-fallback-after: a step with a required node affinity of its own (KFP v1"
        " add_affinity, kfp-kubernetes node affinity) keeps it and never falls back; a KFP v1"
        " step with other affinity of its own now also gets the spot affinity (Argo merges"
        " template defaults into it), where before its own replaced the default.",
    ]


def _requirement_text(requirement: SelectorRequirement) -> str:
    if requirement.operator == "Exists":
        return f"the label {requirement.key}"
    if len(requirement.values) == 1:
        return f"{requirement.key}={requirement.values[0]}"
    return f"{requirement.key} in ({', '.join(requirement.values)})"


def _pipelines_note(config: SpotConfig) -> str:
    if not config.is_spot(WorkloadClass.PIPELINES):
        return "pipelines: not on spot; Argo workflowDefaults carry no toleration or affinity."
    label = config.profile.label
    steering = {
        Placement.REQUIRE: f"a required node affinity on {label}: steps run only on spot nodes",
        Placement.PREFER: (
            f"a preferred node affinity on {label}: steps run on spot nodes when there is room"
            " and fall back to on-demand nodes"
        ),
        Placement.TOLERATE: "no node affinity: steps may use spot nodes but are not steered there",
    }[config.placement]
    taint = config.profile.taint
    toleration = f"the toleration for {taint} and " if taint else ""
    note = f"pipelines: Argo workflowDefaults give every step {toleration}{steering}."
    if config.placement is Placement.REQUIRE and taint:
        note += (
            " A step that sets its own tolerations (KFP add_toleration) replaces the default"
            " one and then cannot schedule; use spot-placement=prefer for such pipelines."
        )
    return note


def _retry_notes(config: SpotConfig) -> list[str]:
    retry = config.retry
    if not retry.enabled:
        return ["retry: no retry default (retry-limit=0)."]
    window = f", all within {retry.max_duration} of the first start" if retry.max_duration else ""
    nodes = (
        " a retry avoids the nodes earlier attempts ran on."
        if avoids_tried_nodes(config)
        else " a retry may go back to a spot node tried before (under spot-placement=require"
        " avoiding every tried node would leave it Pending once all were tried); the scheduler"
        " keeps it off nodes that are gone, cordoned, tainted NoExecute or under pressure."
    )
    if retries_at_once(config):
        notes = [
            f"retry: a step without a retryStrategy of its own is retried at once when it was"
            f" evicted, up to {retry.limit} times{window}; retry-backoff and"
            " retry-backoff-factor do not apply (Argo waits a backoff before deciding on any"
            " failure, at every DAG level above it, whenever a limit is set, so the limit is"
            " counted in the expression instead);" + nodes,
            "retry-on=evictions: only steps killed by eviction, preemption, node shutdown or pod"
            " deletion are retried; an application failure is not, and fails its run at once.",
            "set_retry: a step with its own retryStrategy (KFP set_retry) keeps it whole, so"
            " Argo's OnFailure applies: evictions that end in phase Failed (Eviction API, drain,"
            " taint manager, node pressure) are retried as set_retry says, but a pod that"
            " vanished before Argo saw it end (phase Error, 'pod deleted', e.g. its VM gone) is"
            f" not. On Argo {config.argo_version} no workflowDefaults field adds that without"
            " also retrying the application failures of every other step (templateDefaults"
            " merges into every template); KFP v1 users can pass set_retry(policy='Always').",
        ]
    else:
        growth = f", each wait ×{retry.factor}" if retry.factor > 1 else ""
        notes = [
            f"retry: up to {retry.limit} retries, the first after {retry.backoff}{growth}{window},"
            " for steps without a retryStrategy of their own (KFP set_retry keeps its own);"
            + nodes
        ]
    if retry.on is RetryOn.EVICTIONS and not retries_at_once(config):
        notes.append(
            f"retry-on=evictions: Argo {config.argo_version} has no lastRetry.message, so this"
            " falls back to OnError: deleted pods are retried, steps failed by a graceful node"
            " shutdown are not."
        )
    elif retry.on is not RetryOn.EVICTIONS:
        policy = "OnError" if retry.on is RetryOn.ERRORS else "Always"
        notes.append(
            f"retry-on={retry.on} (Argo {policy}) also retries DAG and steps templates, so"
            " attempts multiply with each nesting level of a pipeline, and every failure that"
            f" is not retried is reported one backoff ({retry.backoff}) late at each level."
        )
    if not argo_at_least(config.argo_version, "4.0"):
        notes.append(
            f"Argo {config.argo_version}: a step killed with its node can be recorded as Succeeded"
            " and is then never retried (argo-workflows#12231, fixed in 3.6.16, 3.7.7 and 4.0)."
        )
    return notes
