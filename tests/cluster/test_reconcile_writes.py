"""The writes a reconcile sends, counted by the real API server's audit log.

A steady-state reconcile (every `update-status`) must write nothing, and a change must write
exactly what changed: each write is a new resourceVersion, a watch event for every controller
watching it, and on a large cluster a cost that grows with the number of profiles.
"""

from __future__ import annotations

from localcluster.seed import ARGO_CONFIGMAP, PROFILE_NAMESPACE
from tests.cluster.charm_on_cluster import poddefaults, reconcile


def _writes(audit_log, mark):
    return sorted(
        (r.verb, r.resource, r.namespace, r.name) for r in audit_log.since(mark) if r.is_write
    )


def test_a_first_reconcile_creates_each_poddefault_and_applies_the_argo_key_once(
    ctx, client, audit_log
):
    mark = audit_log.mark()

    reconcile(ctx)

    created = sorted(poddefaults(client, PROFILE_NAMESPACE))
    assert len(created) >= 2
    assert _writes(audit_log, mark) == [
        ("create", "poddefaults", PROFILE_NAMESPACE, name) for name in created
    ] + [("patch", "configmaps", "kubeflow", ARGO_CONFIGMAP)]


def test_a_no_op_reconcile_writes_nothing(ctx, audit_log):
    reconcile(ctx)
    mark = audit_log.mark()

    reconcile(ctx)

    assert _writes(audit_log, mark) == []


def test_a_change_writes_exactly_the_objects_that_change(ctx, client, audit_log):
    reconcile(ctx)
    before = set(poddefaults(client, PROFILE_NAMESPACE))
    mark = audit_log.mark()

    # Training leaves: its PodDefaults go; the hpo one is unchanged; the Argo document changes.
    reconcile(ctx, **{"spot-workloads": "pipelines,hpo", "retry-limit": 3})

    gone = sorted(before - set(poddefaults(client, PROFILE_NAMESPACE)))
    assert "kubeflow-spot-training" in gone
    assert "kubeflow-spot-hpo" not in gone
    assert _writes(audit_log, mark) == [
        ("delete", "poddefaults", PROFILE_NAMESPACE, name) for name in gone
    ] + [("patch", "configmaps", "kubeflow", ARGO_CONFIGMAP)]
