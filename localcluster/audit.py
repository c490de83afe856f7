"""Count the requests any client makes, from the API server's own audit log.

A `ControlPlane(audit=True)` writes one JSON event per request once its response is complete.
Reading the log between two marks counts what happened in between, whatever made the requests:
this process's lightkube client, a packed charm's dispatch, or kubectl.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# Requests the control plane makes by itself (lease renewals, the scheduler's own reads).
_COMPONENT_AGENTS = ("kube-apiserver/", "kube-scheduler/")
_SETTLE_SECONDS = 0.3
_SETTLE_TIMEOUT_SECONDS = 5.0
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True)
class Request:
    """One request as the API server audited it."""

    verb: str  # get, list, watch, create, update, patch, delete, deletecollection
    resource: str  # "pods", "pods/status", "" for a non-resource URL such as /api
    namespace: str
    name: str
    code: int
    user_agent: str
    uri: str = ""
    """The path and query, as the client sent them (`requestURI`)."""

    @property
    def is_write(self) -> bool:
        """Tell whether the request asked the API server to change something."""
        return self.verb in WRITE_VERBS


class AuditLog:
    """Reads the audit log of a control plane from one mark to the next."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def mark(self) -> int:
        """Return the log's end, once the events of finished requests have been written.

        The API server writes an event just after it sends the response, so a client that has
        its answer may still be a moment ahead of the log: wait until the log stops growing.
        """
        deadline = time.monotonic() + _SETTLE_TIMEOUT_SECONDS
        size = self._size()
        while time.monotonic() < deadline:
            time.sleep(_SETTLE_SECONDS)
            now = self._size()
            if now == size:
                break
            size = now
        return size

    def since(self, mark: int) -> list[Request]:
        """Return the requests of clients (not the control plane's own) logged after `mark`."""
        end = self.mark()
        with self._path.open("rb") as log:
            log.seek(mark)
            lines = log.read(end - mark).splitlines()
        requests = []
        for line in lines:
            event = json.loads(line)
            agent = event.get("userAgent", "")
            if agent.startswith(_COMPONENT_AGENTS):
                continue
            ref = event.get("objectRef", {})
            resource = ref.get("resource", "")
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            requests.append(
                Request(
                    verb=event["verb"],
                    resource=resource,
                    namespace=ref.get("namespace", ""),
                    name=ref.get("name", ""),
                    code=int(event.get("responseStatus", {}).get("code", 0)),
                    user_agent=agent,
                    uri=event.get("requestURI", ""),
                )
            )
        return requests

    def _size(self) -> int:
        return self._path.stat().st_size if self._path.exists() else 0


def summary(requests: list[Request]) -> str:
    """Describe requests in a few words: `402 (1 list, 401 patch)`."""
    verbs = Counter(r.verb for r in requests)
    parts = ", ".join(f"{n} {verb}" for verb, n in sorted(verbs.items()))
    return f"{len(requests)} ({parts})" if requests else "0"
