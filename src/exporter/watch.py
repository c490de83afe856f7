"""One LIST+WATCH of one resource kind, kept going forever: resource versions, bookmarks, 410 Gone.

The loop is the one client-go's reflector runs: LIST (paginated, 500 a page) and remember the
list's resourceVersion; WATCH from it with `allowWatchBookmarks=true` and a server-side timeout,
taking the resourceVersion of every event and BOOKMARK; when the server ends the watch, WATCH
again from the last one. `410 Gone` (the version fell out of the API server's watch window, in
the stream as an ERROR event or as the response) means events were missed: LIST again and let
the sink replace what it holds. Any other error (connection refused while the API server
restarts, a 5xx) backs off exponentially and WATCHes again from the last version.

lightkube's `Client.watch` takes neither `allowWatchBookmarks` nor tells when it reconnects, and
on 410 it resumes without a version (synthetic ADDED events, but never the DELETED ones that
were missed), so the stream is driven here with lightkube's own request builder and decoders.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx2
from lightkube import ALL_NS, ApiError, Client
from lightkube.core import decoders, resource

from identity import API_ERRORS, status_code

PAGE_SIZE = 500
WATCH_TIMEOUT_SECONDS = 290
"""The server ends each watch after this; bookmarks arrive about once a minute meanwhile."""
READ_TIMEOUT_SECONDS = 150.0
"""A watch silent for this long is dead (a hung API server, a dropped connection): bookmarks
come about once a minute (k8s.io/apiserver `cacher.defaultBookmarkFrequency`), so re-WATCH."""
CONNECT_TIMEOUT_SECONDS = 10.0
USER_AGENT = "kubeflow-spot-exporter"
LOG = logging.getLogger(__name__)


def connect() -> Client:
    """Return a lightkube client from its default config: in-cluster, or KUBECONFIG.

    Its requests carry their own User-Agent, so the API server's logs and audit tell the
    exporter's watches from the charm's hooks and actions (both are lightkube).
    """
    client = Client()
    adapter: Any = client._client._client  # the httpx client lightkube sends with
    adapter.headers["User-Agent"] = USER_AGENT
    return client


class WatchGoneError(Exception):
    """410 Gone: the resourceVersion is too old to watch from; the state must be listed again."""


class WatchSink(Protocol):
    """Takes what a watch delivers (implemented by the exporter's live placement)."""

    def listed(self, objects: Iterable[Any]) -> None:
        """Take a whole LIST: the objects are exactly these now."""

    def changed(self, kind: str, obj: Any) -> None:
        """Take one ADDED, MODIFIED or DELETED event."""

    def status(self, *, synced: bool, event: str = "", problem: str = "") -> None:
        """Hear that the watch is synced (an event of this type, or none) or is not."""


@dataclass
class Backoff:
    """Exponential backoff between failed attempts, reset by a success."""

    first: float = 0.5
    most: float = 30.0
    failures: int = 0

    def next_delay(self) -> float:
        """Return how long to wait after one more failure."""
        self.failures += 1
        return float(min(self.most, self.first * 2 ** (self.failures - 1)))

    def reset(self) -> None:
        """Forget the failures after a success."""
        self.failures = 0


class ResourceWatch:
    """LIST+WATCH one resource (a `placement.views` struct class) into a sink, until stopped."""

    def __init__(
        self,
        connect: Callable[[], Client],
        kind: type[resource.Resource],
        sink: WatchSink,
        *,
        stop: threading.Event,
        timeout_seconds: int = WATCH_TIMEOUT_SECONDS,
        read_timeout: float = READ_TIMEOUT_SECONDS,
        backoff: Backoff | None = None,
    ):
        self._connect = connect
        self._kind = kind
        self._sink = sink
        self._stop = stop
        self._timeout = timeout_seconds
        self._read_timeout = read_timeout
        self._backoff = backoff or Backoff()
        self._namespace = ALL_NS if issubclass(kind, resource.NamespacedResourceG) else None
        self.lists = 0
        """LISTs made (the first and one per 410 Gone or failed re-list)."""

    def run(self) -> None:
        """LIST, then WATCH and re-WATCH, re-LISTing on 410 Gone, until `stop` is set."""
        client: Client | None = None
        version: str | None = None
        while not self._stop.is_set():
            try:
                client = client or self._connect()
                if version is None:
                    version = self._list(client)
                version = self._watch(client, version)
                self._backoff.reset()
            except WatchGoneError:
                LOG.info("%s: 410 Gone at version %s, listing again", self._kind.__name__, version)
                self._sink.status(synced=False, problem="410 Gone: listing again")
                version = None
            except (*API_ERRORS, httpx2.HTTPError) as error:
                self._fail(_problem(error))
            except Exception as error:  # a bug must not end the watch and leave stale metrics
                LOG.exception("%s: unexpected error", self._kind.__name__)
                client = None
                self._fail(f"unexpected {type(error).__name__}: {error}")

    def _fail(self, problem: str) -> None:
        delay = self._backoff.next_delay()
        LOG.warning("%s: %s; again in %.1f s", self._kind.__name__, problem, delay)
        self._sink.status(synced=False, problem=problem)
        self._stop.wait(delay)

    def _list(self, client: Client) -> str:
        self.lists += 1
        kind: Any = self._kind  # a Node or a Pod view: the overloads take one or the other
        listing = client.list(kind, namespace=self._namespace, chunk_size=PAGE_SIZE)
        self._sink.listed(listing)  # a page at a time: each object becomes facts and is dropped
        self._sink.status(synced=True)
        return str(listing.resourceVersion)

    def _watch(self, client: Client, version: str) -> str:
        """Watch from `version` until the server ends the watch; return the last version seen."""
        for kind, obj in self._stream(client, version):
            meta = obj.metadata
            if meta is not None and meta.resourceVersion:
                version = meta.resourceVersion
            if kind != "BOOKMARK":
                self._sink.changed(kind, obj)
            self._sink.status(synced=True, event=kind)
            if self._stop.is_set():
                break
        return version

    def _stream(self, client: Client, version: str) -> Iterator[tuple[str, Any]]:
        generic: Any = client._client  # lightkube's request builder, sender and decoders
        request = generic.prepare_request(
            "list",
            res=self._kind,
            namespace=self._namespace,
            watch=True,
            params={
                "timeoutSeconds": self._timeout,
                "resourceVersion": version,
                "allowWatchBookmarks": "true",
            },
        )
        request.timeout = httpx2.Timeout(CONNECT_TIMEOUT_SECONDS, read=self._read_timeout)
        response: httpx2.Response = generic.send(
            generic.build_adapter_request(request), stream=True
        )
        try:
            if response.status_code == 410:
                raise WatchGoneError()
            if response.status_code >= 400:
                response.read()
                generic.raise_for_status(response)
            self._sink.status(synced=True)
            for line in response.iter_lines():
                if line:
                    yield _decode(line, self._kind)
        finally:
            response.close()


def _problem(error: Exception) -> str:
    """Say what failed; a 404 or 403 of a custom resource (Argo's CRD absent, RBAC) by name."""
    code = status_code(error)
    if code == 404:
        return "404 Not Found: the resource is not served (its CRD is not installed)"
    if code == 403:
        return "403 Forbidden: the service account may not list or watch it"
    return f"{type(error).__name__}: {error}"


def _decode(line: str | bytes, kind: type[resource.Resource]) -> tuple[str, Any]:
    event = decoders.decode_watch_event(line.encode() if isinstance(line, str) else line)
    if event.type == "ERROR":
        status = decoders.decode_status(event.object)
        if status.code == 410:
            raise WatchGoneError()
        raise ApiError(status=status)
    return event.type, decoders.decode_object(event.object, kind)


_SAMPLE_META = {
    "name": "x",
    "namespace": "x",
    "labels": {"a": "b"},
    "annotations": {"a": "b"},
    "creationTimestamp": "2026-12-01T00:00:00Z",
    "ownerReferences": [{"kind": "Job"}],
    "resourceVersion": "1",
}
_SAMPLES = {
    "Pod": {
        "metadata": _SAMPLE_META,
        "spec": {
            "nodeName": "x",
            "tolerations": [{"key": "a", "operator": "Exists"}],
            "nodeSelector": {"a": "b"},
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["b"]}]}
                        ]
                    }
                }
            },
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {
                    "state": {
                        "running": {"startedAt": "2026-12-01T00:00:00Z"},
                        "terminated": {
                            "startedAt": "2026-12-01T00:00:00Z",
                            "finishedAt": "2026-12-01T00:00:00Z",
                        },
                    }
                }
            ],
        },
    },
    "Node": {
        "metadata": _SAMPLE_META,
        "spec": {"taints": [{"key": "a"}], "unschedulable": False},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    },
    "Workflow": {
        "metadata": _SAMPLE_META,
        "status": {"nodes": {"x": {"id": "x", "name": "x", "type": "Pod", "phase": "Failed"}}},
    },
}


def warm_decoders(*kinds: type[resource.Resource]) -> None:
    """Decode one of each kind, its LIST and a watch event in this thread, before any other.

    msgspec builds a type's decoder on its first use; threads building the same ones at once
    crashed the interpreter (benchmarks/fleet.py saw it with 16 threads; the exporter's two
    watches share the metadata and condition structs, and it crashed with SIGSEGV here once).
    """
    for kind in kinds:
        obj = json.dumps(_SAMPLES[kind.__name__.removeprefix("Watched")])
        decoders.decode_object(obj.encode(), kind)
        decoders.decode_list(f'{{"items": [{obj}], "metadata": {{}}}}'.encode(), kind)
        _decode(f'{{"type": "ADDED", "object": {obj}}}'.encode(), kind)
    decoders.decode_status(b'{"code": 410, "message": "too old resource version"}')


def run_in_thread(watch: ResourceWatch, name: str) -> threading.Thread:
    """Start the watch in a daemon thread (it stops with its `stop` event or the process)."""
    thread = threading.Thread(target=watch.run, name=name, daemon=True)
    thread.start()
    return thread
