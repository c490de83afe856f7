#!/usr/bin/env python3
# Copyright 2026 Canonical Ltd.
# See LICENSE file for licensing details.

"""Juju glue for kubeflow-spot: events in, one reconcile, status from one collect-status handler.

Config parsing lives in `spot_config`, rendering in `render`, every cluster write in `applier`,
the delivery decision in `delivery`, the actions' outputs in `show_defaults` and `placement`;
this module only wires them to Juju events.

Only ops, the relation requirer, the exporter's glue, the message bounds and the deadline (none
imports lightkube) are imported when a hook starts; each handler imports the rest where it
needs it. Most hooks of most units are no-ops (a non-leader's update-status), and importing
lightkube, jinja2 and the renderer cost every hook about 0.1 s, doubling a no-op dispatch
(issue 13; `make bench-charm` compares it with `import ops`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

import ops

from deadline import ACTION_DEADLINE_SECONDS, Deadline, DeadlineClient, DeadlineExceededError
from manifests_requirer import ManifestsRequirer
from messages import bounded
from observability import Observability
from standby import StandbyStatus

if TYPE_CHECKING:
    from lightkube import Client

    from applier import ApplyOutcome, SpotDefaultsApplier
    from conflicts import Conflict
    from delivery import DeliveryPlan
    from render import RenderedDefaults
    from spot_config import SpotConfig

logger = logging.getLogger(__name__)
HTTP_LOGGERS = ("httpx2", "httpcore2", "lightkube")
"""Loggers of the HTTP stack, which log every request (httpcore about 11 records at DEBUG)."""

CONFLICTS_DEADLINE = 10.0
"""Seconds the reconcile's look for toleration conflicts may take, after the applier's."""
POD_DEFAULTS_RELATION = "pod-defaults"
"""Relation to resource-dispatcher (interface kubernetes_manifest); must match charmcraft.yaml."""
EXPORTER = "exporter"
"""The exporter's workload container; must match charmcraft.yaml and workload_layer.CONTAINER."""


