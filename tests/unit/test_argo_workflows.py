"""Evictions as Argo records them in a Workflow's status.nodes, counted once against the pods."""

from __future__ import annotations

import base64
import gzip
import json
import re
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evictions import EVICTION_MESSAGE_PATTERN, EVICTION_MESSAGES, EVICTION_SIGNALS, eviction_kind
from placement import report as output
from placement.facts import Condition, PodFacts
from placement.request import ReportRequest
from placement.tally import PlacementTally
from placement.workflows import (
    MAX_NODES_BYTES,
    Node,
    RecordedWorkflows,
    Workflow,
    fnv1a_32,
    pod_name,
    read_workflows,
    workflow_facts,
)
from tests.unit.aks_cluster import aks_nodes
from tests.unit.fake_k8s import FakeCluster
from tests.unit.shared import NOW, parse
from workloads import CONTROL_PLANE_NAMESPACES

WF = "train-x7k2p"
SPOT_NODE = "aks-spotpool-42316583-vmss000000"
EXIT_1 = "main: Error (exit code 1)"
TERMINATED = "main: Error (exit code 143)"


# --- pod names, as Argo 3.7 gives them -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [  # Argo's own vectors (ui/src/shared/pod-name.test.ts, v3.7.17)
        ("hello", 1335831723),
        ("world", 933488787),
        ("You cannot alter your fate. However, you can rise to meet it.", 827171719),
        ("こんにちは", 486186189),
        ("🚀✨🔥", 2133319838),
    ],
)
def test_the_hash_is_go_fnv1a_32(text, value):
    assert fnv1a_32(text) == value


def test_a_v2_pod_name_is_workflow_template_and_the_hash_of_the_node_name():
    node = Node(id="wf-1", name=f"{WF}.root.train(1)", templateName="train")

    assert pod_name(WF, node) == f"{WF}-train-{fnv1a_32(f'{WF}.root.train(1)')}"
    assert pod_name(WF, node, "v1") == "wf-1"


def test_a_pod_name_uses_the_referenced_template_and_cuts_a_long_prefix():
    long = "a" * 200
    node = {
        "id": "i",
        "name": "n",
        "templateName": "ignored",
        "templateRef": {"template": "b" * 100},
    }

    name = pod_name(long, msgspec.convert(node, Node))

    assert name == f"{(long + '-' + 'b' * 100)[:242]}-{fnv1a_32('n')}"
    assert pod_name(WF, Node(id=WF, name=WF)) == WF  # the Workflow's own pod (one step)


# --- the eviction messages: one home for the retry expression and the report --------------------


@pytest.mark.parametrize(
    ("phase", "message", "signal"),
    [
        ("Error", "pod deleted", "ArgoPodDeleted"),
        ("Failed", TERMINATED, "ArgoTerminated"),
        ("Failed", "main: Error (exit code 137)", "ArgoTerminated"),
        ("Failed", "main: ContainerStatusUnknown (exit code 137): The container could not"
         " be located when the pod was terminated", "ArgoTerminated"),
        ("Failed", "The node was low on resource: memory. Threshold quantity: 100Mi",
         "ArgoNodePressure"),
        ("Failed", "Pod was terminated in response to imminent node shutdown.",
         "ArgoNodeShutdown"),
        ("Failed", "Preempted in order to admit critical pod", "ArgoPreempted"),
        ("Failed", "pod failed: neither main nor wait container completed successfully",
         "ArgoPodLost"),
        ("Failed", EXIT_1, None),
        ("Failed", "main: OOMKilled (exit code 137)", None),
        ("Failed", "retryStrategy.expression evaluated to false", None),
        ("Running", "pod deleted", None),
        ("Succeeded", "", None),
    ],
)  # fmt: skip
def test_what_argo_records_tells_the_kind_of_eviction(phase, message, signal):
    assert eviction_kind(phase, message) == signal


