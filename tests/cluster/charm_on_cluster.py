"""Helpers for driving the charm against the local control plane in cluster tests."""

from __future__ import annotations

import yaml
from lightkube import Client
from lightkube.resources.core_v1 import ConfigMap
from ops import testing

from applier import PodDefault
from localcluster.seed import ARGO_CONFIGMAP, KUBEFLOW_NAMESPACE

ARGO_CONTROLLER_KEYS = {"artifactRepository", "executor", "metricsConfig"}


def reconcile(ctx: testing.Context, **config: object) -> testing.State:
    """Run config-changed on the leader with these options, against the real cluster."""
    state = testing.State(leader=True, config=config, model=testing.Model(name=KUBEFLOW_NAMESPACE))
    return ctx.run(ctx.on.config_changed(), state)


def argo_configmap(client: Client) -> ConfigMap:
    """Return Argo's workflow-controller ConfigMap as the API server stores it."""
    return client.get(ConfigMap, ARGO_CONFIGMAP, namespace=KUBEFLOW_NAMESPACE)


def owners(configmap: ConfigMap) -> dict[str, set[str]]:
    """Return, per data key, the field managers that own it."""
    by_key: dict[str, set[str]] = {}
    for entry in configmap.metadata.managedFields or []:
        for key in (entry.fieldsV1 or {}).get("f:data", {}):
            by_key.setdefault(key.removeprefix("f:"), set()).add(entry.manager)
    return by_key


def poddefaults(client: Client, namespace: str) -> dict[str, dict]:
    """Return the PodDefaults of a namespace: spec by name."""
    return {p.metadata.name: p.spec for p in client.list(PodDefault, namespace=namespace)}


def workflow_defaults(client: Client) -> dict:
    """Return the workflowDefaults document stored in Argo's ConfigMap, parsed."""
    return yaml.safe_load(argo_configmap(client).data["workflowDefaults"])
