"""The provider side of `grafana_dashboard` (the `grafana-dashboard` relation), as data.

What Grafana reads (grafana-k8s's `grafana_dashboard` library, GrafanaDashboardConsumer): in
the provider's application databag, JSON under `dashboards` holding `templates`, a mapping of
dashboard id (`file:<stem>` for a file of src/grafana_dashboards) to {"charm", "content",
"juju_topology", "inject_dropdowns", "dashboard_alt_uid"}, where `content` is the dashboard's
JSON, LZMA-compressed and base64-encoded; and a `uuid` that changes with the templates so a
change reaches Grafana. The provider library sets the dashboard's `uid` from the charm name and
the file's path (cosl's DashboardPath40UID) and tags it `charm: <name>`; the consumer then adds
the juju_* dropdowns and label matchers. Unlike the library's random uuid, this one is derived
from the templates: the same dashboards give the same databag, so no relation-changed churn.
Pure: no ops import.
"""

from __future__ import annotations

import base64
import hashlib
import json
import lzma
import uuid
from pathlib import Path
from typing import Any

CHARM_ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS_DIR = Path(__file__).resolve().parent / "grafana_dashboards"
DASHBOARD_SUFFIXES = (".json", ".json.tmpl", ".tmpl")
_UID_NAMESPACE = uuid.UUID("5b6f1d52-93a5-4c46-9d8e-4f0a8a7c1e15")


def lzma_base64(text: str) -> str:
    """Return the text LZMA-compressed and base64-encoded, as cosl's LZMABase64.compress."""
    return base64.b64encode(lzma.compress(text.encode("utf-8"))).decode("ascii")


def path40_uid(*components: str) -> str:
    """Return a 40-character dashboard uid, as cosl's DashboardPath40UID.generate."""
    return hashlib.shake_256("-".join(components).encode("utf-8")).hexdigest(20)


def _alt_uid(charm_name: str, dashboard_id: str) -> str:
    return hashlib.shake_256(f"{charm_name}-{dashboard_id}".encode()).hexdigest(8)


def _dashboard_files(dashboards_dir: Path) -> list[Path]:
    return sorted(
        path
        for path in dashboards_dir.glob("*")
        if path.is_file() and path.name.endswith(DASHBOARD_SUFFIXES)
    )


def _prepared(path: Path, charm_name: str) -> dict[str, Any]:
    """Return the dashboard as the provider library sends it: its uid and charm tag set."""
    dashboard: dict[str, Any] = json.loads(path.read_text())
    relative = path.relative_to(CHARM_ROOT) if path.is_relative_to(CHARM_ROOT) else path
    dashboard["uid"] = path40_uid(charm_name, relative.as_posix())
    tags = list(dashboard.get("tags", []))
    if not any(str(tag).startswith("charm: ") for tag in tags):
        tags.append(f"charm: {charm_name}")
    dashboard["tags"] = tags
    return dashboard


def dashboard_templates(
    charm_name: str, juju_topology: dict[str, str], dashboards_dir: Path = DASHBOARDS_DIR
) -> dict[str, dict[str, Any]]:
    """Return the templates, keyed `file:<stem>` as the provider library keys them."""
    templates = {}
    for path in _dashboard_files(dashboards_dir):
        dashboard_id = f"file:{path.stem}"
        templates[dashboard_id] = {
            "charm": charm_name,
            "content": lzma_base64(json.dumps(_prepared(path, charm_name), sort_keys=True)),
            "juju_topology": juju_topology,
            "inject_dropdowns": True,
            "dashboard_alt_uid": _alt_uid(charm_name, dashboard_id),
        }
    return templates


def dashboards_app_data(
    charm_name: str, juju_topology: dict[str, str], dashboards_dir: Path = DASHBOARDS_DIR
) -> dict[str, str]:
    """Return the application databag: the templates and a uuid that changes with them."""
    templates = dashboard_templates(charm_name, juju_topology, dashboards_dir)
    encoded = json.dumps(templates, sort_keys=True)
    stamp = str(uuid.uuid5(_UID_NAMESPACE, encoded))
    return {"dashboards": json.dumps({"templates": templates, "uuid": stamp}, sort_keys=True)}
