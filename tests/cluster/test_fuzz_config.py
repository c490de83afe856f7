"""Fuzz the charm's options against the real systems that must accept what it writes.

Hypothesis draws option sets at the edges of each grammar (tests/fuzz/strategies.py). Three
differential checks hold the charm to the real systems, in batches:

- every duration: the charm accepts it exactly when Argo's own ParseStringToDuration (the
  controller's parse when it retries a step) reads it as a wait above 0 and within the limit;
- every node label and taint: the charm accepts it exactly when the API server accepts a node
  with that label and taint (server-side dry-run) and a pod tolerating it;
- every option set, through the charm (ops.testing, real lightkube client on the real API
  server): either Blocked naming an option with zero API requests, or Active with every object
  it rendered accepted by the API server (a dry-run pod carrying each PodDefault's toleration
  and the Argo defaults' toleration and affinity) and by Argo's loader and duration parser.

Mismatches are collected, not raised one by one, so a run reports every class of defect with its
count. `KUBEFLOW_SPOT_FUZZ_SCALE=N` multiplies every case count (default 1: a couple of minutes).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import yaml
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace
from ops import testing

from applier import PodDefault
from config_options import config_defaults
from localcluster.argo import load_configmaps, parse_durations
from localcluster.charm_context import charm_context
from localcluster.harness import ControlPlane
from localcluster.kubeflow_pods import resolve_fallback
from localcluster.seed import ARGO_CONFIGMAP, KUBEFLOW_NAMESPACE, PROFILE_NAMESPACE
from spot_config import ConfigError, parse_config
from tests.fuzz import strategies
from tests.fuzz.oracles import (
    FUZZ_ARGO_NAMESPACE,
    configmap_name_rejection,
    node_rejection,
    pod_rejection,
)
from tests.fuzz.survey import Survey, draw_many

SCALE = int(os.environ.get("KUBEFLOW_SPOT_FUZZ_SCALE", "1"))
DURATION_CASES = 2000 * SCALE
LABEL_CASES = 600 * SCALE
CHARM_CASES = 250 * SCALE
MAX_BACKOFF_NS = 24 * 3600 * 10**9
MAX_WINDOW_NS = 7 * 24 * 3600 * 10**9
ARGO_MINORS = ("3.4", "3.5", "3.6", "3.7")


DEFAULTS = config_defaults()


def _accepted(options: dict[str, object], option: str) -> bool:
    """Tell whether the charm's validation accepts the options without a problem in `option`."""
    try:
        parse_config(DEFAULTS | options)
    except ConfigError as error:
        return all(p.option != option for p in error.problems)
    return True


# Duration grammar: the charm against Argo's parser of every pinned release.


def test_charm_accepts_a_duration_exactly_when_argo_reads_a_usable_wait(request):
    survey = Survey("durations")
    values = draw_many(strategies.DURATIONS, DURATION_CASES)
    by_minor = {
        minor: parse_durations((v.strip() for v in values), minor) for minor in ARGO_MINORS
    }
    for value in values:
        survey.cases += 1
        # The window must also exceed the first wait, here 1s.
        checks = (
            ("retry-backoff", {"retry-backoff": value}, 0, MAX_BACKOFF_NS),
            (
                "retry-max-duration",
                {"retry-backoff": "1s", "retry-max-duration": value},
                10**9,
                MAX_WINDOW_NS,
            ),
        )
        for option, options, floor, limit in checks:
            if option == "retry-max-duration" and not value.strip():
                continue  # empty means no window
            charm = _accepted(options, option)
            survey.outcomes[f"{option} {'accepted' if charm else 'rejected'}"] += 1
            for minor, verdicts in by_minor.items():
                argo = verdicts[value.strip()].argo
                usable = argo.ok and floor < argo.nanoseconds <= limit
                if charm and not usable:
                    survey.mismatch(
                        f"Argo {minor} rejects or reads 0s/over the limit, the charm accepted",
                        (option, value),
                        argo.error or f"{argo.nanoseconds} ns",
                    )
                elif usable and not charm:
                    survey.mismatch(
                        f"the charm rejects what Argo {minor} reads",
                        (option, value),
                        f"{argo.nanoseconds} ns",
                    )
    survey.check(request)


# Label and taint grammar: the charm against the API server.


