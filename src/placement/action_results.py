"""Fit a report into Juju's action results, and put it back together.

Pure: no ops, no lightkube.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

RESULT_CHUNK_CHARS = 100_000
"""Juju's `action-set` takes each result as one command-line argument, which Linux caps at
128 KiB (MAX_ARG_STRLEN); a longer report is split into `report`, `report-2`, ..."""
RESULT_TOTAL_CHARS = 1_500_000
"""All arguments and the environment share ARG_MAX (2 MiB with the default 8 MiB stack limit):
leave a quarter of it for the other results, the environment and the key names."""


class ReportTooLargeError(ValueError):
    """The report does not fit in Juju's action results."""


def split_report(report: str) -> dict[str, str | int]:
    """Split a report across `report`, `report-2`, ... results, each under the argument limit.

    Concatenating them in order restores the report; `report-parts` says how many there are.
    """
    if len(report) > RESULT_TOTAL_CHARS:
        raise ReportTooLargeError(
            f"the report is {len(report):,} characters, more than the {RESULT_TOTAL_CHARS:,}"
            " that fit in Juju action results: narrow it with namespace= or selector=,"
            " or use format=table"
        )
    chunks = [
        report[start : start + RESULT_CHUNK_CHARS]
        for start in range(0, max(len(report), 1), RESULT_CHUNK_CHARS)
    ]
    results: dict[str, str | int] = {"report-parts": len(chunks)}
    for index, chunk in enumerate(chunks, start=1):
        results["report" if index == 1 else f"report-{index}"] = chunk
    return results


def join_report(results: Mapping[str, object]) -> str:
    """Reassemble a report split by `split_report` (what a machine reading the results does)."""
    parts = int(str(results["report-parts"]))
    keys: Sequence[str] = ["report", *(f"report-{index}" for index in range(2, parts + 1))]
    return "".join(str(results[key]) for key in keys)
