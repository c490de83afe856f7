"""Ask Argo's own code, many values per process, how it reads what the charm writes.

Both helpers run `argo-config-check` (localcluster/go/argo-config, built by build.sh once per
pinned Argo release) in one of its batch modes: values go in as JSON lines, so a value may hold
a newline or any other character, and one process answers thousands of them.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcluster.harness import argo_config_check

_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Parsed:
    """One Go parser's answer for one duration string."""

    ok: bool
    nanoseconds: int
    error: str = ""


@dataclass(frozen=True)
class DurationVerdict:
    """How Argo's ParseStringToDuration and Go's time.ParseDuration read one string."""

    value: str
    argo: Parsed
    go: Parsed


@dataclass(frozen=True)
class LoadVerdict:
    """Whether Argo's config loader accepts one ConfigMap, and how it reads the retry backoff."""

    name: str
    ok: bool
    error: str
    backoff: dict[str, Parsed]
    """Argo's parse of `retryStrategy.backoff.duration` and `maxDuration`, where present."""


def _run(argv: list[str], lines: Iterable[str]) -> list[dict[str, Any]]:
    stdin = "".join(json.dumps(line) + "\n" for line in lines)
    done = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=_TIMEOUT_SECONDS, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {done.returncode}: {done.stderr}")
    # Split on "\n" only: str.splitlines() also splits inside values, at U+0085 or U+2028.
    return [json.loads(line) for line in done.stdout.split("\n") if line]


def _parsed(answer: dict[str, Any]) -> Parsed:
    return Parsed(answer["ok"], answer["nanoseconds"], answer.get("error", ""))


def parse_durations(values: Iterable[str], argo_minor: str = "3.7") -> dict[str, DurationVerdict]:
    """Return, for each value, how that Argo release and Go parse it as a duration."""
    unique = list(dict.fromkeys(values))
    answers = _run([str(argo_config_check(argo_minor)), "durations"], unique)
    if len(answers) != len(unique):
        raise RuntimeError(f"{len(unique)} values sent, {len(answers)} answers")
    return {
        value: DurationVerdict(value, _parsed(answer["argo"]), _parsed(answer["go"]))
        for value, answer in zip(unique, answers, strict=True)
    }


def load_configmaps(
    kubeconfig: Path, namespace: str, names: Iterable[str], argo_minor: str = "3.7"
) -> list[LoadVerdict]:
    """Load each ConfigMap of a namespace with that Argo release's workflow-controller loader."""
    names = list(names)
    answers = _run([str(argo_config_check(argo_minor)), "load", str(kubeconfig), namespace], names)
    return [
        LoadVerdict(
            a["name"],
            a["ok"],
            a.get("error", ""),
            {field: _parsed(p) for field, p in (a.get("backoff") or {}).items()},
        )
        for a in answers
    ]