def _label_pieces(raw: str) -> tuple[str, str]:
    key, _, value = raw.strip().partition("=")
    return key, value


def _taint_pieces(raw: str) -> tuple[str, str, str]:
    key_value, _, effect = raw.strip().rpartition(":")
    key, _, value = key_value.partition("=")
    return key, value, effect


def test_charm_accepts_a_label_or_taint_exactly_when_the_api_server_does(request, client):
    survey = Survey("labels and taints")
    for raw in draw_many(strategies.NODE_LABELS, LABEL_CASES):
        survey.cases += 1
        if not raw.strip():
            continue  # empty means the profile's label
        charm = _accepted({"spot-node-label": raw}, "spot-node-label")
        survey.outcomes[f"label {'accepted' if charm else 'rejected'}"] += 1
        key, value = _label_pieces(raw)
        requirement = {"key": key, "operator": "In", "values": [value]}
        affinity = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [requirement]}]
                }
            }
        }
        api = node_rejection(client, {key: value}) or pod_rejection(
            client, PROFILE_NAMESPACE, affinity=affinity
        )
        if charm and api:
            survey.mismatch("API server rejects a node label the charm accepted", raw, api)
        elif not charm and not api and "=" in raw:
            survey.mismatch("the charm rejects a node label the API server accepts", raw, "")
    for raw in draw_many(strategies.TAINTS, LABEL_CASES):
        survey.cases += 1
        if not raw.strip():
            continue  # empty means the profile's taint
        charm = _accepted({"spot-node-taint": raw}, "spot-node-taint")
        survey.outcomes[f"taint {'accepted' if charm else 'rejected'}"] += 1
        if raw.strip() == "none":
            continue
        key, value, effect = _taint_pieces(raw)
        toleration = {
            "key": key,
            "operator": "Equal" if value else "Exists",
            "effect": effect,
            **({"value": value} if value else {}),
        }
        api = node_rejection(client, {}, ((key, value, effect),)) or pod_rejection(
            client, PROFILE_NAMESPACE, tolerations=[toleration]
        )
        if charm and api:
            survey.mismatch("API server rejects a taint the charm accepted", raw, api)
        elif not charm and not api and ":" in raw:
            survey.mismatch("the charm rejects a taint the API server accepts", raw, "")
    survey.check(request)


# Whole option sets through the charm, on the real API server.


@pytest.fixture
def argo_copies(client: Client) -> Iterator[str]:
    """Yield a namespace for copies of what the charm wrote to Argo's ConfigMap; empty it after."""
    client.apply(Namespace(metadata=ObjectMeta(name=FUZZ_ARGO_NAMESPACE)), field_manager="fuzz")
    yield FUZZ_ARGO_NAMESPACE
    client.deletecollection(ConfigMap, namespace=FUZZ_ARGO_NAMESPACE)


@dataclass(frozen=True)
class ArgoCopy:
    """A copy of the workflowDefaults the charm wrote for one case, for Argo's loader."""

    name: str
    minor: str
    case: dict[str, object]
    backoff: str
    max_duration: str | None


def _argo_minor(case: dict[str, object]) -> str:
    version = parse_config(DEFAULTS | case).argo_version
    return version if version in ARGO_MINORS else "3.7"  # 4.x is not built, 3.7 is its closest


def _check_active(
    client: Client, case: dict[str, object], index: int, survey: Survey, copies: list[ArgoCopy]
) -> None:
    for pod_default in client.list(
        PodDefault,
        namespace=PROFILE_NAMESPACE,
        labels={"app.kubernetes.io/managed-by": "kubeflow-spot"},
    ):
        rejected = pod_rejection(
            client, PROFILE_NAMESPACE, tolerations=pod_default.spec.get("tolerations")
        )
        if rejected:
            survey.mismatch(
                "API server rejects a pod with a PodDefault's toleration", case, rejected
            )
    data = client.get(ConfigMap, ARGO_CONFIGMAP, namespace=KUBEFLOW_NAMESPACE).data or {}
    if "workflowDefaults" not in data:
        return
    spec = yaml.safe_load(data["workflowDefaults"])["spec"]
    # spot-fallback-after's affinity is a template default: a first attempt's and a fallen back
    # one's must both be valid.
    affinity = (spec.get("templateDefaults") or {}).get("affinity") or spec.get("affinity")
    for fell_back in (False, True):
        rejected = pod_rejection(
            client,
            PROFILE_NAMESPACE,
            spec.get("tolerations"),
            resolve_fallback(affinity, fell_back=fell_back),
        )
        if rejected:
            survey.mismatch(
                "API server rejects a pod with the Argo defaults' placement", case, rejected
            )
    backoff = (spec.get("retryStrategy") or {}).get("backoff") or {}
    name = f"fuzz-{index}"
    client.apply(
        ConfigMap(
            metadata=ObjectMeta(name=name, namespace=FUZZ_ARGO_NAMESPACE),
            data={"workflowDefaults": data["workflowDefaults"]},
        ),
        field_manager="fuzz",
    )
    copies.append(
        ArgoCopy(
            name, _argo_minor(case), case, backoff.get("duration", ""), backoff.get("maxDuration")
        )
    )


