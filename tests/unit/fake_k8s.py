"""An in-memory stand-in for the lightkube `Client` at the charm's one Kubernetes seam.

It stores objects as plain dicts and speaks the four calls the charm makes (get, list, apply,
delete). For ConfigMaps it keeps per-manager ownership of `data` keys the way server-side apply
does, so ownership logic can be unit tested; tests/cluster checks the same logic against a real
API server.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lightkube import ALL_NS, ApiError
from lightkube.core.selector import build_selector
from lightkube.models.meta_v1 import Status

from label_selectors import parse_label_selector


def api_error(code: int, message: str = "") -> ApiError:
    """Build the ApiError lightkube raises for an HTTP status code."""
    return ApiError(status=Status(code=code, message=message or f"HTTP {code}"))


@dataclass
class FakeCluster:
    """Objects by (kind, namespace, name); namespace is "" for cluster-scoped kinds."""

    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    writes: list[tuple[str, str, str, str]] = field(default_factory=list)
    """Every apply, create or delete, as (verb, kind, namespace, name)."""
    requests: int = 0
    fail: dict[tuple[str, str], int] = field(default_factory=dict)
    """Make (verb, kind) answer with this HTTP status code."""

    def add(self, kind: str, manifest: dict[str, Any]) -> None:
        """Store an object as if another component had created it."""
        meta = manifest["metadata"]
        self.objects[(kind, meta.get("namespace", ""), meta["name"])] = copy.deepcopy(manifest)

    def find(self, kind: str, namespace: str = "") -> dict[str, dict[str, Any]]:
        """Return the stored objects of a kind in a namespace, by name."""
        return {n: o for (k, ns, n), o in self.objects.items() if k == kind and ns == namespace}

    def _check(self, verb: str, kind: str) -> None:
        self.requests += 1
        if (verb, kind) in self.fail:
            raise api_error(self.fail[(verb, kind)])

    def get(self, res: Any, name: str, *, namespace: str | None = None) -> Any:
        kind = res.__name__
        self._check("get", kind)
        found = self.objects.get((kind, namespace or "", name))
        if found is None:
            raise api_error(404, f"{kind} {name} not found")
        return res.from_dict(copy.deepcopy(found))

    def list(
        self,
        res: Any,
        *,
        namespace: str | None = None,
        labels: Any = None,
        fields: Any = None,
        chunk_size: int | None = None,
    ) -> Iterator[Any]:
        """List like lightkube: one request, or one per page of `chunk_size` objects."""
        kind = res.__name__
        self._check("list", kind)
        # The server evaluates label selectors; here the selector lightkube would send is parsed
        # back and matched. tests/cluster checks selectors against the real API server.
        selector = parse_label_selector(build_selector(labels) if labels else "")
        found = [
            obj
            for (k, ns, _), obj in list(self.objects.items())
            if k == kind
            and (namespace in (None, ALL_NS) or ns == namespace)
            and selector.matches(obj["metadata"].get("labels") or {})
            # Field selectors: equality on top-level fields, as the charm uses them (type=...).
            and all(obj.get(key) == value for key, value in (fields or {}).items())
        ]
        for index, obj in enumerate(found):
            if chunk_size and index and index % chunk_size == 0:
                self._check("list", kind)  # The next page is another request.
            yield res.from_dict(copy.deepcopy(obj))

    def delete(self, res: Any, name: str, *, namespace: str | None = None) -> None:
        kind = res.__name__
        self._check("delete", kind)
        self.writes.append(("delete", kind, namespace or "", name))
        if self.objects.pop((kind, namespace or "", name), None) is None:
            raise api_error(404)

    def apply(self, obj: Any, *, field_manager: str, force: bool = False) -> Any:
        kind = type(obj).__name__
        self._check("apply", kind)
        manifest = obj.to_dict()
        meta = manifest["metadata"]
        key = (kind, meta.get("namespace", ""), meta["name"])
        self.writes.append(("apply", *key))
        if kind == "ConfigMap":
            if meta.get("uid") and key not in self.objects:
                raise api_error(409, "uid mismatch: no existing object was found")
            self._apply_configmap_data(key, manifest.get("data") or {}, field_manager, force)
        else:
            self._store(key, manifest, field_manager, "Apply")
        return obj

    def create(self, obj: Any, *, field_manager: str | None = None) -> Any:
        kind = type(obj).__name__
        self._check("create", kind)
        manifest = obj.to_dict()
        key = (kind, manifest["metadata"].get("namespace", ""), manifest["metadata"]["name"])
        self.writes.append(("create", *key))
        if key in self.objects:
            raise api_error(409, f"{kind} {key[2]} already exists")
        self._store(key, manifest, field_manager or "", "Update")
        return obj

    def _store(
        self, key: tuple[str, str, str], manifest: dict[str, Any], manager: str, operation: str
    ) -> None:
        manifest["metadata"]["managedFields"] = [{"manager": manager, "operation": operation}]
        self.objects[key] = {"apiVersion": manifest.get("apiVersion"), "kind": key[0], **manifest}

    def _apply_configmap_data(
        self, key: tuple[str, str, str], data: dict[str, str], manager: str, force: bool
    ) -> None:
        """Server-side apply of `data` keys: each key has owners; a manager's omitted keys go."""
        current = self.objects.setdefault(
            key, {"metadata": {"name": key[2], "namespace": key[1]}, "data": {}}
        )
        owners = _data_owners(current)
        for name, value in data.items():
            others = owners.get(name, set()) - {manager}
            if others and current["data"].get(name) != value and not force:
                raise api_error(409, f"conflict with {sorted(others)} on .data.{name}")
        for name in [n for n, who in owners.items() if manager in who and n not in data]:
            owners[name].discard(manager)
            if not owners[name]:
                current["data"].pop(name, None)
        for name, value in data.items():
            current["data"][name] = value
            owners[name] = {manager} if force else owners.get(name, set()) | {manager}
        _set_data_owners(current, owners)


def _data_owners(configmap: dict[str, Any]) -> dict[str, set[str]]:
    owners: dict[str, set[str]] = {}
    for entry in configmap["metadata"].get("managedFields") or []:
        for field_key in entry.get("fieldsV1", {}).get("f:data", {}):
            owners.setdefault(field_key.removeprefix("f:"), set()).add(entry["manager"])
    return owners


def _set_data_owners(configmap: dict[str, Any], owners: dict[str, set[str]]) -> None:
    by_manager: dict[str, dict[str, Any]] = {}
    for name, managers in owners.items():
        for manager in managers:
            by_manager.setdefault(manager, {})[f"f:{name}"] = {}
    configmap["metadata"]["managedFields"] = [
        {"manager": m, "operation": "Apply", "fieldsV1": {"f:data": fields}}
        for m, fields in sorted(by_manager.items())
    ]


def configmap_owned_by(
    name: str, namespace: str, data: dict[str, str], manager: str
) -> dict[str, Any]:
    """Build a ConfigMap manifest whose data keys all belong to one field manager."""
    configmap: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": dict(data),
    }
    _set_data_owners(configmap, {key: {manager} for key in data})
    return configmap
