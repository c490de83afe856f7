"""Juju glue for the exporter's container and the two COS relations (ops in, pure modules out).

`workload_layer` builds the Pebble layer and the config file, `cos_scrape` and
`cos_dashboards` the databags; this object only moves them to Pebble and Juju. Nothing here
can stop the charm's own job: a container that is not reachable, a service that is down or a
failing check is reported in the status (`problem`), never raised.
"""

from __future__ import annotations

import logging

import ops

from workload_layer import (
    CHECK,
    CONFIG_PATH,
    CONTAINER,
    SERVICE,
    ExporterHealth,
    exporter_config_file,
    exporter_layer,
)

logger = logging.getLogger(__name__)

METRICS_RELATION = "metrics-endpoint"
DASHBOARD_RELATION = "grafana-dashboard"
PEBBLE_ERRORS = (ops.pebble.ConnectionError, ops.pebble.APIError, ops.pebble.ChangeError)


class Observability(ops.Object):
    """Keeps the exporter configured and running, and tells Prometheus and Grafana about it."""

    def __init__(self, charm: ops.CharmBase):
        super().__init__(charm, "observability")
        self._charm = charm
        on = charm.on
        for event in (
            on.config_changed,
            on.upgrade_charm,
            on.leader_elected,
            on[CONTAINER].pebble_ready,
            on[METRICS_RELATION].relation_joined,
            on[METRICS_RELATION].relation_changed,
            on[DASHBOARD_RELATION].relation_created,
            on[DASHBOARD_RELATION].relation_changed,
        ):
            self.framework.observe(event, self._refresh)
        # update-status only mends the exporter (a container restarted without its layer). The
        # databags stay in Juju between hooks, and what they hold changes with the events above:
        # the unit's address with a new pod, which brings pebble-ready (the refresh event COS'
        # libraries use for sidecar charms). Reading the two relations on every update-status
        # was two `relation-ids` round trips of a standby's six hook tool calls (issue 13).
        self.framework.observe(on.update_status, self._mend_exporter)

    def _refresh(self, _: ops.EventBase) -> None:
        self._configure_exporter()
        self._publish()

    def _mend_exporter(self, _: ops.UpdateStatusEvent) -> None:
        self._configure_exporter()

    def _configure_exporter(self) -> None:
        """Push the config file when it changed; add the layer and replan when the layer did."""
        container = self._charm.unit.get_container(CONTAINER)
        if not container.can_connect():
            return  # pebble-ready comes later; the status says so meanwhile.
        text = exporter_config_file(dict(self.model.config), model_namespace=self.model.name)
        layer = ops.pebble.Layer(exporter_layer())  # type: ignore[arg-type]
        try:
            if _current_file(container) != text:
                if not _valid(self.model.config):
                    return  # The exporter keeps its last good file; the status names the option.
                container.push(CONFIG_PATH, text, make_dirs=True)
            plan = container.get_plan()
            if plan.services.get(SERVICE) != layer.services[SERVICE] or plan.checks.get(
                CHECK
            ) != layer.checks.get(CHECK):
                container.add_layer(CONTAINER, layer, combine=True)
                container.replan()
        except PEBBLE_ERRORS as error:
            logger.warning("could not configure the exporter: %s", error)

    def _publish(self) -> None:
        if not (
            self.model.relations[METRICS_RELATION] or self.model.relations[DASHBOARD_RELATION]
        ):
            return  # Most hooks of an unrelated charm: nothing read, nothing imported.
        from cos_dashboards import dashboards_app_data
        from cos_scrape import Topology, scrape_app_data, scrape_unit_data

        topology = Topology(
            model=self.model.name,
            model_uuid=self.model.uuid,
            application=self.model.app.name,
            unit=self.model.unit.name,
            charm_name=self._charm.meta.name,
        )
        for relation in self.model.relations[METRICS_RELATION]:
            binding = self.model.get_binding(relation)
            address = binding.network.bind_address if binding else None
            if address is not None:
                unit_data = scrape_unit_data(str(address), self.model.unit.name)
                _update(relation.data[self.model.unit], unit_data)
            if self.model.unit.is_leader():
                _update(relation.data[self.model.app], scrape_app_data(topology))
        if not self.model.unit.is_leader():
            return
        for relation in self.model.relations[DASHBOARD_RELATION]:
            data = dashboards_app_data(self._charm.meta.name, topology.as_dict())
            _update(relation.data[self.model.app], data)

    def health(self) -> ExporterHealth:
        """Return what Pebble says about the exporter now."""
        container = self._charm.unit.get_container(CONTAINER)
        if not container.can_connect():
            return ExporterHealth(connected=False)
        try:
            services = container.get_services(SERVICE)
            checks = container.get_checks(CHECK)
        except PEBBLE_ERRORS:
            return ExporterHealth(connected=False)
        running = SERVICE in services and services[SERVICE].is_running()
        check = checks.get(CHECK)
        if check is None:
            return ExporterHealth(connected=True, service_running=running)
        up = check.status == ops.pebble.CheckStatus.UP
        return ExporterHealth(True, running, up, check.failures)


def _valid(options: ops.ConfigData) -> bool:
    # Imported here: the parser is most of what the charm imports, and the file it guards is
    # read first, so an unchanged config (every update-status) never needs it.
    from spot_config import ConfigError, parse_config

    try:
        parse_config(options)
    except ConfigError:
        return False
    return True


def _current_file(container: ops.Container) -> str | None:
    try:
        with container.pull(CONFIG_PATH) as current:
            return current.read()
    except ops.pebble.PathError:
        return None


def _update(databag: ops.RelationDataContent, data: dict[str, str]) -> None:
    """Write only the keys whose value changed: each write is a relation-set call."""
    for key, value in data.items():
        if databag.get(key) != value:
            databag[key] = value
