"""What `show-defaults` prints: its params, the document of what is applied, and its YAML.

Pure: the document is built from the config, the rendered defaults and the delivery plan, with
no cluster access. This module does not import ops.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

import yaml

from delivery import DeliveryPath, DeliveryPlan
from explain import explain
from identity import PROFILE_NAMESPACE_SELECTOR
from render import WORKFLOW_DEFAULTS_KEY, RenderedDefaults
from spot_config import SpotConfig


class DefaultsFormat(enum.StrEnum):
    """How `show-defaults` prints the document."""

    YAML = "yaml"
    JSON = "json"


@dataclass(frozen=True)
class ShowDefaultsParams:
    """Params of the `show-defaults` action."""

    format: str = DefaultsFormat.YAML

    def __post_init__(self) -> None:
        """Reject formats other than yaml and json before any work is done."""
        if self.format not in set(DefaultsFormat):
            raise ValueError(f"format={self.format!r} is invalid: one of yaml, json")


_TARGET_NAMESPACES = {
    DeliveryPath.DIRECT: f"every namespace labelled {PROFILE_NAMESPACE_SELECTOR}",
    DeliveryPath.RESOURCE_DISPATCHER: (
        "every namespace resource-dispatcher targets (by default those labelled"
        " user.kubeflow.org/enabled=true)"
    ),
    DeliveryPath.WITHDRAWN: "none",
}


def show_defaults_results(
    rendered: RenderedDefaults,
    plan: DeliveryPlan,
    config: SpotConfig,
    *,
    namespace: str,
    fmt: str,
) -> dict[str, str]:
    """Return the action's results: the config's summary, the delivery, notes and the defaults."""
    document = defaults_document(rendered, plan, config, namespace=namespace)
    return {
        "summary": config.summary(),
        "delivery": plan.describe(),
        "notes": "\n".join(explain(config)),
        "defaults": dump(document, fmt),
    }


def defaults_document(
    rendered: RenderedDefaults, plan: DeliveryPlan, config: SpotConfig, *, namespace: str
) -> dict[str, object]:
    """Describe what the charm applies, in the shape `show-defaults` prints."""
    return {
        "podDefaults": {
            "delivery": plan.describe(),
            "namespaces": _TARGET_NAMESPACES[plan.path],
            "manifests": list(plan.manifests),
        },
        "argo": {
            "configMap": f"{namespace}/{config.argo_configmap}",
            "key": WORKFLOW_DEFAULTS_KEY,
            "value": rendered.workflow_defaults,
        },
    }


def dump(document: dict[str, object], fmt: str) -> str:
    """Serialise the document: indented JSON, or YAML with multi-line strings as blocks."""
    if fmt == DefaultsFormat.JSON:
        return json.dumps(document, indent=2)
    return yaml.dump(document, Dumper=_LiteralDumper, sort_keys=False)


class _LiteralDumper(yaml.SafeDumper):
    """Dumps multi-line strings as YAML literal blocks, so the Argo document reads as written."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LiteralDumper.add_representer(str, _represent_str)
