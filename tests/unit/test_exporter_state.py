"""The exporter's watched placement: any stream of watch events counts what the report counts."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from exporter.config import ExporterConfig
from exporter.state import REPORT_REQUEST, WatchedPlacement
from placement import report as output
from placement.facts import Condition, NodeFacts, PodFacts
from placement.tally import PlacementTally
from placement.workflows import ArgoAttempt, WorkflowFacts
from tests.unit.aks_cluster import REPORTED_COUNTS, aks_nodes, aks_pods
from tests.unit.shared import NOW, parse

EVICTED = Condition("DisruptionTarget", "True", "EvictionByEvictionAPI")
PODS = aks_pods()
NODES = {node.name: node for node in aks_nodes()}
SPOT_NODE = "aks-spotpool-42316583-vmss000000"
SPOT_LABELS = ("kubernetes.azure.com/scalesetpriority", "kubernetes.azure.com/priority")


def on_demand(node: NodeFacts) -> NodeFacts:
    """Return the node relabelled and untainted: no longer a spot node."""
    labels = {k: v for k, v in node.labels.items() if k not in SPOT_LABELS}
    return replace(node, labels=labels, taint_keys=())


ON_DEMAND_NODE = "aks-agentpool-31207962-vmss000000"


def watched(config: ExporterConfig | None = None) -> WatchedPlacement:
    placement = WatchedPlacement(config or ExporterConfig(parse()), NOW)
    placement.replace_nodes(NODES.values(), NOW)
    return placement


IRIS_POD = "iris-training-x2k9p-system-container-impl-1460093417"


def attempt(pod: str, signal: str | None = "ArgoPodDeleted") -> ArgoAttempt:
    return ArgoAttempt(pod, "Failed" if signal else "Error", "pod deleted", signal, retried=True)


WORKFLOWS = {
    # Its first attempt's pod is visible (and may show its own eviction); an application retry.
    "iris-training-x2k9p": (
        WorkflowFacts("admin", "iris-training-x2k9p", (attempt(IRIS_POD),)),
        WorkflowFacts(
            "admin",
            "iris-training-x2k9p",
            (attempt(IRIS_POD), attempt("iris-training-x2k9p-impl-7", None)),
        ),
    ),
    # Its evicted attempts' pods are gone (Argo's pod GC), only the Workflow records them.
    "gone-wf": (
        WorkflowFacts("data-science", "gone-wf", (attempt("gone-wf-a-1"),)),
        WorkflowFacts(
            "data-science",
            "gone-wf",
            (attempt("gone-wf-a-1"), attempt("gone-wf-a-2", "ArgoEvicted")),
        ),
    ),
}


def report_results(
    nodes: list[NodeFacts],
    pods: list[PodFacts],
    config: ExporterConfig,
    workflows: list[WorkflowFacts] = (),  # type: ignore[assignment]
) -> dict[str, object]:
    """Return report-placement's results for these nodes, pods and Workflows (its own tally)."""
    tally = PlacementTally(
        config.spot,
        REPORT_REQUEST,
        now=NOW,
        control_plane_namespaces=config.control_plane_namespaces,
    )
    for node in nodes:
        tally.add_node(node)
    for pod in pods:
        tally.add_pod(pod)
    for workflow in workflows:
        tally.add_workflow(workflow)
    results = output.results(tally.finish())
    results.pop("summary")
    results.pop("savings-pod-hours")
    return results


def results_from_metrics(placement: WatchedPlacement) -> dict[str, object]:
    """Return the same results, worked out from the exported counts only."""
    samples = placement.snapshot(NOW)
    verdicts: Counter[str] = Counter()
    for (_, _, verdict), count in samples.pods.items():
        verdicts[verdict] += count
    on_spot, missed = verdicts["on-spot"], verdicts["missed"]
    nodes: Counter[str] = Counter()
    for (capacity, _, state), count in samples.nodes.items():
        nodes[capacity] += count
        nodes[state] += count
    return {
        "pods-total": sum(verdicts.values()),
        "pods-on-spot": on_spot + verdicts["at-risk"],
        "eligible-on-spot-percent": "n/a"
        if on_spot + missed == 0
        else round(100 * on_spot / (on_spot + missed), 1),
        "missed": missed,
        "at-risk": verdicts["at-risk"],
        "stuck": verdicts["stuck"],
        "evictions": sum(samples.evicted_pods.values()),
        "spot-nodes": nodes["spot"],
        "on-demand-nodes": nodes["on-demand"],
        "evicting-nodes": nodes["evicting"],
        "pods-on-evicting-nodes": results_pods_on_evicting(placement),
        "conflicts": 0,
    }


def results_pods_on_evicting(placement: WatchedPlacement) -> int:
    return output.results(placement._tally.finish())["pods-on-evicting-nodes"]  # type: ignore[return-value]


