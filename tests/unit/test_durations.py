"""The port of Argo's ParseStringToDuration and Go's time.ParseDuration, on known values.

The expected answers were read from Argo 3.7.17's own parser (argo-config-check `durations`).

tests/cluster/test_fuzz_config.py compares the two over thousands of drawn strings.
"""

from __future__ import annotations

import pytest

from durations import DurationError, argo_duration_ns, go_duration_ns

SECOND = 10**9


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("5m", 300 * SECOND),
        ("1h30m15s", 5415 * SECOND),
        ("500ms", SECOND // 2),
        ("1us", 1000),
        ("1µs", 1000),
        ("1μs", 1000),
        (".5h", 1800 * SECOND),
        ("+5m", 300 * SECOND),
        ("-5m", -300 * SECOND),
        ("0.0000000001s", 0),
        ("9223372036854775807ns", 2**63 - 1),
        ("2562047h", 2562047 * 3600 * SECOND),
    ],
)
def test_go_reads_a_duration_to_the_nanosecond(text, nanoseconds):
    assert go_duration_ns(text) == nanoseconds


@pytest.mark.parametrize(
    "text", ["", "300", "٥m", "５m", "1h٥m", "5m\n", " 5m", ".s", "1.5.5s", "1e3s", "2562048h"]
)
def test_go_rejects_what_time_parse_duration_rejects(text):
    with pytest.raises(DurationError):
        go_duration_ns(text)


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [("300", 300 * SECOND), ("+300", 300 * SECOND), ("-1", -SECOND), ("5m", 300 * SECOND)],
)
def test_argo_reads_a_whole_number_as_seconds(text, nanoseconds):
    assert argo_duration_ns(text) == nanoseconds


def test_argo_wraps_seconds_past_int64_as_go_does():
    assert argo_duration_ns("9223372037") == 9223372037 * SECOND - 2**64
