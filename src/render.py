"""Render the spot defaults for a `SpotConfig`: PodDefaults and Argo's `workflowDefaults`.

Rendering is pure: the same config always gives the same manifests, with no cluster access.
Templates live in the charm's top-level `templates/` directory and render with
`StrictUndefined`, so a missing variable is an error rather than an empty string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from evictions import EVICTION_MESSAGE_PATTERN
from fallback import (
    FALLBACK_LABEL,
    fallback_condition,
    fallback_label_value,
    fallback_requirements,
)
from identity import CLASS_LABEL, DEFAULTS_LABEL, charm_labels
from spot_config import Placement, RetryOn, SpotConfig
from workloads import POD_DEFAULT_RULES, PodDefaultRule, WorkloadClass

if TYPE_CHECKING:
    import jinja2

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
WORKFLOW_DEFAULTS_KEY = "workflowDefaults"
"""The key of Argo's workflow-controller ConfigMap that the rendered document goes into."""

RETRY_MESSAGE_MIN_ARGO = "3.5"
"""`lastRetry.message` first appears in Argo 3.5."""


@dataclass(frozen=True)
class RenderedDefaults:
    """Everything the charm applies for one config; `explain.explain` says what it means."""

    pod_defaults: tuple[dict[str, Any], ...]
    """PodDefault manifests without a namespace, one per eligible non-pipeline class."""
    workflow_defaults: str | None
    """The exact `workflowDefaults` ConfigMap value, or None when Argo needs no defaults."""


def argo_at_least(version: str, minimum: str) -> bool:
    """Compare two `major.minor` Argo versions."""
    return _version_key(version) >= _version_key(minimum)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _environment(templates_dir: Path) -> jinja2.Environment:
    # Imported here: report-placement and the reconcile's conflict check use this module's rule
    # helpers (`rendered_rules`, `pod_default_name`) but never render, and importing jinja2 cost
    # each about 35 ms (issue 13).
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    # JSON scalars and flow collections are valid YAML, and json.dumps quotes every string, so a
    # value such as "true" or "5" can never turn into a YAML boolean or integer.
    env.filters["quote"] = lambda value: json.dumps(value, ensure_ascii=False)
    return env


def render(
    config: SpotConfig, *, app: str, templates_dir: Path = TEMPLATES_DIR
) -> RenderedDefaults:
    """Render the PodDefaults and the Argo `workflowDefaults` document for a config.

    Args:
        config: the validated charm config.
        app: the Juju application name, used in object names and labels.
        templates_dir: where the Jinja2 templates are.

    Raises:
        jinja2.UndefinedError: a template uses a variable the renderer did not pass.

    """
    env = _environment(templates_dir)
    pod_defaults = tuple(
        yaml.safe_load(env.get_template("poddefault.yaml.j2").render(**context))
        for context in _pod_default_contexts(config, app)
    )
    workflow_context = _workflow_context(config, app)
    workflow_defaults = (
        env.get_template("workflow-defaults.yaml.j2").render(**workflow_context)
        if workflow_context
        else None
    )
    return RenderedDefaults(pod_defaults, workflow_defaults)


def rendered_rules(config: SpotConfig) -> tuple[PodDefaultRule, ...]:
    """Return the PodDefault rules the config renders: none while spot nodes have no taint.

    The conflict finder (`conflicts`) checks workloads against exactly these.
    """
    if config.profile.taint is None:
        # Without a taint there is nothing to tolerate, and PodDefaults cannot add affinity.
        return ()
    return tuple(rule for rule in POD_DEFAULT_RULES if config.is_spot(rule.workload))


def pod_default_name(rule: PodDefaultRule, app: str) -> str:
    """Return the name of the PodDefault a rule renders, after the application's."""
    return f"{app}-{rule.name}"


