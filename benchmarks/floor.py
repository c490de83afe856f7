"""The floor of a report: the report's own requests sent again over its transport, not decoded.

Whatever the report does beyond this is decoding and counting; this is what the wire costs. The
requests are those the API server audited for a run of the report (every LIST of pods, nodes
and, for the conflict check, Jobs, the Training Operator and Trainer kinds, Katib Experiments
and Warning events; whatever the report lists), each first page sent as it was and its further
pages followed with the `continue` tokens of this pass, so the floor keeps up with the report.

The floor runs in a fresh process of its own, as the report does (`python -m benchmarks.floor`),
timed from before it imports its HTTP stack: the report imports lightkube in its handler too
(a standby hook must not pay for it), so both figures include importing what they fetch with,
and neither the interpreter's start.

Usage: python -m benchmarks.floor KUBECONFIG REQUESTS_JSON
  REQUESTS_JSON: [[path, {query}], ...] as `first_requests` returns them
  prints one JSON line: seconds, requests sent, megabytes received
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from localcluster.audit import Request

# kube-apiserver writes a list's metadata before its items, so the token is in the first bytes.
_CONTINUE = re.compile(rb'"continue":"([^"]+)"')
_HEAD = 4096


@dataclass(frozen=True)
class Fetched:
    """What one pass over the pages fetched, and how long it took in its process."""

    seconds: float
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
    The time includes importing lightkube's config and transport (see the module's doc).
    """
    began = time.perf_counter()
    from lightkube.config import client_adapter
    from lightkube.config.kubeconfig import KubeConfig

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
    return Fetched(time.perf_counter() - began, sent, size / 1e6)


def main(argv: list[str]) -> int:
    """Fetch the pages once and print what it took."""
    kubeconfig, requests = Path(argv[0]), json.loads(argv[1])
    print(json.dumps(asdict(fetch_pages(kubeconfig, [(p, q) for p, q in requests]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
