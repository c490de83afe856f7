"""Apply the spot defaults to a cluster with lightkube, and take them away again.

`SpotDefaultsApplier` is the only code that writes to Kubernetes. For the PodDefaults and for
the Argo defaults in turn, it first reads what decides the write (the PodDefault CRD, profile
namespaces and the charm's labelled PodDefaults; the Argo ConfigMap and who owns its keys), then
applies with server-side apply under the `kubeflow-spot` field manager, changing only what
differs and pruning what the current config no longer wants. Problems come back as an
`ApplyOutcome`, never as an exception. This module does not import ops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

from lightkube import ALL_NS, ApiError, Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import ConfigMap, Namespace

from deadline import RECONCILE_DEADLINE_SECONDS, Deadline, DeadlineClient, DeadlineExceededError
from identity import (
    API_ERRORS,
    MANAGER,
    PROFILE_NAMESPACE_LABELS,
    api_problem,
    charm_labels,
    is_ours,
    namespace_terminating,
)
from render import WORKFLOW_DEFAULTS_KEY

logger = logging.getLogger(__name__)

PodDefault = create_namespaced_resource("kubeflow.org", "v1alpha1", "PodDefault", "poddefaults")
PODDEFAULT_CRD = "poddefaults.kubeflow.org"
SINGLE_CONFIG_KEY = "config"
"""Argo's other ConfigMap layout: all settings in this one key, which must then be the only key."""
WRITES_IN_FLIGHT = 16
"""PodDefault writes sent at once: one at a time, 400 applies took 5.9 s, 16 at a time 3.6 s
(local API server, 2 busy cores; kubectl 4.9 s; issue 13). Far below the server's 200."""
SLOW_WRITE_SECONDS = 0.25
"""A slower first write means a struggling API server: the rest go one at a time (issue 11)."""

_Item = TypeVar("_Item")


@dataclass
class ApplyOutcome:
    """What one reconcile achieved, in the terms the unit status needs."""

    namespaces: int = 0
    """How many profile namespaces hold the charm's PodDefaults."""
    blocked: list[str] = field(default_factory=list)
    """Problems only the operator can fix."""
    waiting: list[str] = field(default_factory=list)
    """Problems that go away once another charm is deployed or the API answers."""
    not_ours: list[str] = field(default_factory=list)
    """`namespace/name` of PodDefaults that have the charm's names but are someone else's."""


