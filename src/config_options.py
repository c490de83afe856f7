"""The charm's option declarations: config.yaml, at the charm's root next to `src/`.

Pure: no ops, no lightkube. The parser, the exporter and the tests read defaults from here, so
config.yaml stays the one place they are declared.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

CONFIG_YAML = Path(__file__).resolve().parent.parent / "config.yaml"


@cache
def config_defaults() -> dict[str, object]:
    """Return each option's default as config.yaml declares it.

    Juju gives a charm every option, defaulted, so a hook reads this only for a bad value. The
    pure-Python YAML loader took 10-16 ms of a 0.5 s standby hook (issue 13); libyaml's, which
    PyYAML's wheels carry, takes about 1 ms.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    options = yaml.load(CONFIG_YAML.read_text(), Loader=loader)["options"]
    return {name: option["default"] for name, option in options.items()}
