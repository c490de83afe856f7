"""The status of a unit that is not the leader: the config's summary, or why the config is bad.

Most hooks of most units are a standby's update-status, and its status is a pure function of the
config and of the charm's code. The config parser and the modules it needs (workloads, profiles,
selectors, fallback: thirteen frozen dataclasses) took about 35 ms of a 0.5 s hook to import on
CPython 3.12 (issue 13), so the unit keeps what it last said with the options it said it for, and
parses again only when they differ. Code changes arrive with upgrade-charm, which forgets it.
"""

from __future__ import annotations

import ops

from messages import bounded


class StandbyStatus(ops.Object):
    """Says what a standby unit's status is, parsing the config only when it changed."""

    _stored = ops.StoredState()  # type: ignore[no-untyped-call]  # ops 3.9 leaves it unannotated

    def __init__(self, charm: ops.CharmBase):
        super().__init__(charm, "standby-status")
        self._stored.set_default(options=None, blocked="", summary="")
        self.framework.observe(charm.on.upgrade_charm, self._forget)

    def status(self, options: dict[str, object], exporter_problem: str) -> ops.StatusBase:
        """Return Blocked naming the bad options, or Active with the summary and the exporter's."""
        if self._stored.options != options:
            self._remember(options)
        if self._stored.blocked:
            return ops.BlockedStatus(self._stored.blocked)
        exporter = f" · {exporter_problem}" if exporter_problem else ""
        return ops.ActiveStatus(
            bounded(f"{self._stored.summary} · standby, the leader applies{exporter}")
        )

    def _remember(self, options: dict[str, object]) -> None:
        from spot_config import ConfigError, parse_config

        try:
            self._stored.summary = parse_config(options).summary()
            self._stored.blocked = ""
        except ConfigError as error:
            self._stored.blocked = bounded(f"invalid config: {error}")
        self._stored.options = options

    def _forget(self, _: ops.UpgradeCharmEvent) -> None:
        # The new code may word the summary differently, or accept other values.
        self._stored.options = None