@given(st.text(max_size=80) | st.sampled_from([p.replace(".", "(") for p, _ in EVICTION_MESSAGES]))
def test_the_report_counts_exactly_what_the_retry_expression_retries(message):
    retried = re.search(EVICTION_MESSAGE_PATTERN, message) is not None

    assert (eviction_kind("Failed", message) is not None) == retried


def test_every_signal_is_documented():
    assert {signal for _, signal in EVICTION_MESSAGES} == set(EVICTION_SIGNALS)


# --- reading a Workflow -------------------------------------------------------------------------


def pod_node(name: str, phase: str, message: str = "", template: str = "step") -> dict[str, Any]:
    return {
        "id": f"{WF}-{fnv1a_32(name)}",
        "name": name,
        "type": "Pod",
        "templateName": template,
        "phase": phase,
        "message": message,
        "inputs": {"parameters": [{"name": "big", "value": "x" * 100}]},
    }


def retried(step: str, *attempts: tuple[str, str], phase: str = "Running") -> list[dict]:
    """Return a Retry node for the step and its pod attempts, each (phase, message)."""
    path = f"{WF}{step}" if step.startswith("(") else f"{WF}.{step}"
    pods = [pod_node(f"{path}({i})", p, m) for i, (p, m) in enumerate(attempts)]
    retry = {
        "id": f"{WF}-{fnv1a_32(path)}",
        "name": path,
        "type": "Retry",
        "phase": phase,
        "message": "retryStrategy.expression evaluated to false" if phase == "Failed" else "",
        "children": [p["id"] for p in pods],
    }
    return [retry, *pods]


def manifest(*nodes: dict[str, Any], namespace: str = "admin", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": WF,
            "namespace": namespace,
            "annotations": {"workflows.argoproj.io/pod-name-format": "v2"},
        },
        "spec": {"templates": [{"name": "step", "container": {"image": "x"}}]},
        "status": {"nodes": {n["id"]: n for n in nodes}, **status},
    }


def decoded(document: dict[str, Any]) -> Workflow:
    """Decode as lightkube decodes a LIST page: JSON bytes into the view."""
    return msgspec.json.decode(json.dumps(document).encode(), type=Workflow)


def test_each_failed_attempt_is_classified_and_knows_whether_argo_retried_it():
    nodes = retried("step", ("Failed", TERMINATED), ("Error", "pod deleted"), ("Running", ""))

    facts = workflow_facts(decoded(manifest(*nodes)))

    assert [(a.pod, a.signal, a.retried) for a in facts.attempts] == [
        (pod_name(WF, decoded_node(nodes[1])), "ArgoTerminated", True),
        (pod_name(WF, decoded_node(nodes[2])), "ArgoPodDeleted", True),
    ]
    assert facts.failed_steps == ()


def decoded_node(node: dict[str, Any]) -> Node:
    return msgspec.convert(node, Node)


def test_a_step_that_failed_by_evictions_says_how_many_times():
    # Seen on Argo 3.7.17: the retried DAGs above it put their attempt into the step's path.
    nodes = retried("(0).outer(0).step", *[("Failed", TERMINATED)] * 6, phase="Failed")

    [step] = workflow_facts(decoded(manifest(*nodes))).failed_steps

    assert (step.step, step.evictions, step.attempts) == ("outer.step", 6, 6)
    assert step.message == "retryStrategy.expression evaluated to false"


def test_a_step_that_failed_by_its_own_failure_is_no_failure_by_eviction():
    nodes = retried("step", ("Failed", TERMINATED), ("Failed", EXIT_1), phase="Failed")

    facts = workflow_facts(decoded(manifest(*nodes)))

    assert facts.failed_steps == ()
    assert [a.signal for a in facts.attempts] == ["ArgoTerminated", None]