class SpotDefaultsApplier:
    """Reconciles one application's spot defaults with the cluster.

    Args:
        connect: returns a lightkube client (the charm's test seam); called once per reconcile,
            inside the error handling, since building a client can fail too.
        app: the Juju application name, which labels and names every object.
        namespace: the model's namespace, where Argo's ConfigMap lives.

    """

    def __init__(self, connect: Callable[[], Client], *, app: str, namespace: str):
        self._connect = connect
        self._client: Client
        self._app = app
        self._namespace = namespace
        self._labels = charm_labels(app)

    def apply(
        self,
        pod_defaults: tuple[dict[str, Any], ...],
        workflow_defaults: str | None,
        configmap: str,
    ) -> ApplyOutcome:
        """Make the cluster hold exactly these defaults; report what stands in the way.

        Args:
            pod_defaults: PodDefault manifests (without a namespace) for every profile
                namespace; the application's other PodDefaults are deleted.
            workflow_defaults: the `workflowDefaults` value, or None to withdraw the key.
            configmap: Argo's ConfigMap, in the model's namespace.

        """
        outcome = ApplyOutcome()
        try:
            # One deadline for every request of the reconcile (see deadline.py).
            deadline = Deadline(RECONCILE_DEADLINE_SECONDS)
            self._client = cast(Client, DeadlineClient(self._connect(), deadline))
            self._apply_pod_defaults(pod_defaults, outcome)
            self._apply_workflow_defaults(workflow_defaults, configmap, outcome)
        except DeadlineExceededError as error:
            outcome.waiting.append(f"reconcile {error}; it goes on at the next hook")
        except API_ERRORS as error:
            problem = api_problem(error, self._app)
            if problem.needs_trust:
                outcome.blocked.append(problem.message)
            else:
                if problem.code is not None:
                    logger.error("%s", problem.message)
                outcome.waiting.append(problem.message)
        return outcome

    def remove(self) -> ApplyOutcome:
        """Delete every PodDefault the application labelled and withdraw its Argo defaults."""
        return self.apply((), None, configmap="")

    # PodDefaults

    def _apply_pod_defaults(
        self, manifests: tuple[dict[str, Any], ...], outcome: ApplyOutcome
    ) -> None:
        if not self._crd_exists():
            if manifests:
                outcome.waiting.append("PodDefault CRD missing: deploy admission-webhook")
            return  # Without the CRD there is nothing of ours to prune either.
        namespaces = self._profile_namespaces() if manifests else []
        wanted = {
            (namespace, manifest["metadata"]["name"]): _in_namespace(manifest, namespace)
            for namespace in namespaces
            for manifest in manifests
        }
        existing = self._client.list(PodDefault, namespace=ALL_NS, labels=_selector(self._labels))
        ours: set[tuple[str, str]] = set()
        unwanted: list[tuple[str, str]] = []
        for current in existing:
            key = _namespaced_name(current)
            desired = wanted.get(key)
            if not is_ours(current):
                # Our labels, another field manager: someone else's object; never touch it.
                outcome.not_ours.append("/".join(key))
                wanted.pop(key, None)
            elif desired is None:
                unwanted.append(key)
            elif _same_content(current, desired):
                del wanted[key]  # Unchanged: a steady-state reconcile sends no writes.
            else:
                ours.add(key)
        if unwanted:
            # One record, not one per object: each record is a juju-log call on the unit.
            first = ", ".join("/".join(key) for key in unwanted[:3])
            logger.info("pruning %d PodDefaults: %s ...", len(unwanted), first)
        _each(lambda key: self._client.delete(PodDefault, key[1], namespace=key[0]), unwanted)
        _each(
            lambda item: self._write_pod_default(item[0], item[1], item[0] in ours, outcome),
            list(wanted.items()),
        )
        outcome.namespaces = len(namespaces)
        if outcome.not_ours:
            outcome.blocked.append(_not_ours_message(sorted(set(outcome.not_ours))))

    def _write_pod_default(
        self, key: tuple[str, str], desired: dict[str, Any], ours: bool, outcome: ApplyOutcome
    ) -> None:
        """Update our PodDefault, or create it; an object already there is someone else's."""
        try:
            if ours:
                self._client.apply(
                    PodDefault.from_dict(desired), field_manager=MANAGER, force=True
                )
            else:
                # A create never touches an object of that name that is not ours: it fails.
                self._client.create(PodDefault.from_dict(desired), field_manager=MANAGER)
        except ApiError as error:
            if error.status.code == 409 and not ours:
                outcome.not_ours.append("/".join(key))
            elif not namespace_terminating(error):
                raise
            # A namespace that began terminating after the LIST: nothing to deliver there.

    def _crd_exists(self) -> bool:
        try:
            self._client.get(CustomResourceDefinition, PODDEFAULT_CRD)
        except ApiError as error:
            if error.status.code == 404:
                return False
            raise
        return True

    def _profile_namespaces(self) -> list[str]:
        found = self._client.list(Namespace, labels=_selector(PROFILE_NAMESPACE_LABELS))
        # A namespace being deleted refuses new objects (NamespaceLifecycle's 403): skip it.
        return sorted(
            _namespaced_name(ns)[1]
            for ns in found
            if not (ns.status and ns.status.phase == "Terminating")
        )

    # Argo workflowDefaults

    def _apply_workflow_defaults(
        self, document: str | None, configmap: str, outcome: ApplyOutcome
    ) -> None:
        # One LIST serves both steps: the ConfigMaps holding our key, and the one we write to.
        configmaps = {
            _namespaced_name(cm)[1]: cm
            for cm in self._client.list(ConfigMap, namespace=self._namespace)
        }
        # Withdraw the key from any ConfigMap we wrote before under another name (the
        # argo-configmap option changed) or from all of them when no defaults are wanted.
        for name, owned in configmaps.items():
            if MANAGER in _key_owners(owned) and (name != configmap or document is None):
                self._withdraw_key(owned, outcome)
        if document is None:
            return
        current = configmaps.get(configmap)
        if current is None:
            outcome.waiting.append(f"waiting for argo-controller (ConfigMap {configmap} missing)")
            return
        if SINGLE_CONFIG_KEY in (current.data or {}):
            # Argo then requires `config` to be the only key: adding ours would make the
            # workflow controller fail to parse its config and crash-loop.
            outcome.blocked.append(
                f"ConfigMap {configmap} keeps Argo's config in the single key"
                f" '{SINGLE_CONFIG_KEY}'; add workflowDefaults there by hand, or move to"
                " top-level keys"
            )
            return
        others = [m for m in _key_owners(current) if m != MANAGER]
        if others:
            outcome.blocked.append(
                f"{WORKFLOW_DEFAULTS_KEY} in ConfigMap {configmap} is owned by field manager"
                f" {', '.join(others)}: remove that key, then the charm takes it over"
            )
            return
        if (current.data or {}).get(WORKFLOW_DEFAULTS_KEY) == document:
            return  # Already in place: writing it again would only bump the resourceVersion.
        if current.immutable:
            outcome.blocked.append(
                f"ConfigMap {configmap} is immutable, so {WORKFLOW_DEFAULTS_KEY} cannot be added:"
                " recreate it without immutable: true, or set argo-configmap to a mutable one"
            )
            return
        patch = ConfigMap(
            metadata=ObjectMeta(name=configmap, namespace=self._namespace),
            data={WORKFLOW_DEFAULTS_KEY: document},
        )
        try:
            # Never force: the ConfigMap belongs to argo-controller, we only add one key.
            self._client.apply(patch, field_manager=MANAGER, force=False)
        except ApiError as error:
            if error.status.code != 409:
                raise
            outcome.blocked.append(f"conflict on ConfigMap {configmap}: {error.status.message}")

    def _withdraw_key(self, owned: ConfigMap, outcome: ApplyOutcome) -> None:
        # Applying the ConfigMap with none of our fields makes the API server drop the fields
        # only we owned, our key, and nothing that argo-controller owns. The uid read with it is
        # a precondition: were the ConfigMap deleted since, the API server answers 409 "uid
        # mismatch ... no existing object was found" instead of creating an empty one, and 422
        # when another of that name replaced it (checked on kube-apiserver 1.36).
        name = _namespaced_name(owned)[1]
        uid = owned.metadata.uid if owned.metadata else None
        logger.info("withdrawing %s from ConfigMap %s", WORKFLOW_DEFAULTS_KEY, name)
        empty = ConfigMap(metadata=ObjectMeta(name=name, namespace=self._namespace, uid=uid))
        try:
            self._client.apply(empty, field_manager=MANAGER, force=False)
        except ApiError as error:
            if error.status.code not in (409, 422):
                raise
            if owned.immutable:
                outcome.blocked.append(
                    f"ConfigMap {name} is immutable: {WORKFLOW_DEFAULTS_KEY} stays in it;"
                    " recreate it without the key"
                )
            else:
                logger.info("ConfigMap %s is gone or replaced: nothing to withdraw", name)


