"""The Kubeflow-like workloads the demo creates beside the pipeline, as their controllers would.

Pods are built as Kubeflow's controllers build them and admitted as the PodDefault webhook
would (localcluster.kubeflow_pods); kwok then runs each of them for the whole demo.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lightkube import Client
from lightkube.models.core_v1 import PodSpec, Toleration
from lightkube.resources.core_v1 import Pod

from localcluster import kubeflow_pods
from localcluster.seed import PROFILE_NAMESPACE, REGULAR_POOL, cordon, wait_until_decided
from localcluster.workflows import RUN_ANNOTATION

PodBuilder = Callable[[str, str], Pod]
TIMEOUT = 30.0
RUNS_FOR = "1h"
"""How long kwok runs these pods: longer than the demo, so they are Running when it reports."""


def create_all(
    client: Client, workflow_defaults: Mapping[str, Any], say: Callable[[str], None]
) -> None:
    """Create the first workloads, fill the on-demand pool, then create the second ones."""

    def step(name: str, namespace: str) -> Pod:
        return kubeflow_pods.pipeline_step(name, namespace, workflow_defaults)

    first = [
        ("tune-lr-trial-4fxk2", kubeflow_pods.katib_trial),
        ("mnist-ddp-worker-0", kubeflow_pods.training_worker),
        ("lab-0", kubeflow_pods.notebook),
        ("sklearn-iris-predictor-7d9f", kubeflow_pods.kserve_predictor),
    ]
    wait_until_decided(client, PROFILE_NAMESPACE, create(client, first, say), TIMEOUT)
    say(f"on-demand pool {REGULAR_POOL} full (cordoned), more workloads arrive")
    cordon(client, REGULAR_POOL)
    second = [
        ("mnist-ddp-worker-1", kubeflow_pods.training_worker),
        ("tune-lr-trial-9qz7m", kubeflow_pods.katib_trial),
        ("lab2-0", kubeflow_pods.notebook),
        # A template with tolerations of its own replaces the workflow default's, but keeps the
        # required spot affinity: the step can go nowhere.
        ("etl-pipeline-m4v7z-3312", lambda n, ns: _untolerated(step(n, ns))),
    ]
    wait_until_decided(client, PROFILE_NAMESPACE, create(client, second, say), TIMEOUT)


def create(
    client: Client, builders: Sequence[tuple[str, PodBuilder]], say: Callable[[str], None]
) -> list[str]:
    """Create pods the way Kubeflow's controllers and the PodDefault webhook would."""
    for name, build in builders:
        pod = kubeflow_pods.admit(client, build(name, PROFILE_NAMESPACE))
        assert pod.metadata is not None
        pod.metadata.annotations = {**(pod.metadata.annotations or {}), RUN_ANNOTATION: RUNS_FOR}
        client.create(pod)
        tolerations = ", ".join(t.key or "*" for t in _spec(pod).tolerations or []) or "none"
        say(f"created {name:28} tolerations: {tolerations}")
    return [name for name, _ in builders]


def _untolerated(pod: Pod) -> Pod:
    _spec(pod).tolerations = [Toleration(key="example.com/gpu", operator="Exists")]
    return pod


def _spec(pod: Pod) -> PodSpec:
    assert pod.spec is not None  # A pod always has a spec.
    return pod.spec