class KubeflowSpotCharm(ops.CharmBase):
    """Applies spot PodDefaults and Argo workflow defaults for Charmed Kubeflow."""

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        _log_sparingly()
        # Set by a reconcile in this dispatch; collect-status reports it.
        self._outcome: ApplyOutcome | None = None
        self._plan: DeliveryPlan | None = None
        self._conflicts: list[Conflict] = []
        self._dispatcher = ManifestsRequirer(self, POD_DEFAULTS_RELATION)
        self._observability = Observability(self)
        self._standby = StandbyStatus(self)
        for event in (
            self.on.install,
            self.on.config_changed,
            self.on.upgrade_charm,
            self.on.leader_elected,
            self.on.update_status,
            self.on[POD_DEFAULTS_RELATION].relation_created,
            # The exporter's state is in the status, which only a reconcile's dispatch sets.
            self.on[EXPORTER].pebble_ready,
            self.on[EXPORTER].pebble_check_failed,
            self.on[EXPORTER].pebble_check_recovered,
        ):
            framework.observe(event, self._reconcile)
        framework.observe(
            self.on[POD_DEFAULTS_RELATION].relation_broken, self._on_dispatcher_relation_broken
        )
        framework.observe(self.on.remove, self._on_remove)
        framework.observe(self.on.collect_unit_status, self._on_collect_unit_status)
        framework.observe(self.on.show_defaults_action, self._on_show_defaults_action)
        framework.observe(self.on.report_placement_action, self._on_report_placement_action)

    def lightkube_client(self) -> Client:
        """Return a client for the cluster the charm runs in; tests replace this seam."""
        from lightkube import Client

        from identity import MANAGER

        return Client(namespace=self.model.name, field_manager=MANAGER)

    def _action_client(self) -> Client:
        """Return the client for one action, its requests held to the action's deadline."""
        deadline = Deadline(ACTION_DEADLINE_SECONDS)
        return cast("Client", DeadlineClient(self.lightkube_client(), deadline))

    def _applier(self) -> SpotDefaultsApplier:
        from applier import SpotDefaultsApplier

        return SpotDefaultsApplier(
            self.lightkube_client, app=self.app.name, namespace=self.model.name
        )

    def _reconcile(self, _: ops.EventBase) -> None:
        if not self.unit.is_leader():
            return  # Only the leader writes; collect-status reports the standby.
        from spot_config import ConfigError, parse_config

        try:
            config = parse_config(self.config)
        except ConfigError:
            return  # Nothing is written with invalid config; collect-status says why.
        from render import render

        rendered = render(config, app=self.app.name)
        plan = self._delivery_plan(config, rendered)
        if plan.sent_to_dispatcher is not None:
            self._dispatcher.send(plan.sent_to_dispatcher)
        # Not delivered directly means none of ours directly: the applier prunes them.
        self._outcome = self._applier().apply(
            plan.applied_directly, rendered.workflow_defaults, config.argo_configmap
        )
        self._plan = plan
        if not self._outcome.waiting:  # The API is slow or away: looking further only delays.
            self._conflicts = self._find_conflicts(config)

    def _find_conflicts(self, config: SpotConfig) -> list[Conflict]:
        """Return the workloads our PodDefaults stop from starting (Jobs and FailedCreate events).

        A failed read leaves the status to what was applied: it is logged, not reported.
        """
        from conflicts import charged_pod_defaults
        from identity import API_ERRORS, api_problem
        from placement.conflict_lists import read_conflicts

        pod_defaults = charged_pod_defaults(config, self.app.name)
        # Its own short deadline: a slow API server must not hold the hook past the reconcile's.
        try:
            client = DeadlineClient(self.lightkube_client(), Deadline(CONFLICTS_DEADLINE))
            return read_conflicts(cast("Client", client), "", pod_defaults, every_kind=False)
        except API_ERRORS as error:
            logger.warning(
                "could not look for toleration conflicts: %s",
                api_problem(error, self.app.name).message,
            )
        except DeadlineExceededError as error:
            logger.warning("could not look for toleration conflicts: %s", error)
        return []

    def _on_dispatcher_relation_broken(self, event: ops.RelationBrokenEvent) -> None:
        if self.app.planned_units() == 0:
            return  # The application is going away: restoring direct PodDefaults is wasted work.
        # The relation being broken is already gone from the model: the reconcile sees the
        # charm unrelated and returns to direct delivery (or withdraws).
        self._reconcile(event)

    def _delivery_plan(self, config: SpotConfig, rendered: RenderedDefaults) -> DeliveryPlan:
        from delivery import plan_delivery

        return plan_delivery(
            config.pod_defaults_delivery,
            related=self._dispatcher.related,
            pod_defaults=rendered.pod_defaults,
        )

    def _on_remove(self, _: ops.RemoveEvent) -> None:
        if self.app.planned_units() > 0:
            return  # Other units remain: the application, and its defaults, stay.
        outcome = self._applier().remove()
        for problem in outcome.blocked + outcome.waiting:
            # The unit is going away; a failed hook would only keep it from leaving.
            logger.warning("could not remove all spot defaults: %s", problem)

    def _on_collect_unit_status(self, event: ops.CollectStatusEvent) -> None:
        exporter = self._observability.health().problem()
        if not self.unit.is_leader():
            event.add_status(self._standby.status(dict(self.config), exporter))
            return
        from spot_config import ConfigError, parse_config

        try:
            config = parse_config(self.config)
        except ConfigError as error:
            event.add_status(ops.BlockedStatus(bounded(f"invalid config: {error}")))
            return
        exporter = f" · {exporter}" if exporter else ""
        outcome, plan = self._outcome, self._plan
        if outcome is None or plan is None:
            return  # No reconcile ran in this dispatch (an action): keep the last status.
        for problem in outcome.blocked:
            event.add_status(ops.BlockedStatus(bounded(problem)))
        if plan.withheld:  # Withdrawn, and the config wants PodDefaults somewhere.
            event.add_status(
                ops.BlockedStatus(
                    f"PodDefaults withdrawn: run juju integrate {self.app.name}:"
                    f"{POD_DEFAULTS_RELATION} resource-dispatcher:{POD_DEFAULTS_RELATION},"
                    " or set pod-defaults-delivery=auto"
                )
            )
        for problem in outcome.waiting:
            event.add_status(ops.WaitingStatus(bounded(problem)))
        from explain import status_warnings

        warnings = "".join(
            f" · warning: {warning}" for warning in status_warnings(config, self._conflicts)
        )
        event.add_status(
            ops.ActiveStatus(
                bounded(
                    f"{config.summary()} · {plan.describe(outcome.namespaces)}{warnings}{exporter}"
                )
            )
        )

    def _config_or_fail(self, event: ops.ActionEvent) -> SpotConfig | None:
        """Return the parsed config, or fail the action naming what is invalid."""
        from spot_config import ConfigError, parse_config

        try:
            return parse_config(self.config)
        except ConfigError as error:
            event.fail(bounded(f"invalid config: {error}"))
            return None

    def _on_show_defaults_action(self, event: ops.ActionEvent) -> None:
        from render import render
        from show_defaults import ShowDefaultsParams, show_defaults_results

        params = event.load_params(ShowDefaultsParams, errors="fail")
        config = self._config_or_fail(event)
        if config is None:
            return
        rendered = render(config, app=self.app.name)
        plan = self._delivery_plan(config, rendered)
        event.set_results(
            show_defaults_results(
                rendered, plan, config, namespace=self.model.name, fmt=params.format
            )
        )

    def _on_report_placement_action(self, event: ops.ActionEvent) -> None:
        from conflicts import charged_pod_defaults
        from placement.action_results import ReportTooLargeError
        from placement.reader import PlacementReadError, read_placement
        from placement.report import action_results
        from placement.request import ReportRequest
        from placement.tally import PlacementTally
        from workloads import CONTROL_PLANE_NAMESPACES

        request = event.load_params(ReportRequest, errors="fail")
        config = self._config_or_fail(event)
        if config is None:
            return
        tally = PlacementTally(
            config,
            request,
            now=datetime.now(UTC),
            control_plane_namespaces=CONTROL_PLANE_NAMESPACES | {self.model.name},
        )
        try:
            read_placement(
                self._action_client,
                request,
                tally,
                app=self.app.name,
                pod_defaults=charged_pod_defaults(config, self.app.name),
            )
            event.set_results(action_results(tally.finish()))
        except (PlacementReadError, ReportTooLargeError) as error:
            event.fail(bounded(str(error)))
        except DeadlineExceededError as error:
            event.fail(f"report-placement {error}: nothing was reported; try again")


def _log_sparingly() -> None:
    """Send Juju the charm's records from INFO up, and none of the HTTP stack's per request.

    ops hands every record that reaches the root logger to one `juju-log` process, a round trip
    to the unit agent under Juju, from DEBUG up. With the HTTP stack's records a 200-namespace
    reconcile made 4,461 juju-log calls (issue 13). Its warnings still get through.
    """
    logging.getLogger().setLevel(logging.INFO)
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


if __name__ == "__main__":  # pragma: nocover
    ops.main(KubeflowSpotCharm)