def _not_ours_message(names: list[str]) -> str:
    more = f" and {len(names) - 1} more" if len(names) > 1 else ""
    return (
        f"PodDefault {names[0]}{more} has the charm's name but is not the charm's: left"
        " untouched; delete or rename it to get the spot PodDefault there"
    )


def _each(write: Callable[[_Item], object], items: Sequence[_Item]) -> None:
    """Send one write per item, WRITES_IN_FLIGHT at a time; raise the first error after all.

    The first goes alone (many threads decoding lightkube's first object at once crashed a
    trial), and if it was slow the others follow it one by one.
    """
    if not items:
        return
    began = time.monotonic()
    write(items[0])
    if time.monotonic() - began > SLOW_WRITE_SECONDS:
        for item in items[1:]:
            write(item)
        return
    with ThreadPoolExecutor(WRITES_IN_FLIGHT) as pool:
        futures = [pool.submit(write, item) for item in items[1:]]
    for future in futures:
        future.result()


def _key_owners(configmap: ConfigMap) -> list[str]:
    """Return the field managers that own the `workflowDefaults` key of a ConfigMap."""
    owners = []
    for entry in (configmap.metadata.managedFields or []) if configmap.metadata else []:
        data_fields = (entry.fieldsV1 or {}).get("f:data", {})
        if f"f:{WORKFLOW_DEFAULTS_KEY}" in data_fields and entry.manager:
            owners.append(entry.manager)
    return owners


class _Named(Protocol):
    @property
    def metadata(self) -> ObjectMeta | None: ...


def _namespaced_name(obj: _Named) -> tuple[str, str]:
    """Return (namespace, name) of an object read from the API server."""
    if obj.metadata is None or obj.metadata.name is None:
        raise ValueError(f"the API server returned an object without a name: {obj!r}")
    return obj.metadata.namespace or "", obj.metadata.name


def _selector(labels: dict[str, str]) -> dict[str, Any]:
    """Widen a label dict to the type lightkube's `labels=` parameter declares."""
    return dict(labels)


def _in_namespace(manifest: dict[str, Any], namespace: str) -> dict[str, Any]:
    return {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}


def _same_content(current: Any, desired: dict[str, Any]) -> bool:
    """Tell whether a PodDefault read from the cluster already has the desired spec and labels."""
    labels = (current.metadata.labels if current.metadata else None) or {}
    return current.spec == desired["spec"] and all(
        labels.get(key) == value for key, value in desired["metadata"]["labels"].items()
    )
