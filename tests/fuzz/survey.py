"""Collect fuzz cases and their disagreements with the oracles, and report them by kind."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

FUZZ_SUMMARY = pytest.StashKey[list[str]]()
"""One line per fuzz run, printed at the end of the pytest session (tests/cluster/conftest.py)."""

T = TypeVar("T")


def draw_many(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """Return up to `count` distinct values drawn by Hypothesis (fewer if the space is small)."""
    drawn: list[T] = []

    @settings(
        max_examples=count,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: T) -> None:
        drawn.append(value)

    collect()
    unique: dict[str, T] = {repr(v): v for v in drawn}
    return list(unique.values())


@dataclass
class Survey:
    """What one fuzz run tried, and every disagreement with an oracle, by kind."""

    name: str
    cases: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    mismatches: list[tuple[str, object, str]] = field(default_factory=list)

    def mismatch(self, kind: str, case: object, detail: str) -> None:
        self.mismatches.append((kind, case, detail))

    def summary(self) -> str:
        kinds = Counter(kind for kind, _, _ in self.mismatches)
        outcomes = ", ".join(f"{k} {n}" for k, n in sorted(self.outcomes.items()))
        found = "; ".join(f"{k}: {n}" for k, n in sorted(kinds.items())) or "no mismatch"
        return f"fuzz {self.name}: {self.cases} cases ({outcomes}); {found}"

    def check(self, request: pytest.FixtureRequest) -> None:
        request.config.stash.setdefault(FUZZ_SUMMARY, []).append(self.summary())
        shown: Counter[str] = Counter()
        lines = []
        for kind, case, detail in self.mismatches:
            shown[kind] += 1
            if shown[kind] <= 4:  # a few of each kind
                lines.append(f"  {kind}: {case!r:.300} -> {detail:.300}")
        examples = "\n".join(lines)
        assert not self.mismatches, f"{self.summary()}\n{examples}"
