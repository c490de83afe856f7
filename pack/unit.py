"""Run an unpacked charm's `dispatch` the way a Juju unit agent does, with stand-in hook tools.

Juju runs `dispatch` in the charm directory with JUJU_* variables set and its hook tools
(`config-get`, `status-set`, `action-get`, ...) on PATH. Here each hook tool is a small shell
script that answers from files this module writes (config, leadership, action params, goal
state) and records every call, so tests and benchmarks can read what the charm told Juju.
`python3` on that PATH is the interpreter given, as the base's python3 is on a unit.
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# ops 3.9 reaches Juju only through these; an unlisted tool is absent, so a call to it fails.
HOOK_TOOLS = (
    "action-fail", "action-get", "action-log", "action-set", "application-version-set",
    "config-get", "goal-state", "is-leader", "juju-log", "opened-ports", "relation-ids",
    "relation-list", "status-get", "status-set",
)  # fmt: skip

_HOOK_TOOL = """\
#!/bin/sh
# Stand-in for a Juju hook tool: record the call, answer from the unit's state files. Shell
# builtins only: a call costs one exec, as a real hook tool's does, not four more processes.
# A record is the argument count, the tool and its arguments, each NUL-terminated, appended.
tool="${0##*/}"
printf '%s\\0' "$#" "$tool" "$@" >> "$JUJU_STUB_DIR/calls.log"
answer() {
    while IFS= read -r line || [ -n "$line" ]; do printf '%s\\n' "$line"; done < "$1"
}
case "$tool" in
    config-get) answer "$JUJU_STUB_DIR/config.json" ;;
    is-leader) answer "$JUJU_STUB_DIR/is-leader.json" ;;
    action-get) answer "$JUJU_STUB_DIR/action-params.json" ;;
    goal-state) answer "$JUJU_STUB_DIR/goal-state.json" ;;
    relation-ids | relation-list | opened-ports) echo '[]' ;;
    status-get) echo '{"status": "unknown", "message": "", "status-data": {}}' ;;
