"""Argo's own config loader, built from each pinned Argo release, reads what the charm wrote.

Argo parses its ConfigMap strictly and crash-loops the workflow controller on anything it does
not know, so the check uses Argo's code (localcluster/go/argo-config), not a model of it.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap

from localcluster.harness import ControlPlane, argo_config_check
from localcluster.seed import ARGO_CONFIGMAP, KUBEFLOW_NAMESPACE
from tests.cluster.charm_on_cluster import reconcile, workflow_defaults

ARGO_CONFIG_CASES = {
    "defaults": {},
    "prefer-backoff-window": {
        "spot-placement": "prefer",
        "retry-backoff": "90s",
        "retry-backoff-factor": 2,
        "retry-max-duration": "6h",
    },
    "errors-tolerate": {"retry-on": "errors", "spot-placement": "tolerate"},
    "eks-all": {"spot-profile": "eks", "retry-on": "all"},
}


def load_with_argo(
    control_plane: ControlPlane, argo_minor: str, *attempts: str
) -> subprocess.CompletedProcess[str]:
    """Run Argo's config loader of that release against the cluster's Argo ConfigMap.

    Each attempt is `STATUS:MESSAGE` of a failed step; the output says whether the default
    retry expression lets Argo retry it.
    """
    command = [
        str(argo_config_check(argo_minor)),
        str(control_plane.kubeconfig_path),
        KUBEFLOW_NAMESPACE,
        ARGO_CONFIGMAP,
        *attempts,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("case", ARGO_CONFIG_CASES)
@pytest.mark.parametrize("argo_minor", ["3.4", "3.5", "3.6", "3.7"])
def test_argo_loads_the_workflow_defaults_the_charm_wrote(
    ctx, client, control_plane, argo_minor, case
):
    reconcile(ctx, **{"argo-version": argo_minor, **ARGO_CONFIG_CASES[case]})

    loaded = load_with_argo(control_plane, argo_minor)

    assert loaded.returncode == 0, loaded.stderr
    ours = workflow_defaults(client)["spec"]
    theirs = json.loads(loaded.stdout)["workflowDefaults"]["spec"]
    assert theirs["retryStrategy"]["retryPolicy"] == ours["retryStrategy"]["retryPolicy"]
    assert theirs.get("tolerations") == ours.get("tolerations")
    assert theirs.get("affinity") == ours.get("affinity")
    ours_template, theirs_template = (
        ours.get("templateDefaults", {}),
        theirs.get("templateDefaults", {}),
    )
    assert theirs_template.get("affinity") == ours_template.get("affinity")
    assert theirs_template.get("metadata") == ours_template.get("metadata")


# What Argo records for a step whose pod died with its node, and for ordinary failures.
EVICTED_ATTEMPTS = [
    "Error:pod deleted",
    "Failed:Pod was terminated in response to imminent node shutdown.",
    "Failed:Pod was rejected as the node is shutting down.",
    "Failed:The node was low on resource: memory. Threshold quantity: 100Mi.",
    "Failed:pod failed: neither main nor wait container completed successfully",
    # Kubelet terminating a deleted pod (Eviction API, drain, taint manager), seen on the e2e
    # cluster (tests/e2e): SIGTERM, SIGKILL after the grace period, or no container found.
    "Failed:main: Error (exit code 143)",
    "Failed:main: Error (exit code 137)",
    "Failed:main: ContainerStatusUnknown (exit code 137): The container could not be located"
    " when the pod was terminated",
]
FAILED_ATTEMPTS = [
    "Failed:main: Error (exit code 1)",
    "Failed:main: OOMKilled (exit code 137)",
    "Failed:Error (exit code 1)",
    "Error:Error (exit code 2): failed to load artifact",
    "Failed:child 'iris-x2k9p-1460' failed",
    "Failed:",
]


@pytest.mark.parametrize("argo_minor", ["3.5", "3.6", "3.7"])
def test_argo_retries_evicted_steps_and_not_application_failures(ctx, control_plane, argo_minor):
    reconcile(ctx, **{"argo-version": argo_minor, "retry-on": "evictions"})

    loaded = load_with_argo(control_plane, argo_minor, *EVICTED_ATTEMPTS, *FAILED_ATTEMPTS)

    assert loaded.returncode == 0, loaded.stderr
    retries = json.loads(loaded.stdout)["retries"]
    assert {a for a in EVICTED_ATTEMPTS if not retries[a]} == set()
    assert {a for a in FAILED_ATTEMPTS if retries[a]} == set()


def test_argo_rejects_a_workflow_defaults_field_it_does_not_know(ctx, client, control_plane):
    reconcile(ctx, **{"argo-version": "3.6"})
    document = workflow_defaults(client)
    # Argo 3.7 and later only (the default strategy has no backoff: retry-on=evictions).
    document["spec"]["retryStrategy"]["backoff"] = {"duration": "5m", "cap": "10m"}
    broken = ConfigMap(
        metadata=ObjectMeta(name=ARGO_CONFIGMAP, namespace=KUBEFLOW_NAMESPACE),
        data={"workflowDefaults": yaml.safe_dump(document)},
    )
    # Written under the charm's own field manager, so the ctx fixture's removal cleans it up.
    client.apply(broken, field_manager="kubeflow-spot")

    assert load_with_argo(control_plane, "3.7").returncode == 0
    rejected = load_with_argo(control_plane, "3.6")
    assert rejected.returncode == 1
    assert 'unknown field "cap"' in rejected.stderr
