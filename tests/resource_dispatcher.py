"""resource-dispatcher's side of the `pod-defaults` relation, played against an ops.testing State.

The protocol's expectations live here, once. `received` reads the charm's output the way the
dispatcher's `kubernetes_manifests` library (LIBPATCH 2) reads a requirer: `is_secret` must be
"true" in the requirer's application databag, `kubernetes_manifests` must name a secret granted
to the dispatcher on this relation, and the latest revision of that secret holds the manifests
as JSON under `manifests`. `files_for` then does what the dispatcher's workload does with each
manifest before Metacontroller applies it: dump it to YAML and render that through Jinja with
the target namespace.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import jinja2
import yaml
from ops import testing

ENDPOINT = "pod-defaults"
APP = "resource-dispatcher"


def render_as_dispatcher(manifest: dict[str, Any], namespace: str) -> dict[str, Any]:
    """Return a manifest as the dispatcher applies it: dumped to YAML, rendered through Jinja."""
    rendered: dict[str, Any] = yaml.safe_load(
        jinja2.Template(yaml.dump(manifest)).render(NAMESPACE=namespace)
    )
    return rendered


def _locator(secret_id: str) -> str:
    """Reduce `secret:<id>` and `secret://<model-uuid>/<id>` to the ID both forms share."""
    return secret_id.removeprefix("secret:").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ResourceDispatcher:
    """The dispatcher application related to the charm over one `pod-defaults` relation."""

    relation: testing.Relation = field(
        default_factory=lambda: testing.Relation(
            ENDPOINT, interface="kubernetes_manifest", remote_app_name=APP
        )
    )

    def secret(self, state: testing.State) -> testing.Secret:
        """Return the secret the charm's databag points the dispatcher to, checking the grant."""
        databag = state.get_relation(self.relation.id).local_app_data
        assert databag.get("is_secret") == "true", f"no is_secret=true in {databag}"
        secret_id = databag["kubernetes_manifests"]
        matching = [s for s in state.secrets if _locator(s.id) == _locator(secret_id)]
        assert len(matching) == 1, f"kubernetes_manifests={secret_id} names no secret"
        secret = matching[0]
        assert APP in secret.remote_grants.get(self.relation.id, ()), "secret not granted"
        return secret

    def received(self, state: testing.State) -> list[dict[str, Any]]:
        """Return the manifests the dispatcher reads: the latest revision, parsed from JSON."""
        manifests: list[dict[str, Any]] = json.loads(
            self.secret(state).latest_content["manifests"]
        )
        return manifests

    def files_for(self, state: testing.State, namespace: str) -> list[dict[str, Any]]:
        """Return what the dispatcher applies into a namespace: each manifest Jinja-rendered."""
        return [render_as_dispatcher(m, namespace) for m in self.received(state)]
