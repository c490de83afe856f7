"""Kubernetes label selectors: the names they may use, `kubectl -l` syntax, and matching.

Used for PodDefault selectors, the `selector` param of `report-placement` and pods' required
node affinity; the grammar and the matching follow apimachinery's. Pure: no ops, no lightkube.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# apimachinery's own grammar (pkg/api/validate/content, k8s.io/apimachinery v0.36): the same
# patterns and byte limits, matched whole (Python's `$` would accept a trailing newline). A DNS
# subdomain has no per-label limit of its own, only 253 in all, as in apimachinery.
_NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_LABEL_RE = re.compile(_DNS_LABEL)
_DNS_SUBDOMAIN_RE = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
NAME_MAX = 63
SUBDOMAIN_MAX = 253


def is_qualified_name(key: str) -> bool:
    """Tell whether the API server takes this as a label key or taint key (IsQualifiedName)."""
    prefix, slash, name = key.rpartition("/")
    if slash and not is_dns_subdomain(prefix):
        return False
    return len(name) <= NAME_MAX and _NAME_RE.fullmatch(name) is not None


def is_label_value(value: str) -> bool:
    """Tell whether the API server takes this as a label value (IsValidLabelValue)."""
    return value == "" or (len(value) <= NAME_MAX and _NAME_RE.fullmatch(value) is not None)


def is_dns_label(name: str) -> bool:
    """Tell whether this is a DNS-1123 label, such as a namespace name (IsDNS1123Label)."""
    return len(name) <= NAME_MAX and _DNS_LABEL_RE.fullmatch(name) is not None


def is_dns_subdomain(name: str) -> bool:
    """Tell whether this is a DNS-1123 subdomain, such as a ConfigMap name (IsDNS1123Subdomain)."""
    return len(name) <= SUBDOMAIN_MAX and _DNS_SUBDOMAIN_RE.fullmatch(name) is not None


@dataclass(frozen=True)
class SelectorRequirement:
    """One `matchExpressions` entry of a Kubernetes label selector."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Return the requirement as it appears in a manifest."""
        entry: dict[str, object] = {"key": self.key, "operator": self.operator}
        if self.values:
            entry["values"] = list(self.values)
        return entry


@dataclass(frozen=True)
class LabelSelector:
    """A Kubernetes label selector: all `match_labels` and all `match_expressions` must hold."""

    match_labels: Mapping[str, str] = field(default_factory=dict)
    match_expressions: tuple[SelectorRequirement, ...] = ()

    @classmethod
    def from_dict(cls, selector: Mapping[str, object]) -> LabelSelector:
        """Read a selector as it appears in a manifest."""
        match_labels = selector.get("matchLabels") or {}
        expressions = selector.get("matchExpressions") or []
        if not isinstance(match_labels, Mapping) or not isinstance(expressions, list):
            raise ValueError(f"not a label selector: {selector!r}")
        return cls(
            match_labels=dict(match_labels),
            match_expressions=tuple(
                SelectorRequirement(e["key"], e["operator"], tuple(e.get("values", ())))
                for e in expressions
            ),
        )

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Tell whether a pod with these labels is selected, with Kubernetes' semantics."""
        if any(labels.get(key) != value for key, value in self.match_labels.items()):
            return False
        return all(_requirement_holds(req, labels) for req in self.match_expressions)

    def to_dict(self) -> dict[str, object]:
        """Return the selector as it appears in a manifest."""
        selector: dict[str, object] = {}
        if self.match_labels:
            selector["matchLabels"] = dict(self.match_labels)
        if self.match_expressions:
            selector["matchExpressions"] = [req.to_dict() for req in self.match_expressions]
        return selector


SELECTOR_SYNTAX = "comma-separated key, !key, key=value, key!=value, key in (a,b), key notin (a,b)"


def parse_label_selector(text: str) -> LabelSelector:
    """Parse a selector in kubectl's `-l` syntax, checking keys and values as the API server does.

    Raises:
        ValueError: the selector does not parse; the message names the offending part.

    """
    requirements = [_parse_requirement(part) for part in _split_requirements(text)]
    return LabelSelector(match_expressions=tuple(requirements))


_SET_RE = re.compile(r"^(?P<key>[^\s!=(),]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_EQUALITY_RE = re.compile(r"^(?P<key>[^\s!=(),]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s!=(),]*)$")
_EXISTS_RE = re.compile(r"^(?P<negated>!?)\s*(?P<key>[^\s!=(),]+)$")


def _split_requirements(text: str) -> list[str]:
    parts: list[str] = []
    depth, start = 0, 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    stripped = [part.strip() for part in parts]
    if stripped == [""]:
        return []
    if "" in stripped:
        raise ValueError("empty requirement between commas")
    return stripped


def _parse_requirement(part: str) -> SelectorRequirement:
    if match := _SET_RE.match(part):
        values = tuple(value.strip() for value in match["values"].split(","))
        if values == ("",):
            raise ValueError(f"{part!r}: {match['op']} needs at least one value")
        requirement = SelectorRequirement(
            match["key"], "In" if match["op"] == "in" else "NotIn", values
        )
    elif match := _EQUALITY_RE.match(part):
        operator = "NotIn" if match["op"] == "!=" else "In"
        requirement = SelectorRequirement(match["key"], operator, (match["value"],))
    elif match := _EXISTS_RE.match(part):
        operator = "DoesNotExist" if match["negated"] else "Exists"
        requirement = SelectorRequirement(match["key"], operator)
    else:
        raise ValueError(f"{part!r} is not a requirement")
    if not is_qualified_name(requirement.key):
        raise ValueError(f"{part!r}: {requirement.key!r} is not a valid label key")
    for value in requirement.values:
        if not is_label_value(value):
            raise ValueError(f"{part!r}: {value!r} is not a valid label value")
    return requirement


def _requirement_holds(req: SelectorRequirement, labels: Mapping[str, str]) -> bool:
    present = req.key in labels
    match req.operator:
        case "Exists":
            return present
        case "DoesNotExist":
            return not present
        case "In":
            return present and labels[req.key] in req.values
        case "NotIn":
            return not present or labels[req.key] not in req.values
    raise ValueError(f"unknown label selector operator {req.operator!r}")