def test_the_fixture_cluster_exports_the_reports_counts():
    placement = watched()
    placement.replace_pods(PODS.values(), NOW)
    workflows = [versions[1] for versions in WORKFLOWS.values()]
    placement.replace_workflows(workflows)

    expected = report_results(
        list(NODES.values()), list(PODS.values()), placement.config, workflows
    )
    assert results_from_metrics(placement) == expected
    # 1 pod shows its eviction; Argo recorded 3 more (its application retry is none).
    assert (expected["pods-total"], expected["evictions"]) == (REPORTED_COUNTS["pods-total"], 4)


def test_a_deleted_evicted_pod_leaves_the_gauge_and_stays_in_the_counter():
    placement = watched()
    placement.put_pod(PODS["resnet-ddp-worker-1"], NOW)
    labels = ("data-science", "training", "EvictionByEvictionAPI")
    assert placement.snapshot(NOW).evicted_pods == {labels: 1}

    placement.remove_pod("data-science", "resnet-ddp-worker-1", NOW)
    placement.put_pod(replace(PODS["resnet-ddp-worker-1"], conditions=(EVICTED,)), NOW)
    placement.put_pod(replace(PODS["resnet-ddp-worker-1"], conditions=(EVICTED,)), NOW)
    placement.remove_pod("data-science", "resnet-ddp-worker-1", NOW)
    samples = placement.snapshot(NOW)

    assert samples.evicted_pods == {}
    assert samples.evictions_total == {labels: 2}  # the pod came back, was evicted again


def test_pod_hours_count_only_hours_run_while_watched_on_the_nodes_capacity():
    placement = watched()
    notebook = PODS["lab-0"]  # running on spot for a day already when first seen
    step = replace(PODS["mnist-ddp-worker-0"], started=NOW)  # starts on on-demand now
    placement.put_pod(notebook, NOW)
    placement.put_pod(step, NOW)
    later = NOW + timedelta(hours=2)
    placement.put_pod(replace(step, phase="Succeeded", finished=NOW + timedelta(hours=1)), later)
    samples = placement.snapshot(later)

    assert samples.pod_hours_total == {("notebooks", "spot"): 2.0, ("training", "on-demand"): 1.0}


def test_a_node_daemonset_pod_adds_no_spot_hours():
    placement = watched()
    placement.put_pod(PODS["kube-proxy-8xk2p"], NOW)

    assert placement.snapshot(NOW + timedelta(hours=3)).pod_hours_total == {}


def test_pods_of_a_deleted_node_are_node_gone_until_it_comes_back():
    placement = watched()
    placement.put_pod(PODS["lab-0"], NOW)
    node = PODS["lab-0"].node_name

    placement.remove_node(node, NOW)
    gone = placement.snapshot(NOW).pods
    placement.put_node(NODES[node], NOW)

    assert gone == {("admin", "notebooks", "node-gone"): 1}
    assert placement.snapshot(NOW).pods == {("admin", "notebooks", "at-risk"): 1}


def test_a_node_that_changes_type_has_its_pods_judged_again():
    placement = watched()
    placement.put_pod(PODS["lab-0"], NOW)

    placement.put_node(on_demand(NODES[PODS["lab-0"].node_name]), NOW)

    assert placement.snapshot(NOW).pods == {("admin", "notebooks", "ok"): 1}


def test_a_pod_seen_before_its_node_is_judged_again_when_the_node_arrives():
    placement = WatchedPlacement(ExporterConfig(parse()), NOW)
    placement.put_pod(PODS["lab-0"], NOW)
    placement.replace_nodes(NODES.values(), NOW)

    assert placement.snapshot(NOW).pods == {("admin", "notebooks", "at-risk"): 1}


def test_a_new_config_judges_every_pod_again():
    placement = watched()
    placement.put_pod(PODS["mnist-ddp-worker-0"], NOW)  # training, on on-demand
    missed = placement.snapshot(NOW).pods

    placement.set_config(ExporterConfig(parse(**{"spot-workloads": "pipelines"})), NOW)

    assert missed == {("data-science", "training", "missed"): 1}
    assert placement.snapshot(NOW).pods == {("data-science", "training", "ok"): 1}


def test_argo_recorded_evictions_count_once_and_stay_counted_when_deleted():
    placement = watched()
    placement.put_pod(PODS[IRIS_POD], NOW)
    placement.put_workflow(WORKFLOWS["iris-training-x2k9p"][1])
    first = placement.snapshot(NOW)

    placement.put_pod(replace(PODS[IRIS_POD], phase="Failed", conditions=(EVICTED,)), NOW)
    shown = placement.snapshot(NOW)  # the pod shows it now: its own signal, the same eviction
    placement.remove_workflow("admin", "iris-training-x2k9p")
    placement.remove_pod("admin", IRIS_POD, NOW)
    gone = placement.snapshot(NOW)

    argo = ("admin", "pipelines", "ArgoPodDeleted")
    own = ("admin", "pipelines", "EvictionByEvictionAPI")
    assert first.evicted_pods == {argo: 1}  # the application retry is no eviction
    assert shown.evicted_pods == {own: 1}
    assert gone.evicted_pods == {}
    assert first.evictions_total == shown.evictions_total == gone.evictions_total == {argo: 1}


