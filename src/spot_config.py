"""Parse and validate the charm's config options into one immutable `SpotConfig`.

Every option is checked before anything is written to the cluster. Problems are collected, not
raised one at a time, so the operator sees every bad option at once; each names the option, the
value given and what is accepted. This module imports neither ops nor lightkube.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from workloads import (
    DNS_SUBDOMAIN_RE,
    LABEL_VALUE_RE,
    NEVER_ELIGIBLE,
    QUALIFIED_NAME_RE,
    SPOT_ELIGIBLE,
    WorkloadClass,
    parse_workload_list,
)


class Placement(enum.StrEnum):
    """How strongly eligible pipeline steps are steered to spot nodes."""

    REQUIRE = "require"
    PREFER = "prefer"
    TOLERATE = "tolerate"


class PodDefaultsDelivery(enum.StrEnum):
    """How PodDefaults reach the profile namespaces."""

    AUTO = "auto"
    """Through resource-dispatcher while related to it, else applied directly."""
    RESOURCE_DISPATCHER = "resource-dispatcher"
    """Only through resource-dispatcher: without the relation, none are delivered."""


class RetryOn(enum.StrEnum):
    """Which failed pipeline steps the Argo retry default retries."""

    EVICTIONS = "evictions"
    ERRORS = "errors"
    ALL = "all"


TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
SUPPORTED_ARGO_VERSIONS = ("3.4", "3.5", "3.6", "3.7", "4.0")
MAX_RETRY_LIMIT = 20
MAX_BACKOFF_FACTOR = 10
MAX_BACKOFF_SECONDS = 24 * 3600
MAX_RETRY_WINDOW_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class NodeLabel:
    """A `key=value` node label."""

    key: str
    value: str

    def __str__(self) -> str:
        """Return the label as `key=value`."""
        return f"{self.key}={self.value}"


@dataclass(frozen=True)
class Taint:
    """A node taint `key=value:Effect` (the value may be empty)."""

    key: str
    value: str
    effect: str

    def __str__(self) -> str:
        """Return the taint in kubectl's `key=value:Effect` form."""
        return (
            f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"
        )

    def toleration(self) -> dict[str, str]:
        """Return the one toleration that lets a pod onto nodes with this taint."""
        if not self.value:
            return {"key": self.key, "operator": "Exists", "effect": self.effect}
        return {"key": self.key, "operator": "Equal", "value": self.value, "effect": self.effect}


@dataclass(frozen=True)
class SpotProfile:
    """How spot nodes are recognised on one platform."""

    name: str
    label: NodeLabel
    """The label that spot node affinity selects on."""
    taint: Taint | None
    """The taint spot nodes carry, or None when the platform does not taint them."""
    also_spot: tuple[NodeLabel, ...] = ()
    """Further labels that mark a node as spot when detecting spot nodes."""
    pool_label: str | None = None
    """The node label naming the node pool, for reports."""

    def spot_labels(self) -> tuple[NodeLabel, ...]:
        """Return every label that marks a node as spot, the affinity label first."""
        return (self.label, *self.also_spot)

    def is_spot_node(self, labels: Mapping[str, str], taint_keys: Iterable[str] = ()) -> bool:
        """Tell whether a node with these labels and taint keys is a spot node."""
        if any(labels.get(label.key) == label.value for label in self.spot_labels()):
            return True
        return self.taint is not None and self.taint.key in taint_keys


AKS = SpotProfile(
    name="aks",
    label=NodeLabel("kubernetes.azure.com/scalesetpriority", "spot"),
    taint=Taint("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule"),
    # AKS marks `scalesetpriority` deprecated in favour of `priority`; nodes carry both today.
    also_spot=(NodeLabel("kubernetes.azure.com/priority", "spot"),),
    pool_label="kubernetes.azure.com/agentpool",
)
EKS = SpotProfile(
    name="eks",
    label=NodeLabel("eks.amazonaws.com/capacityType", "SPOT"),
    taint=None,
    pool_label="eks.amazonaws.com/nodegroup",
)
GKE = SpotProfile(
    name="gke",
    label=NodeLabel("cloud.google.com/gke-spot", "true"),
    taint=Taint("cloud.google.com/gke-spot", "true", "NoSchedule"),
    pool_label="cloud.google.com/gke-nodepool",
)
KARPENTER = SpotProfile(
    name="karpenter",
    label=NodeLabel("karpenter.sh/capacity-type", "spot"),
    taint=None,
    pool_label="karpenter.sh/nodepool",
)
PROFILES: dict[str, SpotProfile] = {p.name: p for p in (AKS, EKS, GKE, KARPENTER)}
CUSTOM_PROFILE = "custom"


