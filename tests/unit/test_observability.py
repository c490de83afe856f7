"""The exporter container (Pebble layer, config file, health in the status), the COS relations."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from cosl import DashboardPath40UID, JujuTopology
from ops import pebble, testing

from localcluster.charm_context import exporter_container
from tests.cos_consumers import Grafana, Prometheus
from tests.unit.fake_k8s import FakeCluster
from tests.unit.shared import APP, DEFAULT_POD_DEFAULTS, DEFAULT_SUMMARY, MODEL, PROFILES
from workload_layer import CHECK, CONFIG_PATH, CONTAINER, PORT, SERVICE

HEALTHY = f"{DEFAULT_SUMMARY} · direct to 2 namespaces"


def leader_with(container: testing.Container, *relations: testing.Relation, **config: object):
    return testing.State(
        leader=True,
        config=config,
        model=testing.Model(name=MODEL),
        containers={container},
        relations=set(relations),
    )


def mounted(container: testing.Container, directory: Path) -> testing.Container:
    """Return the container with the config file's directory kept in `directory` across runs."""
    mount = testing.Mount(location=str(Path(CONFIG_PATH).parent), source=directory)
    return dataclasses.replace(container, mounts={"config": mount})


def pushed_config(directory: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((directory / Path(CONFIG_PATH).name).read_text())
    return loaded


def test_pebble_ready_plans_the_contracts_command_and_the_health_check(ctx):
    container = exporter_container(planned=False)

    out = ctx.run(ctx.on.pebble_ready(container), leader_with(container))

    plan = out.get_container(CONTAINER).plan
    assert plan.services[SERVICE].command == (
        f"python3 -m exporter --config {CONFIG_PATH} --port {PORT}"
    )
    assert plan.services[SERVICE].environment["PYTHONPATH"] == "/opt/kubeflow-spot/src"
    assert plan.checks[CHECK].http == {"url": f"http://localhost:{PORT}/healthz"}
    assert out.get_container(CONTAINER).service_statuses[SERVICE] == pebble.ServiceStatus.ACTIVE


def test_update_status_puts_back_a_layer_the_exporter_lost(ctx):
    container = exporter_container(planned=False)

    out = ctx.run(ctx.on.update_status(), leader_with(container))

    assert SERVICE in out.get_container(CONTAINER).plan.services


def test_update_status_leaves_the_cos_databags_alone(ctx):
    grafana, prometheus = Grafana(), Prometheus()
    state = leader_with(exporter_container(), grafana.relation, prometheus.relation)

    out = ctx.run(ctx.on.update_status(), state)

    assert out.get_relation(grafana.relation.id).local_app_data == {}
    assert (
        "prometheus_scrape_unit_address"
        not in out.get_relation(prometheus.relation.id).local_unit_data
    )


def test_the_config_file_holds_the_options_and_the_model_namespace(ctx, tmp_path):
    container = mounted(exporter_container(planned=False), tmp_path)

    ctx.run(ctx.on.pebble_ready(container), leader_with(container, **{"retry-limit": 2}))

    pushed = pushed_config(tmp_path)
    assert pushed["retry-limit"] == 2
    assert pushed["spot-placement"] == "require"
    assert pushed["model-namespace"] == MODEL


def test_a_config_change_reaches_the_file_without_a_replan(ctx, tmp_path):
    # The service is planned but stopped: a replan would start it, so it staying stopped
    # shows the layer was left alone while the file changed.
    container = mounted(exporter_container(service=pebble.ServiceStatus.INACTIVE), tmp_path)
    state = leader_with(container)
    first = ctx.run(ctx.on.config_changed(), state)

    second = ctx.run(
        ctx.on.config_changed(), dataclasses.replace(first, config={"spot-placement": "prefer"})
    )

    assert pushed_config(tmp_path)["spot-placement"] == "prefer"
    statuses = second.get_container(CONTAINER).service_statuses
    assert statuses[SERVICE] == pebble.ServiceStatus.INACTIVE


def test_invalid_config_leaves_the_exporters_last_good_file(ctx, tmp_path):
    container = mounted(exporter_container(), tmp_path)
    good = ctx.run(ctx.on.config_changed(), leader_with(container))

    bad = ctx.run(
        ctx.on.config_changed(), dataclasses.replace(good, config={"spot-placement": "always"})
    )

    assert pushed_config(tmp_path)["spot-placement"] == "require"
    assert isinstance(bad.unit_status, testing.BlockedStatus)


def test_a_healthy_exporter_leaves_the_status_as_it_was(ctx):
    out = ctx.run(ctx.on.config_changed(), leader_with(exporter_container()))

    assert out.unit_status == testing.ActiveStatus(HEALTHY)


@pytest.mark.parametrize(
    ("container", "said"),
    [
        (
            exporter_container(can_connect=False),
            "exporter container not reachable yet; metrics are off, defaults still apply",
        ),
        (
            exporter_container(service=pebble.ServiceStatus.INACTIVE),
            "exporter not running; metrics are off, defaults still apply",
        ),
        (
            exporter_container(check=pebble.CheckStatus.DOWN, failures=4),
            "exporter unhealthy (4 failed /healthz checks); see `juju debug-log`",
        ),
    ],
    ids=["not-connectable", "service-down", "check-failing"],
)
def test_without_a_working_exporter_the_defaults_still_apply_and_the_status_says_so(
    ctx, cluster: FakeCluster, container, said
):
    out = ctx.run(ctx.on.config_changed(), leader_with(container))

    assert out.unit_status == testing.ActiveStatus(f"{HEALTHY} · {said}")
    for namespace in PROFILES:
        assert set(cluster.find("PodDefault", namespace)) == DEFAULT_POD_DEFAULTS


def test_a_failing_check_event_puts_the_exporter_in_the_status(ctx):
    container = exporter_container(check=pebble.CheckStatus.DOWN, failures=3)
    info = next(iter(container.check_infos))

    out = ctx.run(ctx.on.pebble_check_failed(container, info), leader_with(container))

    assert out.unit_status.message.endswith(
        "exporter unhealthy (3 failed /healthz checks); see `juju debug-log`"
    )


def test_a_non_leader_reports_its_exporter_too(ctx):
    container = exporter_container(can_connect=False)
    state = dataclasses.replace(leader_with(container), leader=False)

    out = ctx.run(ctx.on.update_status(), state)

    assert out.unit_status.message.endswith(
        "· exporter container not reachable yet; metrics are off, defaults still apply"
    )


def test_show_defaults_works_without_the_exporter(ctx):
    state = leader_with(exporter_container(can_connect=False))

    ctx.run(ctx.on.action("show-defaults"), state)

    assert "kubeflow-spot-training" in ctx.action_results["defaults"]


def test_prometheus_scrapes_every_unit_on_the_exporters_port(ctx):
    prometheus = Prometheus()

    out = ctx.run(
        ctx.on.relation_joined(prometheus.relation, remote_unit=0),
        leader_with(exporter_container(), prometheus.relation),
    )

    unit_data = dict(out.get_relation(prometheus.relation.id).local_unit_data)
    jobs = prometheus.jobs(out, {f"{APP}/0": unit_data})
    topology = prometheus.topology(out)
    assert [job["static_configs"][0]["targets"] for job in jobs] == [[f"192.0.2.0:{PORT}"]]
    assert jobs[0]["metrics_path"] == "/metrics"
    assert jobs[0]["job_name"] == (
        f"juju_{topology.identifier}_prometheus_scrape_kubeflow-spot-exporter-0"
    )
    assert jobs[0]["static_configs"][0]["labels"]["juju_application"] == APP
    assert (topology.model, topology.application) == (MODEL, APP)


def test_prometheus_gets_the_alert_rules_labelled_and_restricted_to_the_application(ctx):
    prometheus = Prometheus()

    out = ctx.run(
        ctx.on.relation_changed(prometheus.relation),
        leader_with(exporter_container(), prometheus.relation),
    )

    topology = prometheus.topology(out)
    (rules_file,) = prometheus.alerts(out).values()
    rules = [rule for group in rules_file["groups"] for rule in group["rules"]]
    assert [group["name"] for group in rules_file["groups"]] == [
        f"{topology.identifier}_kubeflow-spot_rules".replace("-", "_")
    ]
    assert len(rules) == 5
    for rule in rules:
        assert rule["labels"]["juju_application"] == APP
        assert f'juju_application="{APP}"' in rule["expr"]
        assert f'juju_model_uuid="{topology.model_uuid}"' in rule["expr"]


def test_a_non_leader_publishes_its_address_but_not_the_applications_data(ctx):
    prometheus = Prometheus()
    state = dataclasses.replace(
        leader_with(exporter_container(), prometheus.relation), leader=False
    )

    out = ctx.run(ctx.on.relation_changed(prometheus.relation), state)

    relation = out.get_relation(prometheus.relation.id)
    assert relation.local_unit_data["prometheus_scrape_unit_address"] == "192.0.2.0"
    assert relation.local_unit_data["prometheus_scrape_unit_name"] == f"{APP}/0"
    assert "scrape_jobs" not in relation.local_app_data


def test_grafana_gets_the_dashboard_as_the_provider_library_sends_it(ctx):
    grafana = Grafana()

    out = ctx.run(
        ctx.on.relation_created(grafana.relation),
        leader_with(exporter_container(), grafana.relation),
    )

    dashboards = grafana.dashboards(out)
    assert list(dashboards) == ["file:kubeflow-spot"]
    dashboard = dashboards["file:kubeflow-spot"]
    assert dashboard["uid"] == DashboardPath40UID.generate(
        APP, "src/grafana_dashboards/kubeflow-spot.json"
    )
    assert "charm: kubeflow-spot" in dashboard["tags"]
    template = grafana.raw(out)["templates"]["file:kubeflow-spot"]
    assert JujuTopology.from_dict(template["juju_topology"]).application == APP
    assert template["inject_dropdowns"] is True


def test_the_same_dashboards_give_the_same_databag(ctx):
    grafana = Grafana()
    state = leader_with(exporter_container(), grafana.relation)

    first = ctx.run(ctx.on.relation_created(grafana.relation), state)
    second = ctx.run(ctx.on.upgrade_charm(), first)

    assert grafana.raw(second)["uuid"] == grafana.raw(first)["uuid"]
    assert grafana.raw(first)["uuid"]
