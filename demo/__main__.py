"""`make demo`: a pipeline survives a spot eviction, on a local cluster shaped like CKF on AKS.

A real etcd, kube-apiserver and kube-scheduler run on loopback, with Argo's real
workflow-controller, kube-controller-manager and kwok as every node's kubelet; the Juju model
around the charm is simulated with ops.testing. The demo deploys the charm with its default
config, prints what `juju status` and `juju run kubeflow-spot/0 show-defaults` would show,
creates Kubeflow-like pods in the `admin` profile, then runs the seed guide's pipeline with
`set_retry` (compiled by the KFP v1 SDK) on spot, reclaims the spot node under its first step,
and prints what `juju run kubeflow-spot/0 report-placement` then reports.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from subprocess import CalledProcessError
from typing import Any

import yaml
from lightkube import Client
from ops import testing

from charm import KubeflowSpotCharm
from demo import eviction, workloads
from localcluster import e2e, kfp_v1
from localcluster.charm_context import APP, charm_context
from localcluster.harness import ControlPlane, ControlPlaneError, hold
from localcluster.seed import KUBEFLOW_NAMESPACE, PROFILE_NAMESPACE
from placement.action_results import join_report

BEGAN = time.monotonic()


def say(text: str) -> None:
    """Print a progress line, with the seconds since the demo began."""
    print(f"[{time.monotonic() - BEGAN:5.1f}s] {text}", flush=True)


def heading(text: str) -> None:
    """Print a section heading."""
    print(f"\n== {text} ==", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; with --keep, leave the cluster up until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the cluster up until Ctrl-C")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="kubeflow-spot-demo-") as output:
            # The SDK compiles while the cluster starts.
            compiling = kfp_v1.start_compile(Path(output))
            with contextlib.ExitStack() as stack:
                stack.callback(_stop, compiling)
                plane = stack.enter_context(ControlPlane())
                say(
                    f"control plane up in {plane.startup_seconds:.1f} s (etcd, kube-apiserver,"
                    " kube-scheduler, built from Go modules)"
                )
                with plane.client(field_manager="kubeflow-spot-demo") as client:
                    cluster = e2e.start_e2e(plane, client)
                    say(
                        "kwok (one per spot node, one for the on-demand pool),"
                        " kube-controller-manager and Argo's workflow-controller up"
                    )
                    pipelines = kfp_v1.compiled(compiling, Path(output))
                    with e2e.TaskResultPlayer(client, PROFILE_NAMESPACE):
                        run(client, cluster, pipelines)
                if args.keep:
                    hold(plane)
    except (ControlPlaneError, FileNotFoundError, TimeoutError, CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped")
    return 0


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the KFP SDK's compile if it is still running (the cluster did not start)."""
    if process.poll() is None:
        process.kill()
    process.wait()


def run(client: Client, cluster: e2e.E2ECluster, pipelines: dict[str, dict[str, Any]]) -> None:
    """Deploy the charm, create workloads, survive an eviction, report where everything ran."""
    ctx = charm_context()
    # The charm's one Kubernetes seam, pointed at the real API server.
    KubeflowSpotCharm.lightkube_client = lambda self: client  # type: ignore[method-assign]
    state = testing.State(leader=True, model=testing.Model(name=KUBEFLOW_NAMESPACE))

    heading("juju deploy kubeflow-spot --trust  (default config)")
    reloads = e2e.config_reloads(cluster)
    state = ctx.run(ctx.on.install(), state)
    print(f"kubeflow-spot/0  {state.unit_status.name}  {state.unit_status.message}")
    e2e.wait_config_reloaded(cluster, reloads)
    say("Argo's workflow-controller loaded the charm's workflowDefaults")

    heading("juju run kubeflow-spot/0 show-defaults")
    ctx.run(ctx.on.action("show-defaults"), state)
    results = ctx.action_results or {}
    print(f"summary: {results['summary']}\nnotes:")
    for note in results["notes"].splitlines():
        print(f"  - {note}")
    argo = yaml.safe_load(results["defaults"])["argo"]
    print(f"\n{argo['configMap']} key {argo['key']}:\n{argo['value']}")

    heading(f"Kubeflow workloads created in namespace {PROFILE_NAMESPACE} (kwok runs them)")
    workloads.create_all(client, yaml.safe_load(argo["value"]), say)

    heading("the seed guide's pipeline with set_retry, compiled by the KFP v1 SDK 1.8.22")
    manifest = eviction.prepare(pipelines)
    for line in eviction.describe(manifest):
        print(line)
    print(
        f"(the guide's set_retry backoff 5m is {eviction.SET_RETRY_BACKOFF} here: Argo waits it"
        " before it retries, and the demo should not take 5 minutes)"
    )
    pipeline = eviction.run(client, manifest, say)
    print(f"\nwhat Argo recorded:\n{eviction.attempts_table(pipeline.status)}")

    heading(
        f"juju run {APP}/0 report-placement namespace={PROFILE_NAMESPACE} include-finished=true"
    )
    params = {"namespace": PROFILE_NAMESPACE, "include-finished": True}
    ctx.run(ctx.on.action("report-placement", params=params), state)
    print((ctx.action_results or {})["report"])
    print_json_figures(ctx, params, state)


def print_json_figures(
    ctx: testing.Context[KubeflowSpotCharm], params: dict[str, Any], state: testing.State
) -> None:
    """Print the report's json figures: pod classes and verdicts, evictions, savings."""
    heading("... format=json: every pod, and the figures the table rounds to 0.1 pod-hours")
    ctx.run(ctx.on.action("report-placement", params={**params, "format": "json"}), state)
    document = json.loads(join_report(ctx.action_results or {}))
    print(f"{'POD':46} {'CLASS':10} {'NODE':16} {'PHASE':10} {'VERDICT':8} HOURS")
    for nodes in document["pods"].values():
        for node, rows in nodes.items():
            for name, workload, phase, verdict, hours in rows:
                print(
                    f"{name:46} {workload:10} {node or '(none)':16} {phase:10} {verdict:8} {hours}"
                )
    pipelines = document["classes"].get("pipelines", {})
    print(f"\nevictions: {json.dumps(document['evictions'])}")
    print(f"pipelines: {json.dumps(pipelines)}")
    print(f"savings: {json.dumps(document['savings'])}")
    print(
        "\nThe notebook and the model server stay on on-demand nodes (the notebook waits for"
        " capacity rather than land on a node that can vanish); training and hpo pods tolerate"
        " spot and use it when on-demand is full; the pipeline survived the eviction."
    )


if __name__ == "__main__":
    sys.exit(main())
