"""The requirer side of resource-dispatcher's `kubernetes_manifest` interface.

What resource-dispatcher reads (its `kubernetes_manifests` library, LIBPATCH 2): in the
requirer's application databag, `is_secret="true"` and `kubernetes_manifests=<secret-id>`; in
that Juju secret, granted to the relation, the content key `manifests` holding the manifests as
a JSON list. The secret is owned by the application and labelled `manifest.<relation>.<id>`;
the same secret gets a new revision when the manifests change, and the revisions nobody tracks
any more are removed on `secret-remove`. An empty list withdraws everything sent before.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import ops

logger = logging.getLogger(__name__)

MANIFESTS_FIELD = "kubernetes_manifests"
IS_SECRET_FIELD = "is_secret"
SECRET_CONTENT_KEY = "manifests"
_SECRET_LABEL = re.compile(r"^manifest\.(?P<relation>[^.]+)\.(?P<id>\d+)$")


def secret_label(relation: ops.Relation) -> str:
    """Return the label of the secret that carries the manifests of one relation."""
    return f"manifest.{relation.name}.{relation.id}"


class ManifestsRequirer(ops.Object):
    """Sends Kubernetes manifests to resource-dispatcher over one relation endpoint.

    Only the leader writes. Observes `secret-remove` to delete the obsolete revisions of the
    secrets it owns; the charm decides when to call `send`.
    """

    def __init__(self, charm: ops.CharmBase, relation_name: str):
        super().__init__(charm, relation_name)
        self._relation_name = relation_name
        self.framework.observe(charm.on.secret_remove, self._on_secret_remove)

    @property
    def related(self) -> bool:
        """Tell whether resource-dispatcher is related (a relation being broken is not)."""
        return bool(self.model.relations[self._relation_name])

    def send(self, manifests: list[dict[str, Any]]) -> None:
        """Hand these manifests to every related dispatcher, replacing what was sent before."""
        if not self.model.unit.is_leader():
            return
        # Sorted keys: the same manifests always give the same content, hence no new revision.
        content = {SECRET_CONTENT_KEY: json.dumps(manifests, sort_keys=True)}
        for relation in self.model.relations[self._relation_name]:
            self._send_over(relation, content)

    def _send_over(self, relation: ops.Relation, content: dict[str, str]) -> None:
        label = secret_label(relation)
        created = False
        try:
            secret = self.model.get_secret(label=label)
        except ops.SecretNotFoundError:
            description = f"Kubernetes manifests for {relation.app.name} ({relation.name})"
            secret = self.model.app.add_secret(content, label=label, description=description)
            created = True
        else:
            if secret.peek_content() != content:
                secret.set_content(content)
        databag = relation.data[self.model.app]
        if not created and databag.get(MANIFESTS_FIELD) and databag.get(IS_SECRET_FIELD) == "true":
            return  # Granted and announced already; the dispatcher reads the latest revision.
        secret.grant(relation)
        # ops leaves the ID unset on a secret looked up by its label.
        secret_id = secret.id or secret.get_info().id
        databag.update({MANIFESTS_FIELD: secret_id, IS_SECRET_FIELD: "true"})

    def _on_secret_remove(self, event: ops.SecretRemoveEvent) -> None:
        """Remove a revision of one of our manifest secrets that no consumer tracks any more."""
        found = _SECRET_LABEL.match(event.secret.label or "")
        if found is None or found["relation"] != self._relation_name:
            return  # Not a secret of this endpoint.
        if not self.model.unit.is_leader():
            return  # Application secrets are managed by the leader only.
        try:
            event.secret.remove_revision(event.revision)
        except ops.SecretNotFoundError:
            # Juju can report revisions of a secret that is gone already (juju/juju#20794).
            logger.info("secret %s is gone; nothing to remove", event.secret.label)
