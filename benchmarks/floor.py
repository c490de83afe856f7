"""The floor of a report: the report's own requests sent again over its transport, not decoded.

Whatever the report does beyond this is decoding and counting; this is what the wire costs. The
requests are those the API server audited for a run of the report (every LIST of pods, nodes
and, for the conflict check, Jobs, the Training Operator and Trainer kinds, Katib Experiments
and Warning events; whatever the report lists), each first page sent as it was and its further
pages followed with the `continue` tokens of this pass, so the floor keeps up with the report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from lightkube.config import client_adapter
from lightkube.config.kubeconfig import KubeConfig

from localcluster.audit import Request

# kube-apiserver writes a list's metadata before its items, so the token is in the first bytes.
_CONTINUE = re.compile(rb'"continue":"([^"]+)"')
_HEAD = 4096


@dataclass(frozen=True)
class Fetched:
    """What one pass over the pages fetched."""

    requests: int
    megabytes: float


def first_requests(report: Iterable[Request]) -> list[tuple[str, dict[str, str]]]:
    """Return (path, query) of each request the report made that was not a further page."""
    sent = []
    for request in report:
        parts = urlsplit(request.uri)
        query = dict(parse_qsl(parts.query))
        if "continue" not in query:
            sent.append((parts.path, query))
    return sent


def fetch_pages(kubeconfig: Path, requests: list[tuple[str, dict[str, str]]]) -> Fetched:
    """Send each request, following `continue` tokens; bodies are counted, never decoded.

    A 404 is fetched like any answer: the report gets it too (a kind whose CRD is missing).
    """
    config = KubeConfig.from_file(kubeconfig).get()
    assert config is not None
    params = client_adapter.ConnectionParams(trust_env=False)
    sent, size = 0, 0
    with client_adapter.Client(config, params) as http:
        for path, first in requests:
            query = dict(first)
            while True:
                response = http.get(path, params=query)
                if response.status_code != 404:
                    response.raise_for_status()
                body = response.content
                sent, size = sent + 1, size + len(body)
                found = _CONTINUE.search(body, 0, _HEAD)
                if found is None:
                    break
                query["continue"] = found.group(1).decode()
    return Fetched(sent, size / 1e6)
