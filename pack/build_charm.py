"""Build kubeflow-spot_amd64.charm, the zip Juju deploys, without charmcraft.

`charmcraft pack` needs snapd/LXD or an Ubuntu 24.04 host. This script assembles a charm on any
Linux with uv, in the layout of charmcraft's `charm` plugin, which `charmcraft analyse` fully
recognises: the runtime dependencies pinned (with hashes) in uv.lock, installed as CPython 3.12
manylinux wheels (no 3.12 interpreter needed) into a flat `venv/`; `src/`, `templates/`, `lib/`
if present; `dispatch`; and the metadata, config, actions and manifest files Juju reads. It
reaches nothing but the package registry uv is configured with.

Usage: python -m pack.build_charm --uv .tools/uv/bin/uv [--output kubeflow-spot_amd64.charm]
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
# Ubuntu 24.04, the charm's base, runs CPython 3.12 on glibc 2.39; wheels up to manylinux 2.28
# run there and on the development machines, where the artifact tests run them.
PYTHON_VERSION = "3.12"
PYTHON_PLATFORM = "x86_64-manylinux_2_28"
BASE = {"name": "ubuntu", "channel": "24.04", "architectures": ["amd64"]}
EXECUTABLES = frozenset({"dispatch", "src/charm.py"})

# charmcraft's dispatch for a flat venv/: the entrypoint's shebang picks the base's python3
# (3.12 on Ubuntu 24.04, the wheels' version). Juju runs dispatch from the charm directory.
DISPATCH = """\
#!/bin/sh

JUJU_DISPATCH_PATH="${JUJU_DISPATCH_PATH:-$0}" PYTHONPATH=lib:venv \\
  exec ./src/charm.py
"""

# The keys of charmcraft's metadata.yaml model (CharmMetadata); charmcraft drops all others.
METADATA_KEYS = frozenset(
    {"name", "display-name", "summary", "description", "maintainers", "assumes", "charm-user",
     "containers", "devices", "docs", "extra-bindings", "issues", "peers", "provides",
     "requires", "resources", "source", "storage", "subordinate", "terms", "website"}
)  # fmt: skip


def metadata(charmcraft_yaml: dict[str, Any]) -> dict[str, Any]:
    """Return metadata.yaml's content as charmcraft derives it from a charmcraft.yaml.

    charmcraft renames `title` to `display-name` and flattens `links` (documentation -> docs,
    contact -> maintainers, the rest as they are), then keeps only the metadata keys.
    """
    derived = dict(charmcraft_yaml)
    links = dict(derived.pop("links", None) or {})
    if "documentation" in links:
        derived["docs"] = links.pop("documentation")
    if "contact" in links:
        contact = links.pop("contact")
        derived["maintainers"] = [contact] if isinstance(contact, str) else contact
    derived.update(links)
    if "title" in derived:
        derived["display-name"] = derived.pop("title")
    return {k: v for k, v in derived.items() if k in METADATA_KEYS}


def manifest(started_at: datetime.datetime) -> dict[str, Any]:
    """Return manifest.yaml's content: Juju reads the bases the charm runs on from it."""
    return {
        "charmcraft-started-at": started_at.isoformat().replace("+00:00", "Z"),
        "bases": [BASE],
        # What `charmcraft analyse` finds in this layout; the artifact tests hold it to that.
        "analysis": {
            "attributes": [
                {"name": "language", "result": "python"},
                {"name": "framework", "result": "operator"},
            ]
        },
    }


def requirements(uv: Path, destination: Path) -> Path:
    """Write the runtime dependencies pinned in uv.lock, with their hashes, to a file."""
    path = destination / "requirements.txt"
    subprocess.run(
        [str(uv), "export", "--frozen", "--no-dev", "--no-emit-project", "--quiet",
         "--format", "requirements-txt", "--output-file", str(path)],
        cwd=ROOT,
        check=True,
    )  # fmt: skip
    return path


def install_wheels(uv: Path, requirements_txt: Path, prime: Path) -> None:
    """Install the pinned wheels for CPython 3.12 flat into venv/; no sdist is ever built."""
    target = prime / "venv"
    subprocess.run(
        [str(uv), "pip", "install", "--quiet", "--target", str(target),
         "--python-version", PYTHON_VERSION, "--python-platform", PYTHON_PLATFORM,
         "--only-binary", ":all:", "--require-hashes", "--no-deps",
         "--requirement", str(requirements_txt)],
        cwd=ROOT,
        check=True,
    )  # fmt: skip
    # Console scripts carry the build machine's interpreter path; charmcraft drops them too.
    shutil.rmtree(target / "bin", ignore_errors=True)


def _copy_tree(source: Path, destination: Path) -> None:
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def assemble(uv: Path, prime: Path, started_at: datetime.datetime) -> None:
    """Lay out everything the charm zip holds in an empty directory."""
    prime.mkdir(parents=True)
    install_wheels(uv, requirements(uv, prime.parent), prime)
    for tree in ("src", "templates", "lib"):
        if (ROOT / tree).is_dir():
            _copy_tree(ROOT / tree, prime / tree)
    for name in ("config.yaml", "actions.yaml"):
        shutil.copy2(ROOT / name, prime / name)
    charmcraft_yaml = yaml.safe_load((ROOT / "charmcraft.yaml").read_text())
    (prime / "metadata.yaml").write_text(yaml.safe_dump(metadata(charmcraft_yaml)))
    (prime / "manifest.yaml").write_text(yaml.safe_dump(manifest(started_at)))
    (prime / "dispatch").write_text(DISPATCH)


def _files(prime: Path) -> Iterator[Path]:
    for directory, _, names in sorted(os.walk(prime)):
        for name in sorted(names):
            yield Path(directory, name)


def write_zip(prime: Path, output: Path) -> None:
    """Zip the prime directory with explicit modes: 755 for what Juju executes, 644 otherwise."""
    partial = output.with_name(output.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in _files(prime):
            name = path.relative_to(prime).as_posix()
            info = zipfile.ZipInfo.from_file(path, name)
            mode = 0o755 if name in EXECUTABLES else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    partial.replace(output)  # a failed build never leaves a half-written charm behind


def build(uv: Path, output: Path, work: Path) -> None:
    """Build the charm at `output`, using `work` as a scratch directory."""
    shutil.rmtree(work, ignore_errors=True)
    started_at = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    prime = work / "prime"
    assemble(uv, prime, started_at)
    write_zip(prime, output)


def main(argv: list[str] | None = None) -> int:
    """Build the charm and print its path, size and how long the build took."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--uv", type=Path, required=True, help="the uv binary to use")
    parser.add_argument("--output", type=Path, default=ROOT / "kubeflow-spot_amd64.charm")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "charm")
    args = parser.parse_args(argv)
    began = time.monotonic()
    try:
        build(args.uv.resolve(), args.output.resolve(), args.work.resolve())
    except subprocess.CalledProcessError as error:
        print(f"build_charm: {error}", file=sys.stderr)
        return 1
    size = args.output.stat().st_size
    print(f"built {args.output.name}: {size / 1e6:.1f} MB in {time.monotonic() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
