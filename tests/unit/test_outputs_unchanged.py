"""`show-defaults` and `report-placement` print exactly what they printed before the refactor.

The files under golden/ were written by the code of main before issue 10's refactor (commit
d4c18d5), from the unit fixtures below, and rewritten once by issue 14, whose features change
these outputs (the trainjob PodDefault, the exclusions in every selector, show-defaults' notes,
the EVICTING section, the evicting node column and the new counts), once by issue 16, whose
report counts the evictions Argo recorded in the fixture's Workflow (`ArgoTerminated` in place
of the guessed `ArgoRetry`; the eviction is counted under retry-on=errors too) and adds Argo's
retries, the steps failed by evictions and the notes, and once by issue 12 (spot-fallback-after:
its option in every summary, show-defaults' notes, the defaults' new templateDefaults and the
report's fallbacks); nothing in the repository rewrites them. Each
output is compared with its file character for character, so a refactor that changes one byte
of an output, a key, a number's type or the order of keys fails here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from localcluster.charm_context import charm_context
from placement.action_results import split_report
from placement.report import action_results, report
from placement.request import ReportRequest
from placement.tally import PlacementTally
from spot_config import SpotConfig
from tests.unit.aks_cluster import aks_nodes, aks_pods, aks_workflows
from tests.unit.shared import MODEL, NOW, kfp_step, leader_state, parse
from workloads import CONTROL_PLANE_NAMESPACES

GOLDEN = Path(__file__).parent / "golden"

SHOW_DEFAULTS_CONFIGS: dict[str, dict[str, object]] = {
    "default": {},
    "gke-prefer-errors-argo34": {
        "spot-profile": "gke",
        "spot-placement": "prefer",
        "spot-workloads": "pipelines,batch",
        "retry-on": "errors",
        "retry-backoff-factor": 2,
        "retry-max-duration": "2h",
        "argo-version": "3.4",
    },
    "eks-tolerate-all": {
        "spot-profile": "eks",
        "spot-placement": "tolerate",
        "retry-on": "all",
        "spot-workloads": "training,hpo,batch",
    },
    "no-retry-withdrawn": {"retry-limit": 0, "pod-defaults-delivery": "resource-dispatcher"},
}


def show_defaults(config: dict[str, object], fmt: str) -> str:
    ctx = charm_context()
    ctx.run(ctx.on.action("show-defaults", params={"format": fmt}), leader_state(**config))
    return json.dumps(ctx.action_results, indent=2, ensure_ascii=False) + "\n"


def _report(pods: list | None = None, config: SpotConfig | None = None, **params: object):
    request = ReportRequest(**params)  # type: ignore[arg-type]
    tally = PlacementTally(
        config or parse(),
        request,
        now=NOW,
        control_plane_namespaces=CONTROL_PLANE_NAMESPACES | {MODEL},
    )
    for node in aks_nodes():
        tally.add_node(node)
    for pod in aks_pods().values() if pods is None else pods:
        tally.add_pod(pod)
    for workflow in aks_workflows() if pods is None else ():
        tally.add_workflow(workflow)
    return tally.finish()


def report_results(**params: object) -> str:
    """Return every action result, `report` (split) included, as the action sets them."""
    results = action_results(_report(**params))
    return json.dumps(results, indent=2, ensure_ascii=False) + "\n"


def report_text(config: SpotConfig | None = None, **params: object) -> str:
    return report(_report(config=config, **params))


def split_digest(fmt: str) -> str:
    """Return each part of a report too long for one result: its key, length and sha256."""
    finished = _report(pods=[kfp_step(i) for i in range(3_000)], format=fmt)
    parts = {
        key: value
        if key == "report-parts"
        else {"chars": len(str(value)), "sha256": hashlib.sha256(str(value).encode()).hexdigest()}
        for key, value in split_report(report(finished)).items()
    }
    return json.dumps(parts, indent=2) + "\n"


CASES: dict[str, Callable[[], str]] = {
    **{
        f"show-defaults.{name}.{fmt}.json": (lambda c=config, f=fmt: show_defaults(c, f))
        for name, config in SHOW_DEFAULTS_CONFIGS.items()
        for fmt in ("yaml", "json")
    },
    "report-placement.table.txt": lambda: report_text(),
    "report-placement.table-finished.txt": lambda: report_text(
        include_finished=True, spot_discount=0.9
    ),
    "report-placement.table-retry-on-errors.txt": lambda: report_text(
        config=parse(retry_on="errors"), include_finished=True
    ),
    "report-placement.json": lambda: report_text(format="json"),
    "report-placement.yaml": lambda: report_text(format="yaml"),
    "report-placement.admin-notebooks.json": lambda: report_text(
        format="json", namespace="admin", selector="notebook-name", include_finished=True
    ),
    "report-placement.results.table.json": lambda: report_results(),
    "report-placement.results.json.json": lambda: report_results(format="json"),
    "report-placement.results.yaml.json": lambda: report_results(format="yaml"),
    "report-placement.split.json.json": lambda: split_digest("json"),
    "report-placement.split.yaml.json": lambda: split_digest("yaml"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_output_is_byte_identical_to_before_the_refactor(name):
    assert CASES[name]() == (GOLDEN / name).read_text(encoding="utf-8")


def test_every_golden_file_is_compared():
    assert sorted(path.name for path in GOLDEN.iterdir()) == sorted(CASES)
