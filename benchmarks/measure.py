"""Measure a child process: wall time, its own peak RSS, and the API requests it made."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from localcluster.audit import AuditLog, Request

# A child's peak RSS (ru_maxrss) is at least the RSS of the process that forked it: when the
# child execs, Linux records the resident pages it shared with its parent as its high-water
# mark (seen here: a child `python -c pass` of a 300 MiB parent reported 313 MiB, of a small
# one 13 MiB). The benchmark's process holds what it built (10,000 pods: over 100 MiB), so
# each child is started by this launcher, a bare interpreter (-I -S, about 10 MiB), which
# spawns it, times it and writes its rusage to the pipe whose fd is its first argument.
_LAUNCHER = """
import os, sys, time
report, argv = int(sys.argv[1]), sys.argv[2:]
began = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - began
code = os.waitstatus_to_exitcode(status)
measured = f'"seconds": {seconds}, "maxrss_kib": {usage.ru_maxrss}, "code": {code}'
os.write(report, ("{" + measured + "}").encode())
"""


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
    report_read, report_write = os.pipe()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(report_write), *argv]
        process = subprocess.Popen(
            launcher,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            pass_fds=(report_write,),
        )
        os.close(report_write)
        process.wait()
        with os.fdopen(report_read, "rb") as report:
            measured = json.loads(report.read() or b'{"code": -1}')
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0 or measured["code"] != 0:
        code = measured["code"] if process.returncode == 0 else process.returncode
        raise RuntimeError(f"{' '.join(argv)} failed ({code}):\n{stderr.decode()[-3000:]}")
    return Run(measured["seconds"], measured["maxrss_kib"] / 1024, stdout, audit.since(mark))


def median(values: Sequence[float]) -> float:
    """Return the median."""
    return statistics.median(values)