def test_a_modified_workflow_counts_only_its_new_evictions():
    placement = watched()
    placement.put_workflow(WORKFLOWS["gone-wf"][0])
    placement.put_workflow(WORKFLOWS["gone-wf"][1])
    placement.put_workflow(WORKFLOWS["gone-wf"][1])
    samples = placement.snapshot(NOW)

    assert (
        samples.evicted_pods
        == samples.evictions_total
        == {
            ("data-science", "pipelines", "ArgoPodDeleted"): 1,
            ("data-science", "pipelines", "ArgoEvicted"): 1,
        }
    )


_NAMES = sorted(PODS)
_event = st.one_of(
    st.tuples(
        st.sampled_from(["add", "evict", "finish", "move", "delete"]), st.sampled_from(_NAMES)
    ),
    st.tuples(st.just("node-delete"), st.sampled_from(sorted(NODES))),
    st.tuples(st.sampled_from(["node-add", "node-on-demand"]), st.sampled_from(sorted(NODES))),
    st.tuples(st.just("relist"), st.frozensets(st.sampled_from(_NAMES))),
    st.tuples(st.just("config"), st.sampled_from(["pipelines,training,hpo", "pipelines", ""])),
    st.tuples(
        st.just("wf-put"), st.tuples(st.sampled_from(sorted(WORKFLOWS)), st.sampled_from([0, 1]))
    ),
    st.tuples(st.just("wf-delete"), st.sampled_from(sorted(WORKFLOWS))),
    st.tuples(st.just("wf-relist"), st.frozensets(st.sampled_from(sorted(WORKFLOWS)))),
)


def _apply_workflow(placement: WatchedPlacement, event: tuple[str, object], held) -> None:
    kind, what = event
    if kind == "wf-put":
        name, version = what  # type: ignore[misc]
        placement.put_workflow(WORKFLOWS[name][version])
        held[name] = WORKFLOWS[name][version]
    elif kind == "wf-delete":
        placement.remove_workflow(WORKFLOWS[str(what)][0].namespace, str(what))
        held.pop(what, None)
    else:
        kept = [held.get(name, WORKFLOWS[name][0]) for name in sorted(what)]  # type: ignore[call-overload]
        placement.replace_workflows(kept)
        held.clear()
        held.update({wf.name: wf for wf in kept})


def _apply(placement: WatchedPlacement, event: tuple[str, object], survivors, nodes) -> None:
    kind, what = event
    if kind == "node-delete":
        placement.remove_node(str(what), NOW)
        nodes.pop(what, None)
    elif kind in ("node-add", "node-on-demand"):
        node = NODES[str(what)]
        if kind == "node-on-demand":
            node = on_demand(node)
        placement.put_node(node, NOW)
        nodes[str(what)] = node
    elif kind == "relist":
        kept = [survivors.get(name, PODS[name]) for name in sorted(what)]  # type: ignore[call-overload]
        placement.replace_pods(kept, NOW)
        survivors.clear()
        survivors.update({pod.name: pod for pod in kept})
    elif kind == "config":
        placement.set_config(ExporterConfig(parse(**{"spot-workloads": what})), NOW)
    elif kind == "delete":
        placement.remove_pod(PODS[str(what)].namespace, str(what), NOW)
        survivors.pop(what, None)
    else:
        pod = survivors.get(str(what), PODS[str(what)])
        pod = {
            "add": PODS[str(what)],
            "evict": replace(pod, conditions=(EVICTED,)),
            "finish": replace(pod, phase="Succeeded"),
            "move": replace(pod, node_name=ON_DEMAND_NODE),
        }[kind]
        placement.put_pod(pod, NOW)
        survivors[pod.name] = pod


@settings(max_examples=200, deadline=None)
@given(events=st.lists(_event, max_size=40))
def test_any_stream_of_watch_events_exports_what_a_fresh_read_of_the_survivors_does(events):
    placement = watched()
    survivors: dict[str, PodFacts] = {}
    held: dict[str, WorkflowFacts] = {}
    nodes = dict(NODES)
    totals: list[Counter[tuple[str, str, str]]] = []
    for event in events:
        if event[0].startswith("wf-"):
            _apply_workflow(placement, event, held)
        else:
            _apply(placement, event, survivors, nodes)
        totals.append(Counter(placement.snapshot(NOW).evictions_total))

    fresh = WatchedPlacement(placement.config, NOW)
    fresh.replace_nodes(nodes.values(), NOW)
    fresh.replace_pods(survivors.values(), NOW)
    fresh.replace_workflows(held.values())
    mine, theirs = placement.snapshot(NOW), fresh.snapshot(NOW)
    assert (mine.pods, mine.evicted_pods, mine.nodes) == (
        theirs.pods,
        theirs.evicted_pods,
        theirs.nodes,
    )
    assert results_from_metrics(placement) == report_results(
        list(nodes.values()), list(survivors.values()), placement.config, list(held.values())
    )
    # The counter never goes down, and has counted every eviction the gauge shows now (by the
    # signal first seen: Argo's record, or the pod's own).
    assert all(not (before - after) for before, after in zip(totals, totals[1:], strict=False))
    assert sum(mine.evicted_pods.values()) <= sum(mine.evictions_total.values())
