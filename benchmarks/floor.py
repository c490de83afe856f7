"""The floor of a report: the same paginated LISTs fetched over the same transport, not decoded.

Whatever the report does beyond this is decoding and counting; this is what the wire costs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lightkube.config import client_adapter
from lightkube.config.kubeconfig import KubeConfig

PAGE_SIZE = 500
# kube-apiserver writes a list's metadata before its items, so the token is in the first bytes.
_CONTINUE = re.compile(rb'"continue":"([^"]+)"')
_HEAD = 4096


@dataclass(frozen=True)
class Fetched:
    """What one pass over the pages fetched."""

    requests: int
    megabytes: float


def fetch_pages(kubeconfig: Path) -> Fetched:
    """GET every page of nodes, then of pods, as the report's reader asks for them."""
    config = KubeConfig.from_file(kubeconfig).get()
    assert config is not None
    params = client_adapter.ConnectionParams(trust_env=False)
    requests, size = 0, 0
    with client_adapter.Client(config, params) as http:
        for path in ("/api/v1/nodes", "/api/v1/pods"):
            query = {"limit": str(PAGE_SIZE)}
            while True:
                response = http.get(path, params=query)
                response.raise_for_status()
                body = response.content
                requests, size = requests + 1, size + len(body)
                found = _CONTINUE.search(body, 0, _HEAD)
                if found is None:
                    break
                query["continue"] = found.group(1).decode()
    return Fetched(requests, size / 1e6)
