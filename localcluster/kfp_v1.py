"""The seed guide's pipelines, compiled by the real KFP v1 SDK, ready to submit to Argo.

`pipelines/seed_v1.py` runs in the SDK's own environment (`make kfp-sdk` installs kfp==1.8.22
into .tools/kfp: its pins cannot live in the charm's locked one); this module runs it and turns
its output into Workflows for the e2e tests and `make demo`.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from localcluster.workflows import named, with_annotations

REPO = Path(__file__).resolve().parents[1]
SEED_PIPELINES = Path(__file__).with_name("pipelines") / "seed_v1.py"
SDK_VARIABLE = "KUBEFLOW_SPOT_KFP_SDK"
"""The Python of the KFP v1 SDK environment; default .tools/kfp/bin/python."""
URL = "https://example.invalid/iris-csv-files.tar.gz"


def sdk_python() -> Path:
    """Return the KFP v1 SDK's Python (``$KUBEFLOW_SPOT_KFP_SDK`` or .tools/kfp/bin/python)."""
    return Path(os.environ.get(SDK_VARIABLE, REPO / ".tools" / "kfp" / "bin" / "python"))


def start_compile(output: Path, python: Path | None = None) -> subprocess.Popen[bytes]:
    """Start compiling base, spot and spot-retry into ``output``; its messages go to stderr."""
    sdk = python or sdk_python()
    if not sdk.is_file():
        raise FileNotFoundError(f"no KFP v1 SDK at {sdk}: run `make kfp-sdk`")
    return subprocess.Popen([str(sdk), str(SEED_PIPELINES), str(output)], stdout=sys.stderr)


def compiled(process: subprocess.Popen[bytes], output: Path) -> dict[str, dict[str, Any]]:
    """Wait for `start_compile`'s process and return its Workflows by pipeline name."""
    if process.wait() != 0:
        raise subprocess.CalledProcessError(process.returncode, process.args)
    return {path.stem: yaml.safe_load(path.read_text()) for path in output.glob("*.yaml")}


def compile_seed_pipelines(output: Path, python: Path | None = None) -> dict[str, dict[str, Any]]:
    """Compile the seed guide's pipelines now and return them: base, spot, spot-retry."""
    return compiled(start_compile(output, python), output)


def v1_pipeline(
    workflow: Mapping[str, Any], generate_name: str, annotations: Mapping[str, Mapping[str, str]]
) -> dict[str, Any]:
    """Return a KFP v1-compiled Workflow with its url argument and per-template pod annotations."""
    manifest = named(with_annotations(workflow, annotations), generate_name)
    manifest["spec"]["arguments"] = {"parameters": [{"name": "url", "value": URL}]}
    return manifest


def set_retry_backoff(workflow: Mapping[str, Any], duration: str) -> dict[str, Any]:
    """Return the KFP v1 Workflow with its set_retry backoff shortened (5m outlasts a test)."""
    manifest = copy.deepcopy(dict(workflow))
    for template in manifest["spec"]["templates"]:
        if "retryStrategy" in template:
            template["retryStrategy"]["backoff"]["duration"] = duration
    return manifest