@dataclass(frozen=True)
class RetryPolicy:
    """The retry default for pipeline steps; `limit == 0` means no retry default."""

    limit: int
    backoff: str
    factor: int
    max_duration: str | None
    on: RetryOn

    @property
    def enabled(self) -> bool:
        """Tell whether a retry strategy is rendered at all."""
        return self.limit > 0


@dataclass(frozen=True)
class SpotConfig:
    """The validated configuration of the charm."""

    workloads: tuple[WorkloadClass, ...]
    placement: Placement
    profile: SpotProfile
    retry: RetryPolicy
    argo_version: str
    """Argo Workflows minor version, such as `3.7`."""
    argo_configmap: str
    pod_defaults_delivery: PodDefaultsDelivery

    def is_spot(self, workload: WorkloadClass) -> bool:
        """Tell whether the operator allows this class on spot nodes."""
        return workload in self.workloads

    def summary(self) -> str:
        """Return the one-line description used in the unit status."""
        workloads = ",".join(self.workloads) or "none"
        if not self.retry.enabled:
            retry = "no retry"
        else:
            factor = f" ×{self.retry.factor} backoff" if self.retry.factor > 1 else ""
            retry = f"retry {self.retry.limit}×{self.retry.backoff}{factor} on {self.retry.on}"
        return f"spot: {workloads} · {self.placement} · {retry}"


@dataclass(frozen=True)
class InvalidOption:
    """One config option whose value cannot be used."""

    option: str
    value: object
    accepted: str

    def __str__(self) -> str:
        """Return `option=value is invalid: accepted ...`, the form used in the status."""
        return f"{self.option}={self.value!r} is invalid: {self.accepted}"


class ConfigError(ValueError):
    """The charm config has one or more invalid options."""

    def __init__(self, problems: list[InvalidOption]):
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


# Kubernetes name grammar (apimachinery validation): qualified names, label values, DNS names.
# Go's time.ParseDuration restricted to hours, minutes and seconds.
_DURATION_RE = re.compile(r"^(\d+(\.\d+)?(h|m|s))+$")
_DURATION_PART_RE = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
_ARGO_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(\.\d+)?$")


def duration_seconds(text: str) -> float:
    """Return the length of a Go duration made of h, m and s parts, such as `1h30m`.

    Raises:
        ValueError: the text is not such a duration.

    """
    if not _DURATION_RE.match(text):
        raise ValueError(f"not a Go duration: {text!r}")
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART_RE.findall(text))


def parse_config(options: Mapping[str, object]) -> SpotConfig:
    """Validate the raw config options and return the configuration they describe.

    Raises:
        ConfigError: naming every invalid option, its value and what is accepted.

    """
    parser = _Parser(options)
    config = SpotConfig(
        workloads=parser.workloads(),
        placement=parser.choice("spot-placement", Placement),
        profile=parser.profile(),
        retry=parser.retry(),
        argo_version=parser.argo_version(),
        argo_configmap=parser.configmap_name(),
        pod_defaults_delivery=parser.choice("pod-defaults-delivery", PodDefaultsDelivery),
    )
    if parser.problems:
        raise ConfigError(parser.problems)
    return config


_Choice = TypeVar("_Choice", bound=enum.StrEnum)


