"""The placement report's outputs, each a function of a `PlacementSummary`.

`results` are the action's counts, `table` what a person reads, `document` the json/yaml report
with every node and pod, and `action_results` all of it as `report-placement` sets it. Pure: no
ops, no lightkube.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import yaml

from placement.action_results import split_report
from placement.argo_records import TABLE_FAILED_STEPS
from placement.facts import eviction_taint
from placement.request import ReportFormat
from placement.rules import Verdict, node_pool
from placement.summary import Counts, PlacementSummary
from workloads import WorkloadClass

TABLE_NAMESPACE_ROWS = 25
TABLE_NODE_NAMES = 10
"""At most this many cordoned or draining nodes are named; the rest are counted."""
POD_COLUMNS = ("name", "class", "phase", "verdict", "hours")
"""Columns of a pod row in the json/yaml report, whose pods are grouped by namespace and node."""
NODE_COLUMNS = ("name", "type", "pool", "cordoned", "eviction-taint", "evicting")
TABLE_DOOMED_PODS = 10
"""At most this many pods are named per evicting node; the rest are counted."""


def action_results(summary: PlacementSummary) -> dict[str, str | int | float]:
    """Return every result of `report-placement`: the counts and the report, split to fit Juju.

    Raises:
        ReportTooLargeError: the report does not fit in Juju's action results.

    """
    return {**results(summary), **split_report(report(summary))}


def results(summary: PlacementSummary) -> dict[str, str | int | float]:
    """Return the action results, kebab-case keys as Juju shows them."""
    total = summary.total
    verdicts = total.verdicts
    percent = total.eligible_on_spot_percent
    return {
        "summary": class_table(summary),
        "pods-total": total.pods,
        "pods-on-spot": verdicts[Verdict.ON_SPOT] + verdicts[Verdict.AT_RISK],
        "eligible-on-spot-percent": "n/a" if percent is None else round(percent, 1),
        "missed": verdicts[Verdict.MISSED],
        "at-risk": verdicts[Verdict.AT_RISK],
        "stuck": verdicts[Verdict.STUCK],
        "evictions": total.evictions,
        "spot-nodes": summary.spot_nodes,
        "on-demand-nodes": summary.on_demand_nodes,
        "savings-pod-hours": round(total.spot_hours * summary.discount, 2),
        "evicting-nodes": len(summary.evicting),
        "pods-on-evicting-nodes": sum(len(rows) for rows in summary.doomed.values()),
        "conflicts": len(summary.conflicts),
    }


def report(summary: PlacementSummary) -> str:
    """Return the `report` result in the requested format."""
    fmt = summary.request.format
    if fmt == ReportFormat.TABLE:
        return table(summary)
    return dump_document(document(summary), fmt)


def class_table(summary: PlacementSummary) -> str:
    """Return the short table: one line per class, then the total."""
    header = (
        f"{'CLASS':13} {'PODS':>5} {'ON-SPOT':>8} {'%':>4} {'MISSED':>6} {'AT-RISK':>7}"
        f" {'STUCK':>5} {'PENDING':>7} {'EVICTIONS':>9}"
    )
    lines = [header]
    for workload, counts in [*_by_class(summary), (None, summary.total)]:
        if counts.pods == 0 and counts.evictions == 0:
            continue
        percent = counts.eligible_on_spot_percent
        v = counts.verdicts
        lines.append(
            f"{workload or 'total':13} {counts.pods:>5} {v[Verdict.ON_SPOT]:>8}"
            f" {'-' if percent is None else f'{percent:.0f}':>4} {v[Verdict.MISSED]:>6}"
            f" {v[Verdict.AT_RISK]:>7} {v[Verdict.STUCK]:>5}"
            f" {v[Verdict.PENDING] + v[Verdict.NODE_GONE]:>7} {counts.evictions:>9}"
        )
    return "\n".join(lines)


def table(summary: PlacementSummary) -> str:
    """Return the full table a person reads: classes, pods needing action, namespaces."""
    nodes = (
        f"{len(summary.nodes)} nodes ({summary.spot_nodes} spot,"
        f" {summary.on_demand_nodes} on-demand)"
    )
    config = summary.config
    parts = [
        f"Placement of {summary.total.pods} pods ({summary.request.scope}) on {nodes};"
        f" profile {config.profile.name}; {config.summary()}",
        "",
        class_table(summary),
        "",
        *_needs_action_lines(summary),
        *_evicting_lines(summary),
        *_failed_step_lines(summary),
        *_conflict_lines(summary),
        *_namespace_lines(summary),
        "",
        _drain_line(summary),
        _eviction_line(summary),
        *filter(None, [summary.fallbacks.line()]),
        _savings_line(summary),
        *(f"Note: {note}" for note in summary.notes),
    ]
    return "\n".join(parts)


def _needs_action_lines(summary: PlacementSummary) -> list[str]:
    if not summary.needs_action_total:
        return []
    lines = ["NEEDS ACTION"]
    for row in summary.needs_action:
        lines.append(f"{row.verdict:8} {row.namespace}/{row.name} ({row.workload}) {row.reason}")
    more = summary.needs_action_total - len(summary.needs_action)
    if more:
        lines.append(f"… {more} more at-risk or stuck pods: format=json lists every pod")
    lines.append("")
    return lines


def _evicting_lines(summary: PlacementSummary) -> list[str]:
    if not summary.evicting:
        return []
    lines = ["EVICTING (these nodes are about to go: their pods will be lost)"]
    for node, notice in summary.evicting.items():
        doomed = summary.doomed.get(node, ())
        lines.append(f"{node}: {notice}; {len(doomed)} pod{'' if len(doomed) == 1 else 's'}")
        for row in doomed[:TABLE_DOOMED_PODS]:
            lines.append(f"  {row.namespace}/{row.name} ({row.workload}, {row.verdict})")
        if len(doomed) > TABLE_DOOMED_PODS:
            lines.append(f"  … {len(doomed) - TABLE_DOOMED_PODS} more: format=json lists them")
    lines.append("")
    return lines


def _conflict_lines(summary: PlacementSummary) -> list[str]:
    if not summary.conflicts:
        return []
    ours = _our_toleration(summary)
    lines = ["CONFLICTS (the PodDefault webhook rejects these workloads' pods)"]
    lines.extend(conflict.describe(ours) for conflict in summary.conflicts)
    lines.append("")
    return lines


def _our_toleration(summary: PlacementSummary) -> dict[str, str] | None:
    taint = summary.config.profile.taint
    return taint.toleration() if taint is not None else None


def _namespace_lines(summary: PlacementSummary) -> list[str]:
    namespaces = sorted(summary.by_namespace.items(), key=lambda item: -item[1].pods)
    lines = [
        f"{'NAMESPACE':24} {'PODS':>5} {'ON-SPOT':>8} {'MISSED':>6} {'AT-RISK':>7}"
        f" {'STUCK':>5} {'EVICTIONS':>9}"
    ]
    for namespace, counts in namespaces[:TABLE_NAMESPACE_ROWS]:
        v = counts.verdicts
        lines.append(
            f"{namespace:24} {counts.pods:>5} {v[Verdict.ON_SPOT]:>8} {v[Verdict.MISSED]:>6}"
            f" {v[Verdict.AT_RISK]:>7} {v[Verdict.STUCK]:>5} {counts.evictions:>9}"
        )
    if len(namespaces) > TABLE_NAMESPACE_ROWS:
        lines.append(f"… {len(namespaces) - TABLE_NAMESPACE_ROWS} more namespaces")
    return lines


def _drain_line(summary: PlacementSummary) -> str:
    # Evicting nodes have their own section; this line is for the other cordons and drains.
    draining = [
        f"{node.name} ({'cordoned' if node.unschedulable else eviction_taint(node)})"
        for node in summary.nodes
        if (node.unschedulable or eviction_taint(node)) and node.name not in summary.evicting
    ]
    if not draining:
        return "Nodes: none cordoned or draining" + (
            " besides the evicting ones" if summary.evicting else ""
        )
    shown = ", ".join(draining[:TABLE_NODE_NAMES])
    hidden = len(draining) - TABLE_NODE_NAMES
    more = f" and {hidden} more" if hidden > 0 else ""
    return f"Nodes cordoned or draining: {shown}{more}"


def _failed_step_lines(summary: PlacementSummary) -> list[str]:
    if not summary.failed_steps:
        return []
    lines = ["FAILED BY EVICTIONS (Argo steps whose last attempt was taken away)"]
    lines.extend(step.describe() for step in summary.failed_steps[:TABLE_FAILED_STEPS])
    more = len(summary.failed_steps) - TABLE_FAILED_STEPS
    if more > 0:
        lines.append(f"… {more} more: format=json lists them")
    lines.append("")
    return lines


def _eviction_line(summary: PlacementSummary) -> str:
    signals = ", ".join(f"{name} {count}" for name, count in sorted(summary.signals.items()))
    line = f"Evictions: {summary.total.evictions}" + (f" ({signals})" if signals else "")
    if summary.retries:
        line += f"; Argo retried {summary.retries} attempt{'' if summary.retries == 1 else 's'}"
        if summary.application_retries:
            line += (
                f", {summary.application_retries} of them after application failures"
                " (not evictions)"
            )
    return line


def _savings_line(summary: PlacementSummary) -> str:
    spot, missed, discount = summary.total.spot_hours, summary.total.missed_hours, summary.discount
    return (
        f"Savings (estimate, spot-discount {discount:g}): {spot:.1f} spot pod-hours"
        f" replaced on-demand, saving {spot * discount:.1f} on-demand pod-hours;"
        f" {missed:.1f} eligible pod-hours ran on-demand"
        f" (another {missed * discount:.1f} possible)"
    )


def document(summary: PlacementSummary) -> dict[str, object]:
    """Return the json/yaml report: every count, every node and every pod (as short rows)."""
    request, discount, total = summary.request, summary.discount, summary.total
    return {
        "scope": {
            "namespace": request.namespace,
            "selector": request.selector,
            "include-finished": request.include_finished,
        },
        "config": summary.config.summary(),
        "profile": summary.config.profile.name,
        "generated-at": summary.now.isoformat(),
        "totals": total.to_dict(discount),
        "classes": {str(w): c.to_dict(discount) for w, c in _by_class(summary)},
        "namespaces": {ns: c.to_dict(discount) for ns, c in sorted(summary.by_namespace.items())},
        "evictions": _evictions(summary),
        "fallbacks": summary.fallbacks.to_dict(),
        "notes": list(summary.notes),
        "savings": {
            "estimate": True,
            "spot-discount": discount,
            "spot-pod-hours": round(total.spot_hours, 2),
            "saved-pod-hours": round(total.spot_hours * discount, 2),
            "missed-pod-hours": round(total.missed_hours, 2),
        },
        "node-columns": list(NODE_COLUMNS),
        "nodes": _node_rows(summary),
        "evicting": {
            node: {
                "notice": notice,
                "pods": [f"{row.namespace}/{row.name}" for row in summary.doomed.get(node, ())],
            }
            for node, notice in summary.evicting.items()
        },
        "conflicts": [
            {
                "workload": f"{c.kind} {c.namespace}/{c.name}",
                "class": str(c.workload) if c.workload else "",
                "pod-default": c.pod_default,
                "toleration": dict(c.toleration) if c.toleration is not None else None,
                "seen-in": c.seen_in,
                "fix": c.describe(_our_toleration(summary)),
            }
            for c in summary.conflicts
        ],
        "needs-action": [
            {
                "pod": f"{row.namespace}/{row.name}",
                "verdict": str(row.verdict),
                "reason": row.reason,
            }
            for row in summary.needs_action
        ],
        "pod-columns": list(POD_COLUMNS),
        "pods": _pods_by_namespace_and_node(summary),
    }


def _evictions(summary: PlacementSummary) -> dict[str, object]:
    return {
        "total": summary.total.evictions,
        "signals": dict(sorted(summary.signals.items())),
        "argo-retries": summary.retries,
        "application-retries": summary.application_retries,
        "failed-steps": [step.to_dict() for step in summary.failed_steps],
    }


def _node_rows(summary: PlacementSummary) -> list[list[object]]:
    profile = summary.config.profile
    return [
        [
            node.name,
            str(summary.node_types[node.name]),
            node_pool(node, profile),
            node.unschedulable,
            eviction_taint(node),
            summary.evicting.get(node.name, ""),
        ]
        for node in summary.nodes
    ]


def _pods_by_namespace_and_node(
    summary: PlacementSummary,
) -> dict[str, dict[str, list[list[object]]]]:
    # Grouping keeps namespace and node names out of the rows: 10,000 rows must fit in
    # Juju's action results. Pods not bound to a node are under "".
    grouped: dict[str, dict[str, list[list[object]]]] = {}
    for row in summary.rows:
        grouped.setdefault(row.namespace, {}).setdefault(row.node, []).append(row.cells())
    return grouped


def _by_class(summary: PlacementSummary) -> list[tuple[WorkloadClass, Counts]]:
    order = list(WorkloadClass)
    return sorted(summary.by_class.items(), key=lambda item: order.index(item[0]))


def dump_document(document: Mapping[str, object], fmt: str) -> str:
    """Serialise the report compactly: rows of nodes and pods stay on one line each."""
    if fmt == ReportFormat.JSON:
        return json.dumps(document, separators=(",", ":"))
    return yaml.dump(dict(document), Dumper=_RowDumper, sort_keys=False, width=1 << 16)


class _RowDumper(yaml.SafeDumper):
    """Dumps lists of scalars (node and pod rows) in flow style, one row per line."""


def _represent_list(dumper: yaml.SafeDumper, value: list[object]) -> yaml.SequenceNode:
    flow = all(not isinstance(item, dict | list) for item in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_RowDumper.add_representer(list, _represent_list)
