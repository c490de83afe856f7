"""`make demo`: the charm against a real local control plane shaped like Charmed Kubeflow on AKS.

A real etcd, kube-apiserver and kube-scheduler run on loopback; the Juju model around the charm
is simulated with ops.testing. The demo deploys the charm with its default config, prints what
`juju status` and `juju run kubeflow-spot/0 show-defaults` would show, creates a handful of
Kubeflow-like pods in the `admin` profile, lets the scheduler place them, and prints what
`juju run kubeflow-spot/0 report-placement` reports about where each one landed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

import yaml
from lightkube import Client
from lightkube.models.core_v1 import PodSpec, Toleration
from lightkube.resources.core_v1 import Pod
from ops import testing

from charm import KubeflowSpotCharm
from localcluster import kubeflow_pods
from localcluster.charm_context import APP, charm_context
from localcluster.seed import (
    KUBEFLOW_NAMESPACE,
    PROFILE_NAMESPACE,
    REGULAR_POOL,
    cordon,
    wait_until_decided,
)
from localcluster.session import run_seeded
from placement.action_results import join_report

TIMEOUT = 30.0
PodBuilder = Callable[[str, str], Pod]


def main(argv: list[str] | None = None) -> int:
    """Run the demo; with --keep, leave the cluster up until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the cluster up until Ctrl-C")
    args = parser.parse_args(argv)
    return run_seeded(run, keep=args.keep, field_manager="kubeflow-spot-demo")


def run(client: Client) -> None:
    """Deploy the charm, show its defaults, place Kubeflow-like pods and show where they ran."""
    ctx = charm_context()
    # The charm's one Kubernetes seam, pointed at the real API server.
    KubeflowSpotCharm.lightkube_client = lambda self: client  # type: ignore[method-assign]
    state = testing.State(leader=True, model=testing.Model(name=KUBEFLOW_NAMESPACE))

    heading("juju deploy kubeflow-spot --trust  (default config)")
    state = ctx.run(ctx.on.install(), state)
    print(f"kubeflow-spot/0  {state.unit_status.name}  {state.unit_status.message}")

    heading("juju run kubeflow-spot/0 show-defaults")
    ctx.run(ctx.on.action("show-defaults"), state)
    results = ctx.action_results or {}
    print(f"summary: {results['summary']}\nnotes:")
    for note in results["notes"].splitlines():
        print(f"  - {note}")
    argo = yaml.safe_load(results["defaults"])["argo"]
    print(f"\n{argo['configMap']} key {argo['key']}:\n{argo['value']}")
    workflow_defaults = yaml.safe_load(argo["value"])

    heading(f"Kubeflow workloads created in namespace {PROFILE_NAMESPACE}")

    def step(name: str, namespace: str) -> Pod:
        return kubeflow_pods.pipeline_step(name, namespace, workflow_defaults)

    first = [
        ("iris-pipeline-x2k9p-1460", step),
        ("iris-pipeline-x2k9p-2207", step),
        ("tune-lr-trial-4fxk2", kubeflow_pods.katib_trial),
        ("mnist-ddp-worker-0", kubeflow_pods.training_worker),
        ("lab-0", kubeflow_pods.notebook),
        ("sklearn-iris-predictor-7d9f", kubeflow_pods.kserve_predictor),
    ]
    wait_until_decided(client, PROFILE_NAMESPACE, create_workloads(client, first), TIMEOUT)

    heading(f"on-demand pool {REGULAR_POOL} full (cordoned), more workloads arrive")
    cordon(client, REGULAR_POOL)
    second = [
        ("mnist-ddp-worker-1", kubeflow_pods.training_worker),
        ("tune-lr-trial-9qz7m", kubeflow_pods.katib_trial),
        ("lab2-0", kubeflow_pods.notebook),
        # A template with tolerations of its own replaces the workflow default's, but keeps the
        # required spot affinity: the step can go nowhere.
        ("etl-pipeline-m4v7z-3312", lambda n, ns: _untolerated(step(n, ns))),
    ]
    wait_until_decided(client, PROFILE_NAMESPACE, create_workloads(client, second), TIMEOUT)

    heading(f"juju run {APP}/0 report-placement namespace={PROFILE_NAMESPACE}")
    ctx.run(ctx.on.action("report-placement", params={"namespace": PROFILE_NAMESPACE}), state)
    print((ctx.action_results or {})["report"])

    heading("... format=json: every pod, grouped by namespace and node (here as a list)")
    params = {"namespace": PROFILE_NAMESPACE, "format": "json"}
    ctx.run(ctx.on.action("report-placement", params=params), state)
    document = json.loads(join_report(ctx.action_results or {}))
    print(f"{'POD':28} {'CLASS':10} {'NODE':16} VERDICT")
    for nodes in document["pods"].values():
        for node, rows in nodes.items():
            for name, workload, _, verdict, _ in rows:
                print(f"{name:28} {workload:10} {node or '(none)':16} {verdict}")
    print(
        "\ntraining and hpo pods tolerate spot, so they use it when on-demand is full;"
        " the notebook waits for on-demand capacity instead of landing on a node that can vanish."
        "\n(No kubelet runs here, so no pod starts and there are no pod-hours to save yet.)"
    )


def heading(text: str) -> None:
    """Print a section heading."""
    print(f"\n== {text} ==")


def create_workloads(client: Client, builders: Sequence[tuple[str, PodBuilder]]) -> list[str]:
    """Create pods the way Argo, the PodDefault webhook and Kubeflow's controllers would."""
    for name, build in builders:
        pod = kubeflow_pods.admit(client, build(name, PROFILE_NAMESPACE))
        client.create(pod)
        tolerations = ", ".join(t.key or "*" for t in _spec(pod).tolerations or []) or "none"
        print(f"created {name:28} tolerations: {tolerations}")
    return [name for name, _ in builders]


def _untolerated(pod: Pod) -> Pod:
    _spec(pod).tolerations = [Toleration(key="example.com/gpu", operator="Exists")]
    return pod


def _spec(pod: Pod) -> PodSpec:
    assert pod.spec is not None  # A pod always has a spec.
    return pod.spec


if __name__ == "__main__":
    sys.exit(main())
