"""The exporter's HTTP endpoints: `/metrics` (Prometheus text format) and `/healthz`.

`/metrics` is prometheus_client's own WSGI app over the exporter's registry; `/healthz` answers
200 while both watches are synced, else 503 with the reason (what Pebble's health check reads).
Each request is served in its own thread, so a slow scrape never holds up a health check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.registry import CollectorRegistry

Health = Callable[[], tuple[bool, str]]
StartResponse = Callable[..., Any]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        """Log no line per request: Prometheus scrapes every 30 s, forever."""


def exporter_app(registry: CollectorRegistry, health: Health) -> Callable[..., Iterable[bytes]]:
    """Return the WSGI app serving `/metrics` from the registry and `/healthz` from `health`."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            healthy, reason = health()
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [f"{reason}\n".encode()]
        if path in ("/metrics", "/"):
            result: Iterable[bytes] = metrics(environ, start_response)
            return result
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: /metrics and /healthz are served\n"]

    return app


def serve(registry: CollectorRegistry, health: Health, host: str, port: int) -> WSGIServer:
    """Bind the server (port 0 picks a free one: `server.server_port`); call serve_forever."""
    return make_server(
        host,
        port,
        exporter_app(registry, health),
        server_class=_ThreadingServer,
        handler_class=_QuietHandler,
    )
