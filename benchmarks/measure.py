"""Measure a child process: wall time, its own peak RSS, and the API requests it made."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from localcluster.audit import AuditLog, Request


@dataclass(frozen=True)
class Run:
    """One measured process."""

    seconds: float
    rss_mib: float
    stdout: bytes
    requests: list[Request] = field(default_factory=list)


def run(argv: Sequence[str], env: Mapping[str, str], audit: AuditLog) -> Run:
    """Run argv to its end; fail with its output if it fails."""
    mark = audit.mark()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        process = subprocess.Popen(
            argv, env=dict(env), stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        # wait4 reaps the child with its own rusage (RUSAGE_CHILDREN mixes all children so far).
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - began
        process.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({code}):\n{stderr.decode()[-3000:]}")
    return Run(seconds, usage.ru_maxrss / 1024, stdout, audit.since(mark))


def median(values: Sequence[float]) -> float:
    """Return the median."""
    return statistics.median(values)
