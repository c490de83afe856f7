"""`make demo` end to end: the story it prints holds on the real workflow-controller.

The demo runs as `make demo` runs it (`python -m demo`, its own cluster: control plane, kwok,
kube-controller-manager, Argo), and each test reads one part of what it printed: the run, what
Argo recorded about each attempt, and what report-placement said afterwards.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT_SECONDS = 600


@pytest.fixture(scope="module")
def output() -> str:
    env = {**os.environ, "PYTHONPATH": "src:."}
    done = subprocess.run(
        [sys.executable, "-m", "demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_SECONDS,
        check=False,
    )
    sys.stdout.write(done.stdout)  # shown when a test fails
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


def _section(output: str, heading: str) -> str:
    """Return the lines under the first heading that starts with ``heading``."""
    start = output.index(f"== {heading}")
    end = output.find("\n== ", start + 1)
    return output[start : end if end != -1 else len(output)]


def _eviction(output: str) -> tuple[str, str, str]:
    """Return the node, pod and step the demo evicted, from its progress line."""
    found = re.search(r"evicting spot node (\S+) \(pod (\S+) running step (\S+) ", output)
    assert found, "no eviction line"
    node, pod, step = found.groups()
    return node, pod, step


def _attempts(output: str, step: str) -> list[list[str]]:
    """Return the rows of "what Argo recorded" for ``step`` (attempt, node, phase, message)."""
    table = output[output.index("what Argo recorded:") :].split("\n\n", 1)[0].splitlines()[2:]
    return [line.split(maxsplit=4) for line in table if line.split()[0] == step]


def _json_line(output: str, key: str) -> dict[str, object]:
    found = re.search(rf"^{key}: (\{{.*\}})$", output, re.MULTILINE)
    assert found, f"no {key} line"
    return dict(json.loads(found.group(1)))


def test_the_pipeline_run_succeeds(output):
    assert re.search(r"Workflow admin/iris-spot-retry-\w+ Succeeded", output)


def test_the_evicted_step_ended_as_kubelet_ends_an_evicted_pod_and_ran_again_elsewhere(output):
    node, _, step = _eviction(output)
    evicted, retried = _attempts(output, step)

    assert evicted[2:] == [node, "Failed", "main: Error (exit code 143)"]
    assert retried[3] == "Succeeded"
    assert retried[2] != node
    assert retried[2].startswith("aks-spotpool-")


def test_the_report_counts_the_one_eviction_for_the_pipelines_class(output):
    lines = _section(output, "juju run kubeflow-spot/0 report-placement").splitlines()
    header = next(line.split() for line in lines if line.startswith("CLASS "))
    pipelines = next(line.split() for line in lines if line.startswith("pipelines "))

    assert int(pipelines[header.index("EVICTIONS")]) == 1
    assert _json_line(output, "pipelines")["evictions"] == 1


def test_the_report_shows_spot_pod_hours_and_savings(output):
    savings = _json_line(output, "savings")

    assert savings["spot-pod-hours"] > 0
    assert savings["saved-pod-hours"] > 0


def test_the_notebook_and_the_model_server_are_kept_off_spot(output):
    pods = _section(output, "... format=json").splitlines()
    rows = {
        line.split()[0]: line.split() for line in pods if line.startswith(("lab-0", "sklearn"))
    }

    assert rows["lab-0"][1] == "notebooks"
    assert rows["lab-0"][2].startswith("aks-agentpool-")
    assert rows["sklearn-iris-predictor-7d9f"][1] == "serving"
    assert rows["sklearn-iris-predictor-7d9f"][2].startswith("aks-agentpool-")
    assert {rows["lab-0"][4], rows["sklearn-iris-predictor-7d9f"][4]} == {"ok"}
