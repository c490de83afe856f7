"""Durations exactly as Argo Workflows reads `retryStrategy.backoff`, in nanoseconds.

When the workflow controller retries a step it parses `backoff.duration` and `maxDuration` with
`ParseStringToDuration` (pkg/apis/workflow/v1alpha1/utils.go in Argo 3.5 to 3.7; 3.4 has the
same code in workflow/controller/operator.go): a whole number (Go's `strconv.Atoi`) is seconds,
anything else goes to Go's `time.ParseDuration`. Both are ported here byte for byte, ASCII
digits only, integer arithmetic with Go's float64 step for fractions and its overflow checks,
so the charm accepts exactly what Argo can wait. tests/cluster/test_fuzz_config.py checks
this against Argo's own code over thousands of generated strings. This module imports neither
ops nor lightkube.
"""

from __future__ import annotations

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek small letter mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_INT64_MAX = 2**63 - 1
DURATION_SYNTAX = (
    "a duration as Argo reads it: numbers with units ns, us, ms, s, m or h, such as 500ms,"
    " 30s, 5m or 1h30m, or a whole number of seconds"
)
_DIGITS = frozenset("0123456789")


class DurationError(ValueError):
    """The text is not a duration Argo can parse."""


def argo_duration_ns(text: str) -> int:
    """Return the duration Argo's ParseStringToDuration reads from `text`, in nanoseconds.

    Raises:
        DurationError: Argo would fail to parse it (and so fail the retry).

    """
    seconds = _atoi(text)
    if seconds is not None:
        # Go: time.Duration(val) * time.Second, which wraps around on overflow.
        return _wrap_int64(seconds * 1_000_000_000)
    return go_duration_ns(text)


def _atoi(text: str) -> int | None:
    """Go's strconv.Atoi on a 64-bit platform: an optional sign and ASCII digits."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not set(body) <= _DIGITS:
        return None
    value = int(text)
    return value if -(2**63) <= value <= _INT64_MAX else None


def _wrap_int64(value: int) -> int:
    return (value + 2**63) % 2**64 - 2**63


def go_duration_ns(text: str) -> int:
    """Return Go's time.ParseDuration of `text`, in nanoseconds (a port of Go 1.26's).

    Raises:
        DurationError: Go rejects it.

    """
    rest, negative = text, False
    if rest[:1] in ("+", "-"):
        negative, rest = rest[0] == "-", rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise DurationError(f"invalid duration {text!r}")
    total = 0
    while rest:
        if not (rest[0] == "." or rest[0] in _DIGITS):
            raise DurationError(f"invalid duration {text!r}")
        whole, rest, had_whole = _leading_int(rest, text)
        fraction, scale, had_fraction = 0, 1.0, False
        if rest[:1] == ".":
            fraction, scale, rest, had_fraction = _leading_fraction(rest[1:])
        if not had_whole and not had_fraction:
            raise DurationError(f"invalid duration {text!r}")
        end = 0
        while end < len(rest) and not (rest[end] == "." or rest[end] in _DIGITS):
            end += 1
        if end == 0:
            raise DurationError(f"missing unit in duration {text!r}")
        unit_name, rest = rest[:end], rest[end:]
        unit = _UNITS.get(unit_name)
        if unit is None:
            raise DurationError(f"unknown unit {unit_name!r} in duration {text!r}")
        if whole > 2**63 // unit:
            raise DurationError(f"invalid duration {text!r}")
        value = whole * unit
        if fraction > 0:
            # Go adds uint64(float64(f) * (float64(unit) / scale)): the same float64 steps.
            value += int(float(fraction) * (float(unit) / scale))
            if value > 2**63:
                raise DurationError(f"invalid duration {text!r}")
        total = (total + value) % 2**64  # uint64 addition
        if total > 2**63:
            raise DurationError(f"invalid duration {text!r}")
    if negative:
        return _wrap_int64(-total)
    if total > _INT64_MAX:
        raise DurationError(f"invalid duration {text!r}")
    return total


def _leading_int(rest: str, text: str) -> tuple[int, str, bool]:
    value, index = 0, 0
    while index < len(rest) and rest[index] in _DIGITS:
        if value > 2**63 // 10:
            raise DurationError(f"invalid duration {text!r}")
        value = value * 10 + ord(rest[index]) - ord("0")
        if value > 2**63:
            raise DurationError(f"invalid duration {text!r}")
        index += 1
    return value, rest[index:], index > 0


def _leading_fraction(rest: str) -> tuple[int, float, str, bool]:
    value, scale, index, overflow = 0, 1.0, 0, False
    while index < len(rest) and rest[index] in _DIGITS:
        if not overflow:
            if value > _INT64_MAX // 10:
                overflow = True
            else:
                candidate = value * 10 + ord(rest[index]) - ord("0")
                if candidate > 2**63:
                    overflow = True
                else:
                    value, scale = candidate, scale * 10
        index += 1
    return value, scale, rest[index:], index > 0
