"""The exporter's live state: the watched placement behind a lock, fed by three watches.

The node, the pod and the Argo Workflow watch each run in a thread and call their sink;
Prometheus scrapes call `collect()` from the HTTP server's threads; the config poller calls
`reload_config()`. One lock keeps them apart: each holds it for one event, one LIST's
replacement or one snapshot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.config import ConfigFile, ExporterConfig, default_config
from exporter.metrics import WatchHealth, health_families, placement_families
from exporter.state import WatchedPlacement
from placement import views, workflows
from placement.reader import node_facts, pod_facts

LOG = logging.getLogger(__name__)
HEALTHY_WITHIN_SECONDS = 300.0
"""/healthz fails when a watch has not been synced for this long (bookmarks come each minute)."""


class _Meta(views.ObjectMeta):
    resourceVersion: str | None = None  # noqa: N815 (the API's name)


class WatchedPod(views.Pod):
    """What the report reads of a Pod, and its resourceVersion, which a watch resumes from."""

    metadata: _Meta | None = None


class WatchedNode(views.Node):
    """What the report reads of a Node, and its resourceVersion."""

    metadata: _Meta | None = None


class _WorkflowMeta(workflows.WorkflowMeta):
    resourceVersion: str | None = None  # noqa: N815 (the API's name)


class WatchedWorkflow(workflows.Workflow):
    """What the report reads of an Argo Workflow, and its resourceVersion."""

    metadata: _WorkflowMeta | None = None


REQUIRED = ("nodes", "pods")
"""The watches /healthz needs; without Argo's CRD (or the right to list Workflows) the Workflow
watch backs off and says so, and the metrics of nodes and pods are served all the same."""


def _now() -> datetime:
    return datetime.now(UTC)


class LivePlacement(Collector):
    """The placement, its watches' health and its config, collected by Prometheus."""

    def __init__(self, config_file: ConfigFile, clock: Callable[[], datetime] = _now):
        self._lock = threading.Lock()
        self._clock = clock
        self.config_file = config_file
        config = config_file.read()
        self.config_valid = config is not None
        if config is None:
            LOG.warning("%s; using the charm's defaults until it is fixed", config_file.problem)
        self.placement = WatchedPlacement(config or default_config(), clock())
        self._health = {"nodes": _Health(), "pods": _Health(), "workflows": _Health()}
        self.nodes = _Sink(self, "nodes", node_facts, self.placement.put_node, self._remove_node)
        self.pods = _Sink(self, "pods", pod_facts, self.placement.put_pod, self._remove_pod)
        self.workflows = _Sink(
            self, "workflows", workflows.workflow_facts, self._put_workflow, self._remove_workflow
        )

    def _put_workflow(self, facts: Any, now: datetime) -> None:
        self.placement.put_workflow(facts)

    def _remove_workflow(self, facts: Any, now: datetime) -> None:
        self.placement.remove_workflow(facts.namespace, facts.name)

    def _remove_node(self, facts: Any, now: datetime) -> None:
        self.placement.remove_node(facts.name, now)

    def _remove_pod(self, facts: Any, now: datetime) -> None:
        self.placement.remove_pod(facts.namespace, facts.name, now)

    def reload_config(self) -> bool:
        """Re-read the config file if it changed; return whether the verdicts were recomputed."""
        if not self.config_file.changed():
            return False
        config = self.config_file.read()
        with self._lock:
            self.config_valid = config is not None
            if config is None:
                LOG.warning("%s; keeping the last good config", self.config_file.problem)
                return False
            self.placement.set_config(config, self._clock())
        LOG.info("config reloaded from %s: %s", self.config_file.path, config.spot.summary())
        return True

    @property
    def config(self) -> ExporterConfig:
        """Return the config the verdicts are judged with now."""
        return self.placement.config

    def health(self) -> tuple[bool, str]:
        """Tell whether nodes and pods were synced within HEALTHY_WITHIN_SECONDS, or why not.

        The reason also names a Workflow watch that is not synced, without failing the check.
        """
        now = time.time()
        problems: list[str] = []
        notes: list[str] = []
        with self._lock:
            for resource, health in self._health.items():
                said = problems if resource in REQUIRED else notes
                if not health.synced:
                    said.append(f"{resource}: not synced ({health.problem or 'starting'})")
                elif now - health.last_sync > HEALTHY_WITHIN_SECONDS:
                    said.append(f"{resource}: no sync for {now - health.last_sync:.0f} s")
        reason = "; ".join(problems) or "nodes and pods synced"
        return (not problems, "; ".join([reason, *notes]))

    def collect(self) -> Iterator[Metric]:
        """Yield every metric of this moment (called by the registry on each scrape)."""
        with self._lock:
            samples = self.placement.snapshot(self._clock())
            health = {name: h.frozen() for name, h in self._health.items()}
            valid = self.config_valid
        yield from placement_families(samples)
        yield from health_families(health, valid)


class _Health:
    """A watch's health as it changes (frozen into `WatchHealth` for a scrape)."""

    def __init__(self) -> None:
        self.synced = False
        self.last_sync = 0.0
        self.problem = ""
        self.events: Counter[str] = Counter()

    def frozen(self) -> WatchHealth:
        return WatchHealth(self.synced, self.last_sync, dict(self.events), self.problem)


class _Sink:
    """A watch's sink: turns API objects into facts and hands them to the placement, locked."""

    def __init__(
        self,
        live: LivePlacement,
        resource: str,
        facts: Callable[[Any], Any],
        put: Callable[[Any, datetime], None],
        remove: Callable[[Any, datetime], None],
    ):
        self._live, self._resource = live, resource
        self._facts, self._put, self._remove = facts, put, remove

    def listed(self, objects: Iterable[Any]) -> None:
        facts = [self._facts(obj) for obj in objects]
        live = self._live
        with live._lock:
            now = live._clock()
            if self._resource == "nodes":
                live.placement.replace_nodes(facts, now)
            elif self._resource == "pods":
                live.placement.replace_pods(facts, now)
            else:
                live.placement.replace_workflows(facts)

    def changed(self, kind: str, obj: Any) -> None:
        facts = self._facts(obj)
        live = self._live
        with live._lock:
            if kind == "DELETED":
                self._remove(facts, live._clock())
            else:
                self._put(facts, live._clock())

    def status(self, *, synced: bool, event: str = "", problem: str = "") -> None:
        with self._live._lock:
            health = self._live._health[self._resource]
            health.synced = synced
            health.problem = problem
            if synced:
                health.last_sync = time.time()
            if event:
                health.events[event] += 1
