"""Upstream files (Argo JSON schemas, CRDs) located in the Go module cache.

Nothing upstream is copied into this repository: each file is read from the module zip that
``go mod download`` fetches at the version pinned in ``versions.env``. The Go module proxy is the
one registry that serves these projects here, and the module cache makes repeat look-ups free.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

VERSIONS_ENV = Path(__file__).with_name("versions.env")
# Hand-written stand-in for the PodDefault CRD, used while the upstream module is not served.
PODDEFAULT_STANDIN_CRD = Path(__file__).with_name("crds") / "poddefaults.kubeflow.org.yaml"

_ARGO_MODULE = "github.com/argoproj/argo-workflows/v{major}"
_GO_TIMEOUT_SECONDS = 600


class UpstreamUnavailableError(RuntimeError):
    """An upstream module or file cannot be obtained (no ``go``, proxy refusal, missing file)."""


def read_versions(path: Path = VERSIONS_ENV) -> dict[str, str]:
    """Parse the ``KEY=value`` lines of a versions.env file, skipping comments and blank lines."""
    pins: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"{path}:{number}: expected KEY=value, got {line!r}")
        pins[key] = value
    return pins


@functools.cache
def pins() -> Mapping[str, str]:
    """Return the pins of localcluster/versions.env, read once per process."""
    return read_versions()


def _go_env() -> dict[str, str]:
    """Environment for ``go``: no workspace, no toolchain switch, and modules fetched on demand."""
    return {**os.environ, "GOFLAGS": "-mod=mod", "GOWORK": "off", "GOTOOLCHAIN": "local"}


@functools.cache
def module_dir(module: str, version: str) -> Path:
    """Download ``module@version`` into the Go module cache and return its extracted directory.

    Runs in an empty temporary directory so that no go.mod (this repository's or a parent's) is
    consulted or modified.
    """
    with tempfile.TemporaryDirectory(prefix="kubeflow-spot-go-") as scratch:
        try:
            result = subprocess.run(
                ["go", "mod", "download", "-json", f"{module}@{version}"],
                cwd=scratch,
                env=_go_env(),
                capture_output=True,
                text=True,
                timeout=_GO_TIMEOUT_SECONDS,
                check=False,
            )
        except FileNotFoundError as error:
            raise UpstreamUnavailableError(
                f"'go' is not on PATH; Go 1.26+ is needed to fetch {module}@{version}"
            ) from error
    return _parse_download(module, version, result)


def _parse_download(module: str, version: str, result: subprocess.CompletedProcess[str]) -> Path:
    """Turn ``go mod download -json`` output into the module directory or a clear error."""
    try:
        info = json.loads(result.stdout)
    except json.JSONDecodeError:
        # go prints JSON even for proxy errors; anything else is a broken go setup.
        raise UpstreamUnavailableError(
            f"go mod download {module}@{version} failed (exit {result.returncode}): "
            f"{result.stderr.strip() or result.stdout.strip()}"
        ) from None
    if "Error" in info:
        raise UpstreamUnavailableError(
            f"the Go module proxy does not serve {module}@{version}: {info['Error']}"
        )
    return Path(info["Dir"])


def _file_in_module(module: str, version: str, relative: str) -> Path:
    """Path of ``relative`` inside ``module@version``, checked to exist."""
    path = module_dir(module, version) / relative
    if not path.is_file():
        raise UpstreamUnavailableError(f"{module}@{version} has no file {relative}")
    return path


def argo_version(argo_minor: str) -> str:
    """Return the pinned Argo Workflows release for a minor such as ``"3.7"``."""
    key = "ARGO_WORKFLOWS_V" + argo_minor.replace(".", "_")
    try:
        return pins()[key]
    except KeyError:
        known = sorted(
            k.removeprefix("ARGO_WORKFLOWS_V").replace("_", ".")
            for k in pins()
            if k.startswith("ARGO_WORKFLOWS_V")
        )
        raise UpstreamUnavailableError(
            f"no Argo Workflows {argo_minor} release is pinned in {VERSIONS_ENV.name} "
            f"(pinned minors: {', '.join(known)})"
        ) from None


def _argo_file(argo_minor: str, relative: str) -> Path:
    version = argo_version(argo_minor)
    major = version.removeprefix("v").split(".", 1)[0]
    return _file_in_module(_ARGO_MODULE.format(major=major), version, relative)


@functools.cache
def argo_schema_path(argo_minor: str) -> Path:
    """``api/jsonschema/schema.json`` of the pinned Argo Workflows release of ``argo_minor``."""
    return _argo_file(argo_minor, "api/jsonschema/schema.json")


@functools.cache
def argo_workflow_crd_path() -> Path:
    """Return the minimal ``workflows.argoproj.io`` CRD, the one CKF's argo-controller installs."""
    return _argo_file(
        pins()["ARGO_WORKFLOWS_CRD_MINOR"],
        "manifests/base/crds/minimal/argoproj.io_workflows.yaml",
    )


@functools.cache
def poddefault_crd_path() -> Path:
    """Return the ``poddefaults.kubeflow.org`` CRD chosen by ``PODDEFAULT_CRD_SOURCE``.

    ``module``: upstream's file from ``PODDEFAULT_MODULE@PODDEFAULT_VERSION``. ``standin``: the
    hand-written CRD of this directory, used because the module proxy available here serves no
    module that ships the upstream one; it has the same spec fields and the same pruning
    behaviour (no ``affinity``/``nodeSelector``, unknown fields dropped).
    """
    source = pins()["PODDEFAULT_CRD_SOURCE"]
    if source == "standin":
        return PODDEFAULT_STANDIN_CRD
    if source != "module":
        raise ValueError(f"PODDEFAULT_CRD_SOURCE must be 'module' or 'standin', not {source!r}")
    return _file_in_module(
        pins()["PODDEFAULT_MODULE"], pins()["PODDEFAULT_VERSION"], pins()["PODDEFAULT_CRD_FILE"]
    )
