"""The params of the `report-placement` action, checked before any API call.

Pure: no ops, no lightkube.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from label_selectors import SELECTOR_SYNTAX, LabelSelector, is_dns_label, parse_label_selector
from messages import bounded, shown


class ReportFormat(enum.StrEnum):
    """How the `report` result is written."""

    TABLE = "table"
    """For a person: counts, the pods that need action, namespaces."""
    JSON = "json"
    YAML = "yaml"


REPORT_FORMATS = tuple(ReportFormat)
DEFAULT_SPOT_DISCOUNT = 0.7


@dataclass(frozen=True)
class ReportRequest:
    """Params of the `report-placement` action; invalid values raise ValueError, listing all."""

    namespace: str = ""
    selector: str = ""
    format: str = ReportFormat.TABLE
    include_finished: bool = False
    spot_discount: float = DEFAULT_SPOT_DISCOUNT

    def __post_init__(self) -> None:
        """Check every param before any API call, so a bad one never costs a request."""
        problems: list[str] = []
        if self.namespace and not is_dns_label(self.namespace):
            problems.append(
                f"namespace={shown(self.namespace)} is invalid: a DNS-1123 label (lower-case"
                " letters, digits and '-', at most 63 characters), or empty for all namespaces"
            )
        try:
            parse_label_selector(self.selector)
        except ValueError as error:
            problems.append(
                f"selector={shown(self.selector)} is invalid ({error}):"
                f" accepted is {SELECTOR_SYNTAX}"
            )
        if self.format not in REPORT_FORMATS:
            problems.append(
                f"format={shown(self.format)} is invalid: one of {', '.join(REPORT_FORMATS)}"
            )
        if not _is_fraction(self.spot_discount):
            problems.append(
                f"spot-discount={shown(self.spot_discount)} is invalid: a number from 0 to 1"
            )
        if problems:
            raise ValueError(bounded("; ".join(problems)))

    @property
    def keeps_rows(self) -> bool:
        """Tell whether the report lists every pod (json, yaml), not only those needing action."""
        return self.format != ReportFormat.TABLE

    @property
    def label_selector(self) -> LabelSelector:
        """Return the parsed `selector`."""
        return parse_label_selector(self.selector)

    @property
    def scope(self) -> str:
        """Describe which pods the report covers."""
        where = f"namespace {self.namespace}" if self.namespace else "all namespaces"
        selected = f", pods matching {self.selector}" if self.selector else ""
        finished = "" if self.include_finished else ", running and pending pods"
        return f"{where}{selected}{finished}"


def _is_fraction(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False  # Juju passes numbers as int or float; a bool is an int to Python.
    return math.isfinite(value) and 0 <= value <= 1