esac
"""


@dataclass(frozen=True)
class Dispatch:
    """What one run of `dispatch` did: its exit, output, and the hook tool calls it made."""

    returncode: int
    output: str
    calls: list[list[str]]

    def tool_calls(self, tool: str) -> list[list[str]]:
        """Return the arguments of every call to one hook tool, in order."""
        return [call[1:] for call in self.calls if call[0] == tool]

    @property
    def status(self) -> tuple[str, str] | None:
        """The last unit status set, as (name, message)."""
        sets = [args for args in self.tool_calls("status-set") if "--application=True" not in args]
        if not sets:
            return None
        args = [a for a in sets[-1] if not a.startswith("--application")]
        separator = args.index("--") if "--" in args else len(args) - 1
        return args[separator - 1], " ".join(args[separator + 1 :])

    @property
    def action_results(self) -> dict[str, str]:
        """Every key=value passed to action-set."""
        results: dict[str, str] = {}
        for args in self.tool_calls("action-set"):
            for pair in args:
                key, _, value = pair.partition("=")
                results[key] = value
        return results

    @property
    def action_failure(self) -> str | None:
        """The message passed to action-fail, if the action failed."""
        fails = self.tool_calls("action-fail")
        return " ".join(a for a in fails[-1] if a != "--") if fails else None


def unpack(charm: Path, charm_dir: Path) -> Path:
    """Unzip a .charm into `charm_dir`, keeping the file modes the zip records, as Juju does."""
    with zipfile.ZipFile(charm) as archive:
        for info in archive.infolist():
            path = Path(archive.extract(info, charm_dir))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                path.chmod(mode)
    return charm_dir


@dataclass
class Unit:
    """One simulated unit of the charm: its charm directory, hook tools and Juju state."""

    charm_dir: Path
    python: Path
    model: str = "kubeflow"
    app: str = "kubeflow-spot"
    leader: bool = True
    config: dict[str, Any] = field(default_factory=dict)
    kubeconfig: Path | None = None

    @property
    def _stub_dir(self) -> Path:
        return self.charm_dir.parent / "juju"

    def _install_hook_tools(self) -> Path:
        bin_dir = self._stub_dir / "bin"
        if not bin_dir.is_dir():
            bin_dir.mkdir(parents=True)
            script = self._stub_dir / "hook-tool"
            script.write_text(_HOOK_TOOL)
            script.chmod(0o755)
            for tool in HOOK_TOOLS:
                (bin_dir / tool).symlink_to(script)
            (bin_dir / "python3").symlink_to(self.python)
        return bin_dir

    def effective_config(self) -> dict[str, Any]:
        """Return the config as config-get reports it: config.yaml's defaults, then what is set."""
        options = yaml.safe_load((self.charm_dir / "config.yaml").read_text())["options"]
        defaults = {k: o["default"] for k, o in options.items() if "default" in o}
        return defaults | self.config

    def _write_state(self, action_params: dict[str, Any], planned_units: int) -> None:
        units = {f"{self.app}/{n}": {"status": "active"} for n in range(planned_units)}
        files = {
            "config.json": self.effective_config(),
            "is-leader.json": self.leader,
            "action-params.json": action_params,
            "goal-state.json": {"units": units, "relations": {}},
        }
        for name, value in files.items():
            (self._stub_dir / name).write_text(json.dumps(value))

    def dispatch(
        self,
        event: str,
        *,
        action_params: dict[str, Any] | None = None,
        planned_units: int = 1,
        timeout: float = 60.0,
        env: dict[str, str] | None = None,
    ) -> Dispatch:
        """Run `dispatch` for a hook (`install`) or an action (`show-defaults`).

        `env` adds variables, such as PYTHONPROFILEIMPORTTIME=1 to see what the hook imports.
        """
        bin_dir = self._install_hook_tools()
        calls = self._stub_dir / "calls.log"
        calls.write_bytes(b"")
        self._write_state(action_params or {}, planned_units)
        is_action = action_params is not None
        variables = {
            **(env or {}),
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "HOME": str(self._stub_dir),
            "LANG": "C.UTF-8",
            "JUJU_STUB_DIR": str(self._stub_dir),
            "JUJU_CHARM_DIR": str(self.charm_dir),
            "JUJU_DISPATCH_PATH": f"actions/{event}" if is_action else f"hooks/{event}",
            "JUJU_UNIT_NAME": f"{self.app}/0",
            "JUJU_MODEL_NAME": self.model,
            "JUJU_MODEL_UUID": "00000000-0000-4000-8000-000000000000",
            "JUJU_VERSION": "3.6.4",
            # A name that resolves to no API server unless a kubeconfig is given.
            "KUBECONFIG": str(self.kubeconfig or self._stub_dir / "no-kubeconfig"),
        }
        if is_action:
            variables |= {"JUJU_ACTION_NAME": event, "JUJU_ACTION_UUID": "1"}
        else:
            variables["JUJU_HOOK_NAME"] = event
        completed = subprocess.run(
            ["./dispatch"],
            cwd=self.charm_dir,
            env=variables,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        recorded = _records(calls.read_bytes().decode().split("\0")[:-1])
        return Dispatch(completed.returncode, completed.stdout + completed.stderr, recorded)


def _records(fields: list[str]) -> list[list[str]]:
    """Split the hook tools' log into calls: [tool, *args] each."""
    calls, index = [], 0
    while index < len(fields):
        count = int(fields[index])
        calls.append(fields[index + 1 : index + 2 + count])
        index += 2 + count
    return calls


def find_python312() -> Path | None:
    """Return a CPython 3.12 executable (the charm's base interpreter), or None.

    Looked for in order: $CHARM_PYTHON, python3.12 on PATH, pyenv's 3.12 builds. Each candidate
    is run, so a pyenv shim for a version that is not selected does not count.
    """
    candidates = [os.environ.get("CHARM_PYTHON", ""), "python3.12"]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted(str(p) for p in pyenv.glob("3.12*/bin/python3.12"))
    for candidate in filter(None, candidates):
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
        except OSError:
            continue
        if probe.stdout.strip() == "True":
            resolved = subprocess.run(
                [candidate, "-c", "import sys; print(sys.executable)"],
                capture_output=True, text=True, timeout=30, check=True,
            )  # fmt: skip
            return Path(resolved.stdout.strip())
    return None