def _pod_default_contexts(config: SpotConfig, app: str) -> list[dict[str, Any]]:
    taint = config.profile.taint
    return [
        {
            "name": pod_default_name(rule, app),
            "labels": {**charm_labels(app), CLASS_LABEL: str(rule.workload)},
            "desc": f"Let {rule.describes} run on spot nodes ({app})",
            "selector": rule.selector.to_dict(),
            "toleration": taint.toleration(),
        }
        for rule in rendered_rules(config)
        if taint is not None
    ]


def _workflow_context(config: SpotConfig, app: str) -> dict[str, Any] | None:
    pipelines_on_spot = config.is_spot(WorkloadClass.PIPELINES)
    if not pipelines_on_spot and not config.retry.enabled:
        return None
    taint = config.profile.taint
    label = config.profile.label
    return {
        "app": app,
        "defaults_label": DEFAULTS_LABEL,
        "toleration": taint.toleration() if pipelines_on_spot and taint else None,
        "affinity": str(config.placement) if pipelines_on_spot else None,
        "spot_node_requirement": {"key": label.key, "operator": "In", "values": [label.value]},
        "retry": _retry_context(config),
        "fallback": _fallback_context(config),
    }


def _fallback_context(config: SpotConfig) -> dict[str, Any] | None:
    """Return the template defaults of spot-fallback-after (see `fallback`), or None."""
    if not config.falls_back():
        return None
    condition = fallback_condition(
        config.fallback_after, config.argo_version, EVICTION_MESSAGE_PATTERN
    )
    label = config.profile.label
    any_node, not_spot = fallback_requirements(condition, label.key, label.value)
    return {
        "after": config.fallback_after,
        "label": FALLBACK_LABEL,
        "label_value": fallback_label_value(condition),
        "any_node": any_node,
        "not_spot": not_spot,
    }


def retries_at_once(config: SpotConfig) -> bool:
    """Tell whether the retry default retries evictions at once, with no limit field or wait.

    Argo 3.5+ under retry-on=evictions. processNodeRetries (operator.go, v3.7.17 lines
    1019-1092) waits a retry node's backoff whenever `limit` is set, before it evaluates the
    policy, the limit or the expression, so a failure that will not be retried is reported one
    backoff late at every retry wrapper above it (the DAG and driver templates included). Without
    `limit` it never waits; the expression then bounds the attempts (`retries` is the number of
    earlier retries) and decides alone.
    """
    return config.retry.on is RetryOn.EVICTIONS and argo_at_least(
        config.argo_version, RETRY_MESSAGE_MIN_ARGO
    )


def avoids_tried_nodes(config: SpotConfig) -> bool:
    """Tell whether a retry avoids every node an earlier attempt ran on (nodeAntiAffinity).

    Argo's nodeAntiAffinity is a required NotIn on the hostnames tried so far. With a required
    spot affinity, once every spot node has been tried the retry stays Pending for ever (seen
    on Argo 3.7.17); so under spot-placement=require it is left out: the scheduler already keeps
    a retry off a node that is gone, cordoned, tainted NoExecute or under pressure.
    """
    return not (config.is_spot(WorkloadClass.PIPELINES) and config.placement is Placement.REQUIRE)


def _retry_context(config: SpotConfig) -> dict[str, Any] | None:
    retry = config.retry
    if not retry.enabled:
        return None
    expression = None
    limit: int | None = retry.limit
    backoff: str | None = retry.backoff
    if retry.on is RetryOn.ALL:
        policy = "Always"
    elif retry.on is RetryOn.ERRORS or not retries_at_once(config):
        policy = "OnError"
    else:
        policy = "Always"
        expression = (
            f"asInt(retries) < {retry.limit} && lastRetry.message matches"
            f" '{EVICTION_MESSAGE_PATTERN}'"
        )
        limit = None
        # Without a limit Argo never waits; a backoff is still needed to carry maxDuration.
        backoff = retry.backoff if retry.max_duration else None
    return {
        "limit": limit,
        "policy": policy,
        "expression": expression,
        "backoff": backoff,
        "factor": retry.factor,
        "max_duration": retry.max_duration,
        "anti_affinity": avoids_tried_nodes(config),
    }