class _Parser:
    """Reads options one by one, recording problems instead of stopping at the first."""

    def __init__(self, options: Mapping[str, object]):
        self._options = options
        self.problems: list[InvalidOption] = []

    def _invalid(self, option: str, accepted: str) -> None:
        self.problems.append(InvalidOption(option, self._options.get(option), accepted))

    def _str(self, option: str) -> str:
        value = self._options.get(option, "")
        return value.strip() if isinstance(value, str) else str(value)

    def _int(self, option: str, low: int, high: int, default: int) -> int:
        value = self._options.get(option, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self._invalid(option, f"an integer from {low} to {high}")
            return default
        return value

    def choice(self, option: str, kind: type[_Choice]) -> _Choice:
        """Return the enum member named by the option, or its first member if invalid."""
        raw = self._str(option)
        try:
            return kind(raw)
        except ValueError:
            self._invalid(option, "one of " + ", ".join(m.value for m in kind))
            return next(iter(kind))

    def workloads(self) -> tuple[WorkloadClass, ...]:
        eligible, ineligible, unknown = parse_workload_list(self._str("spot-workloads"))
        accepted = "a comma-separated list of " + ", ".join(c.value for c in SPOT_ELIGIBLE)
        if ineligible:
            reasons = "; ".join(
                f"{name} never runs on spot ({NEVER_ELIGIBLE[WorkloadClass(name)]})"
                for name in ineligible
            )
            self._invalid("spot-workloads", f"{reasons}; {accepted}")
        elif unknown:
            self._invalid("spot-workloads", f"unknown class {', '.join(unknown)}; {accepted}")
        return tuple(eligible)

    def profile(self) -> SpotProfile:
        name = self._str("spot-profile")
        label = self._node_label()
        taint_given, taint = self._taint()
        if name == CUSTOM_PROFILE:
            # An invalid value was reported already; only a missing one needs saying here.
            if label is None and not self._str("spot-node-label"):
                self._invalid("spot-node-label", "key=value is required with spot-profile=custom")
            if not taint_given and not self._str("spot-node-taint"):
                self._invalid(
                    "spot-node-taint",
                    "key=value:Effect or none is required with spot-profile=custom",
                )
            return SpotProfile(name=name, label=label or NodeLabel("", ""), taint=taint)
        base = PROFILES.get(name)
        if base is None:
            self._invalid("spot-profile", "one of " + ", ".join([*PROFILES, CUSTOM_PROFILE]))
            return AKS
        return SpotProfile(
            name=base.name,
            label=label or base.label,
            taint=taint if taint_given else base.taint,
            # An explicit label replaces how spot nodes are recognised, not just steered to.
            also_spot=base.also_spot if label is None else (),
            pool_label=base.pool_label,
        )

    def _node_label(self) -> NodeLabel | None:
        raw = self._str("spot-node-label")
        if not raw:
            return None
        key, sep, value = raw.partition("=")
        if not sep or not QUALIFIED_NAME_RE.match(key) or not LABEL_VALUE_RE.match(value):
            self._invalid(
                "spot-node-label", "key=value with a valid Kubernetes label key and value"
            )
            return None
        return NodeLabel(key, value)

    def _taint(self) -> tuple[bool, Taint | None]:
        """Return whether a valid taint override was given, and the taint (None for `none`)."""
        raw = self._str("spot-node-taint")
        if not raw:
            return False, None
        if raw == "none":
            return True, None
        key_value, sep, effect = raw.rpartition(":")
        key, _, value = key_value.partition("=")
        if (
            not sep
            or effect not in TAINT_EFFECTS
            or not QUALIFIED_NAME_RE.match(key)
            or not LABEL_VALUE_RE.match(value)
        ):
            self._invalid(
                "spot-node-taint",
                f"key=value:Effect with Effect one of {', '.join(TAINT_EFFECTS)}, or none",
            )
            return False, None
        return True, Taint(key, value, effect)

    def retry(self) -> RetryPolicy:
        limit = self._int("retry-limit", 0, MAX_RETRY_LIMIT, default=5)
        factor = self._int("retry-backoff-factor", 1, MAX_BACKOFF_FACTOR, default=1)
        backoff = self._duration("retry-backoff", MAX_BACKOFF_SECONDS, default="5m")
        max_duration = self._str("retry-max-duration") or None
        if max_duration is not None:
            window = self._duration("retry-max-duration", MAX_RETRY_WINDOW_SECONDS, default="")
            # Argo stops retrying when the next wait would pass the window; a window shorter than
            # the first wait would silently disable every retry.
            if window and duration_seconds(window) <= duration_seconds(backoff):
                self._invalid(
                    "retry-max-duration",
                    f"empty, or a duration longer than retry-backoff ({backoff})",
                )
        on = self.choice("retry-on", RetryOn)
        return RetryPolicy(limit, backoff, factor, max_duration, on)

    def _duration(self, option: str, max_seconds: int, default: str) -> str:
        raw = self._str(option)
        try:
            seconds = duration_seconds(raw)
        except ValueError:
            seconds = 0
        if not 0 < seconds <= max_seconds:
            limit = f"{max_seconds // 3600}h"
            self._invalid(
                option, f"a Go duration such as 30s, 5m or 1h30m, above 0 and at most {limit}"
            )
            return default
        return raw

    def argo_version(self) -> str:
        raw = self._str("argo-version")
        found = _ARGO_VERSION_RE.match(raw)
        minor = f"{found.group(1)}.{found.group(2)}" if found else ""
        if minor not in SUPPORTED_ARGO_VERSIONS:
            self._invalid("argo-version", "one of " + ", ".join(SUPPORTED_ARGO_VERSIONS))
            return SUPPORTED_ARGO_VERSIONS[-1]
        return minor

    def configmap_name(self) -> str:
        raw = self._str("argo-configmap")
        if len(raw) > 253 or not DNS_SUBDOMAIN_RE.match(raw):
            self._invalid("argo-configmap", "a ConfigMap name (lowercase DNS subdomain)")
        return raw