def _check_with_argo(control_plane: ControlPlane, copies: list[ArgoCopy], survey: Survey) -> None:
    for minor in ARGO_MINORS:
        batch = {c.name: c for c in copies if c.minor == minor}
        if not batch:
            continue
        assert control_plane.kubeconfig_path is not None
        for verdict in load_configmaps(
            control_plane.kubeconfig_path, FUZZ_ARGO_NAMESPACE, batch, minor
        ):
            copy = batch[verdict.name]
            if not verdict.ok:
                survey.mismatch(
                    f"Argo {minor}'s loader rejects the defaults", copy.case, verdict.error
                )
                continue
            wait = verdict.backoff.get("duration")
            if copy.backoff and (wait is None or not wait.ok or wait.nanoseconds <= 0):
                survey.mismatch(f"Argo {minor} cannot wait the backoff", copy.case, str(wait))
            window = verdict.backoff.get("maxDuration")
            if copy.max_duration and (
                window is None
                or not window.ok
                or wait is None
                or window.nanoseconds <= wait.nanoseconds
            ):
                survey.mismatch(
                    f"Argo {minor}'s retry window is not past the first wait",
                    copy.case,
                    str(window),
                )


def test_every_option_set_blocks_without_a_request_or_writes_what_kubernetes_and_argo_accept(
    request, client, control_plane, charm_client, argo_copies
):
    survey = Survey("option sets through the charm")
    ctx = charm_context()
    copies: list[ArgoCopy] = []
    option_names = tuple(f"{name}=" for name in strategies.OPTIONS)
    cases = strategies.ISSUE_CASES + draw_many(strategies.option_sets(), CHARM_CASES)
    for index, case in enumerate(cases):
        survey.cases += 1
        charm_client.requests.clear()
        state = testing.State(
            leader=True, config=case, model=testing.Model(name=KUBEFLOW_NAMESPACE)
        )
        try:
            status = ctx.run(ctx.on.config_changed(), state).unit_status
        except Exception as error:  # noqa: BLE001 - any traceback is the finding
            survey.mismatch("the charm raised", case, repr(error))
            continue
        survey.outcomes[status.name] += 1
        if status.name == "blocked" and status.message.startswith("invalid config: "):
            if not any(name in status.message for name in option_names):
                survey.mismatch("Blocked without naming an option", case, status.message)
            if charm_client.requests:
                survey.mismatch("Blocked after API requests", case, str(charm_client.requests))
        elif status.name == "active":
            _check_active(client, case, index, survey, copies)
        elif status.name == "waiting" and "missing" in status.message and "argo-configmap" in case:
            # A ConfigMap name that does not exist yet: it must be a name Kubernetes takes.
            name = parse_config(DEFAULTS | case).argo_configmap
            rejected = configmap_name_rejection(client, KUBEFLOW_NAMESPACE, name)
            if rejected:
                survey.mismatch(
                    "API server rejects the argo-configmap name the charm took", case, rejected
                )
        else:
            survey.mismatch(f"unexpected {status.name} status", case, status.message)
    _check_with_argo(control_plane, copies, survey)
    last_unit = testing.State(
        leader=True, planned_units=0, model=testing.Model(name=KUBEFLOW_NAMESPACE)
    )
    ctx.run(ctx.on.remove(), last_unit)
    survey.check(request)