def test_dag_retry_wrappers_and_hooks_are_no_attempts():
    dag = {"id": "d", "name": f"{WF}.outer(0)", "type": "DAG", "phase": "Failed"}
    hook = pod_node(f"{WF}.outer.onExit", "Failed", TERMINATED) | {"nodeFlag": {"hooked": True}}
    wrapper = {
        "id": "w",
        "name": f"{WF}.outer",
        "type": "Retry",
        "phase": "Failed",
        "children": ["d", hook["id"]],
    }

    facts = workflow_facts(decoded(manifest(wrapper, dag, hook)))

    assert facts.failed_steps == ()
    assert [a.retried for a in facts.attempts] == [False]  # the hook's own pod, not retried


def test_compressed_nodes_read_as_the_plain_ones():
    nodes = retried("step", ("Failed", TERMINATED), ("Running", ""))
    plain = manifest(*nodes)
    packed = base64.b64encode(gzip.compress(json.dumps(plain["status"]["nodes"]).encode()))
    compressed = manifest(compressedNodes=packed.decode())
    compressed["status"]["nodes"] = {}

    assert workflow_facts(decoded(compressed)) == workflow_facts(decoded(plain))


@pytest.mark.parametrize(
    ("status", "note"),
    [
        ({"offloadNodeStatusVersion": "fnv:1"}, "offloaded to Argo's database"),
        ({"compressedNodes": "not base64!"}, "cannot be decoded"),
        (
            {"compressedNodes": base64.b64encode(gzip.compress(b" " * (MAX_NODES_BYTES + 1)))},
            "inflate to more than 64 MiB",
        ),
    ],
)
def test_nodes_that_cannot_be_read_are_a_note_not_an_error(status, note):
    document = manifest(
        **{k: v.decode() if isinstance(v, bytes) else v for k, v in status.items()}
    )
    document["status"]["nodes"] = {}

    facts = workflow_facts(decoded(document))

    assert (facts.attempts, note in facts.note) == ((), True)


# --- counting once, against the pods -------------------------------------------------------------


def tally(*workflows: dict[str, Any], pods: tuple[PodFacts, ...] = (), **params: Any):
    counting = PlacementTally(
        parse(**params.pop("config", {})),
        ReportRequest(include_finished=True, **params),
        now=NOW,
        control_plane_namespaces=CONTROL_PLANE_NAMESPACES,
        keep_rows=True,
    )
    for node in aks_nodes():
        counting.add_node(node)
    for pod in pods:
        counting.add_pod(pod)
    for workflow in workflows:
        counting.add_workflow(workflow_facts(decoded(workflow)))
    return counting.finish()


def argo_pod(node: dict[str, Any], *conditions: Condition, **labels: str) -> PodFacts:
    return PodFacts(
        "admin",
        pod_name(WF, decoded_node(node)),
        labels={"workflows.argoproj.io/workflow": WF, **labels},
        annotations={"workflows.argoproj.io/node-name": node["name"]},
        node_name=SPOT_NODE,
        phase=node["phase"],
        conditions=conditions,
    )


def test_an_eviction_argo_recorded_and_its_pod_shows_is_counted_once_by_the_pod():
    nodes = retried("step", ("Failed", "The node was low on resource: memory."), ("Running", ""))
    pressed = argo_pod(nodes[1], Condition("DisruptionTarget", "True", "TerminationByKubelet"))

    summary = tally(manifest(*nodes), pods=(pressed, argo_pod(nodes[2])))

    assert (summary.total.evictions, dict(summary.signals)) == (1, {"TerminationByKubelet": 1})
    assert summary.by_class["pipelines"].evictions == 1


def test_an_eviction_whose_pod_is_gone_is_counted_as_argo_recorded_it():
    nodes = retried("step", ("Failed", TERMINATED), ("Error", "pod deleted"), ("Succeeded", ""))

    summary = tally(manifest(*nodes), pods=(argo_pod(nodes[3]),))

    assert dict(summary.signals) == {"ArgoTerminated": 1, "ArgoPodDeleted": 1}
    assert (summary.by_namespace["admin"].evictions, summary.retries) == (2, 2)


