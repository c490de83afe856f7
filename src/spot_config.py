"""Parse and validate the charm's config options into one immutable `SpotConfig`.

Every option is checked before anything is written to the cluster. Problems are collected, not
raised one at a time, so the operator sees every bad option at once; each names the option, the
value given and what is accepted. This module imports neither ops nor lightkube.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from config_options import config_defaults
from durations import DURATION_SYNTAX, DurationError, argo_duration_ns
from fallback import Gap, fallback_gap
from label_selectors import is_dns_subdomain, is_label_value, is_qualified_name
from messages import cut, shown
from spot_profiles import (
    AKS,
    CUSTOM_PROFILE,
    PROFILES,
    TAINT_EFFECTS,
    NodeLabel,
    SpotProfile,
    Taint,
)
from workloads import NEVER_ELIGIBLE, SPOT_ELIGIBLE, WorkloadClass, parse_workload_list


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


SUPPORTED_ARGO_VERSIONS = ("3.4", "3.5", "3.6", "3.7", "4.0")
MAX_RETRY_LIMIT = 20
MAX_BACKOFF_FACTOR = 10
MAX_BACKOFF_SECONDS = 24 * 3600
MAX_RETRY_WINDOW_SECONDS = 7 * 24 * 3600


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
    fallback_after: int = 0
    """spot-fallback-after: evictions after which a step's attempts no longer require spot."""

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
            if self.retry.on is RetryOn.EVICTIONS and self.argo_version != "3.4":
                # render.retries_at_once: no backoff wait, set_retry steps keep Argo's OnFailure.
                retry = (
                    f"retry {self.retry.limit}× at once on evictions"
                    " (set_retry steps: their own policy)"
                )
        evictions = f"{self.fallback_after} eviction{'s' * (self.fallback_after > 1)}"
        fallback = f" · on-demand after {evictions}" * self.falls_back()
        return f"spot: {workloads} · {self.placement} · {retry}{fallback}"

    def fallback_gap(self) -> Gap | None:
        """Say why spot-fallback-after renders nothing, or None when it renders or is off."""
        return fallback_gap(
            after=self.fallback_after,
            argo_version=self.argo_version,
            retry_on=str(self.retry.on),
            retry_limit=self.retry.limit,
            required=self.is_spot(WorkloadClass.PIPELINES) and self.placement is Placement.REQUIRE,
        )

    def falls_back(self) -> bool:
        """Tell whether spot-fallback-after is rendered into the Argo defaults."""
        return self.fallback_after > 0 and self.fallback_gap() is None


@dataclass(frozen=True)
class InvalidOption:
    """One config option whose value cannot be used."""

    option: str
    value: object
    accepted: str

    def __str__(self) -> str:
        """Return `option=value is invalid: accepted ...`, the form used in the status."""
        return f"{self.option}={shown(self.value)} is invalid: {self.accepted}"


class ConfigError(ValueError):
    """The charm config has one or more invalid options."""

    def __init__(self, problems: list[InvalidOption]):
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


_ARGO_VERSION_RE = re.compile(r"v?([0-9]+)\.([0-9]+)(\.[0-9]+)?")


def parse_config(options: Mapping[str, object]) -> SpotConfig:
    """Validate the raw config options and return the configuration they describe.

    Raises:
        ConfigError: naming every invalid option, its value and what is accepted.

    """
    parser = _Parser(options)
    retry = parser.retry()
    config = SpotConfig(
        workloads=parser.workloads(),
        placement=parser.choice("spot-placement", Placement),
        profile=parser.profile(),
        retry=retry,
        argo_version=parser.argo_version(),
        argo_configmap=parser.configmap_name(),
        pod_defaults_delivery=parser.choice("pod-defaults-delivery", PodDefaultsDelivery),
        fallback_after=parser.fallback_after(retry.limit),
    )
    if parser.problems:
        raise ConfigError(parser.problems)
    return config


_Choice = TypeVar("_Choice", bound=enum.StrEnum)


def _int_default(option: str) -> int:
    default = config_defaults()[option]
    assert isinstance(default, int)  # config.yaml declares these options as int.
    return default


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

    def _int(self, option: str, low: int, high: int) -> int:
        value = self._options[option] if option in self._options else _int_default(option)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self._invalid(option, f"an integer from {low} to {high}")
            return _int_default(option)
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
            names = ", ".join(cut(name) for name in unknown[:5])
            self._invalid("spot-workloads", f"unknown class {names}; {accepted}")
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
        if not sep or not is_qualified_name(key) or not is_label_value(value):
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
            or not is_qualified_name(key)
            or not is_label_value(value)
        ):
            self._invalid(
                "spot-node-taint",
                f"key=value:Effect with Effect one of {', '.join(TAINT_EFFECTS)}, or none",
            )
            return False, None
        return True, Taint(key, value, effect)

    def retry(self) -> RetryPolicy:
        limit = self._int("retry-limit", 0, MAX_RETRY_LIMIT)
        factor = self._int("retry-backoff-factor", 1, MAX_BACKOFF_FACTOR)
        backoff, backoff_ns = self._duration("retry-backoff", MAX_BACKOFF_SECONDS)
        max_duration = self._str("retry-max-duration") or None
        if max_duration is not None:
            _, window_ns = self._duration("retry-max-duration", MAX_RETRY_WINDOW_SECONDS)
            # Argo stops retrying when the next wait would pass the window; a window shorter than
            # the first wait would silently disable every retry. Only a valid backoff compares.
            if window_ns is not None and backoff_ns is not None and window_ns <= backoff_ns:
                self._invalid(
                    "retry-max-duration",
                    f"empty, or a duration longer than retry-backoff ({backoff})",
                )
        on = self.choice("retry-on", RetryOn)
        return RetryPolicy(limit, backoff, factor, max_duration, on)

    def fallback_after(self, retry_limit: int) -> int:
        after = self._int("spot-fallback-after", 0, MAX_RETRY_LIMIT)
        if retry_limit and after > retry_limit:  # a fallback that could never happen
            self._invalid("spot-fallback-after", f"0 (off) or 1 to retry-limit ({retry_limit})")
            return 0
        return after

    def _duration(self, option: str, max_seconds: int) -> tuple[str, int | None]:
        """Return the value and Argo's reading of it in nanoseconds, or the default and None."""
        raw = self._str(option)
        try:
            nanoseconds = argo_duration_ns(raw)
        except DurationError:
            nanoseconds = 0
        # Argo waits what it parses: 0.0000000001s is 0 ns, no wait at all.
        if not 0 < nanoseconds <= max_seconds * 10**9:
            self._invalid(option, f"{DURATION_SYNTAX}, above 0 and at most {max_seconds // 3600}h")
            return str(config_defaults()[option]), None
        return raw, nanoseconds

    def argo_version(self) -> str:
        raw = self._str("argo-version")
        found = _ARGO_VERSION_RE.fullmatch(raw)
        minor = f"{found.group(1)}.{found.group(2)}" if found else ""
        if minor not in SUPPORTED_ARGO_VERSIONS:
            self._invalid("argo-version", "one of " + ", ".join(SUPPORTED_ARGO_VERSIONS))
            return SUPPORTED_ARGO_VERSIONS[-1]
        return minor

    def configmap_name(self) -> str:
        raw = self._str("argo-configmap")
        if not is_dns_subdomain(raw):
            self._invalid("argo-configmap", "a ConfigMap name (lowercase DNS subdomain)")
        return raw
