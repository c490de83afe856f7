"""Who the charm is to Kubernetes: its field manager, its labels, and how API errors read.

Every object the charm writes carries these labels and is applied under `MANAGER`; the applier
and the placement reader report an API error in the same words, with the same trust hint. This
module imports lightkube's error types, not ops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx2
from lightkube import ApiError, ConfigError

MANAGER = "kubeflow-spot"
"""The server-side apply field manager of everything the charm writes."""
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
INSTANCE_LABEL = "app.kubernetes.io/instance"
CLASS_LABEL = "kubeflow-spot/workload-class"
DEFAULTS_LABEL = "kubeflow-spot/defaults"
"""Put on every Workflow and pipeline step pod that received the charm's Argo defaults."""

PROFILE_NAMESPACE_LABELS = {"app.kubernetes.io/part-of": "kubeflow-profile"}
"""Labels the Kubeflow profiles controller puts on every profile namespace."""
PROFILE_NAMESPACE_SELECTOR = ",".join(f"{k}={v}" for k, v in PROFILE_NAMESPACE_LABELS.items())
"""The same labels as a label selector, as `kubectl -l` takes it."""

API_ERRORS = (ApiError, httpx2.TransportError, ConfigError)
"""What a lightkube call raises when the cluster refuses, cannot be reached or configured."""


def charm_labels(app: str) -> dict[str, str]:
    """Return the labels on every object the charm creates, used to find them again."""
    return {MANAGED_BY_LABEL: MANAGER, INSTANCE_LABEL: app}


def is_ours(obj: Any) -> bool:
    """Tell whether an object read from the API server was written by the charm's manager.

    The charm's labels alone do not make an object the charm's: anyone can copy them.
    """
    meta = obj.metadata
    return meta is not None and any(e.manager == MANAGER for e in meta.managedFields or [])


def namespace_terminating(error: ApiError) -> bool:
    """Tell a 403 from NamespaceLifecycle (namespace being deleted) from a lack of rights."""
    details = error.status.details
    causes = (details.causes or []) if details else []
    return error.status.code == 403 and any(c.reason == "NamespaceTerminating" for c in causes)


def trust_hint(app: str) -> str:
    """Return what the operator runs to give the charm its cluster permissions."""
    return f"run: juju trust {app} --scope=cluster"


@dataclass(frozen=True)
class ApiProblem:
    """An API error in the words the status or the action shows."""

    message: str
    needs_trust: bool = False
    """The API answered 401 or 403: only the operator can fix it, with `juju trust`."""
    code: int | None = None
    """The HTTP status code, when the API server answered."""


def status_code(error: BaseException) -> int | None:
    """Return the HTTP status the API server answered with, or None if it did not answer.

    lightkube raises an ApiError for a JSON Status, and an httpx2.HTTPStatusError for a plain
    text answer, such as the "404 page not found" of a kind whose CRD is not installed (seen
    on kube-apiserver 1.36).
    """
    if isinstance(error, ApiError):
        return error.status.code
    if isinstance(error, httpx2.HTTPStatusError):
        return error.response.status_code
    return None


def api_problem(error: ApiError | httpx2.TransportError | ConfigError, app: str) -> ApiProblem:
    """Say what went wrong talking to Kubernetes, and whether trust would fix it."""
    if not isinstance(error, ApiError):
        return ApiProblem(f"Kubernetes API unreachable: {error}")
    code = error.status.code
    if namespace_terminating(error):
        return ApiProblem(f"Kubernetes API error {code}: {error.status.message}", code=code)
    if code in (401, 403):
        return ApiProblem(trust_hint(app), needs_trust=True, code=code)
    return ApiProblem(f"Kubernetes API error {code}: {error.status.message}", code=code)