@pytest.mark.parametrize("retry_on", ["evictions", "errors", "all"])
def test_retries_after_application_failures_are_never_evictions(retry_on):
    """set_retry (or retry-on=all) retries exit 1: five retries, no eviction."""
    nodes = retried("step", *[("Failed", EXIT_1)] * 6, phase="Failed")

    summary = tally(manifest(*nodes), config={"retry_on": retry_on})

    assert (summary.total.evictions, summary.retries, summary.application_retries) == (0, 5, 5)
    assert summary.failed_steps == ()
    assert "Argo retried 5 attempts, 5 of them after application failures" in output.table(summary)


def test_a_step_failed_by_evictions_is_named_in_the_table_and_the_document():
    nodes = retried("outer.step", *[("Failed", TERMINATED)] * 6, phase="Failed")

    summary = tally(manifest(*nodes))

    assert "admin/train-x7k2p step outer.step: failed, evicted 6 times in 6 attempts" in (
        output.table(summary)
    )
    [row] = output.document(summary)["evictions"]["failed-steps"]
    assert (row["workflow"], row["evictions"], row["attempts"]) == (f"admin/{WF}", 6, 6)


def test_with_a_selector_only_workflows_of_selected_pods_count():
    ours = retried("step", ("Failed", TERMINATED), ("Running", ""))
    theirs = manifest(*retried("step", ("Error", "pod deleted")), namespace="team-b")
    pods = (argo_pod(ours[2], team="a"),)

    summary = tally(manifest(*ours), theirs, pods=pods, selector="team=a")

    assert dict(summary.signals) == {"ArgoTerminated": 1}


# --- reading the Workflows from the API ---------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "note"), [(404, "are not installed"), (403, "listing Argo Workflows is forbidden")]
)
def test_workflows_missing_or_forbidden_are_a_note(code, note):
    cluster, sink = FakeCluster(fail={("list", "Workflow"): code}), RecordedWorkflows()

    read_workflows(cluster, "admin", sink)  # type: ignore[arg-type]

    assert (sink.workflows, len(sink.notes), note in sink.notes[0]) == ([], 1, True)


def test_other_api_errors_reading_workflows_are_raised():
    cluster = FakeCluster(fail={("list", "Workflow"): 500})

    with pytest.raises(Exception, match="500"):
        read_workflows(cluster, "", RecordedWorkflows())  # type: ignore[arg-type]


def test_workflows_are_read_in_the_namespace_and_their_notes_passed_on():
    cluster, sink = FakeCluster(), RecordedWorkflows()
    cluster.add("Workflow", manifest(*retried("step", ("Error", "pod deleted"))))
    offloaded = manifest(offloadNodeStatusVersion="v1") | {
        "metadata": {"name": "big", "namespace": "admin"}
    }
    cluster.add("Workflow", offloaded)
    cluster.add("Workflow", manifest(namespace="other"))

    read_workflows(cluster, "admin", sink)  # type: ignore[arg-type]

    assert sorted(w.name for w in sink.workflows) == ["big", WF]
    assert sink.notes == [
        "Workflow admin/big: its nodes are offloaded to Argo's database, so evictions Argo"
        " recorded in it are not counted"
    ]


def test_a_workflow_the_view_cannot_read_is_a_note_not_a_traceback():
    cluster, sink = FakeCluster(), RecordedWorkflows()
    broken = manifest(*retried("step", ("Error", "pod deleted")))
    next(iter(broken["status"]["nodes"].values()))["children"] = "not-a-list"
    cluster.add("Workflow", broken)

    read_workflows(cluster, "admin", sink)  # type: ignore[arg-type]

    assert sink.workflows == []
    assert sink.notes[0].startswith("Argo Workflows could not be read (Expected `array | null`")
