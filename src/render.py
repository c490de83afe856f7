"""Render the spot defaults for a `SpotConfig`: PodDefaults and Argo's `workflowDefaults`.

Rendering is pure: the same config always gives the same manifests, with no cluster access.
Templates live in the charm's top-level `templates/` directory and render with
`StrictUndefined`, so a missing variable is an error rather than an empty string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

from identity import CLASS_LABEL, DEFAULTS_LABEL, charm_labels
from spot_config import RetryOn, RetryPolicy, SpotConfig
from workloads import POD_DEFAULT_RULES, PodDefaultRule, WorkloadClass

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
WORKFLOW_DEFAULTS_KEY = "workflowDefaults"
"""The key of Argo's workflow-controller ConfigMap that the rendered document goes into."""

# Messages Argo records on a step whose pod died with its node: deletion ("pod deleted"), kubelet
# graceful shutdown, node-pressure eviction, scheduler preemption and PodGC of orphans. DAG and
# steps retry wrappers carry no such message, so matching it keeps them from multiplying attempts.
EVICTION_MESSAGE_PATTERN = (
    "(?i)(pod deleted|imminent node shutdown|node is shutting down|shutting, evicting"
    "|evict|low on resource|preempt|neither main nor wait)"
)
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
        "retry": _retry_context(config.retry, config.argo_version),
    }


def _retry_context(retry: RetryPolicy, argo_version: str) -> dict[str, Any] | None:
    if not retry.enabled:
        return None
    expression = None
    if retry.on is RetryOn.ALL:
        policy = "Always"
    elif retry.on is RetryOn.ERRORS or not argo_at_least(argo_version, RETRY_MESSAGE_MIN_ARGO):
        policy = "OnError"
    else:
        policy = "Always"
        expression = f"lastRetry.message matches '{EVICTION_MESSAGE_PATTERN}'"
    return {
        "limit": retry.limit,
        "policy": policy,
        "expression": expression,
        "backoff": retry.backoff,
        "factor": retry.factor,
        "max_duration": retry.max_duration,
    }
