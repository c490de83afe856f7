"""What the unit tests share: the model they run in, the config defaults, fixtures' builders.

One place for the constants several test modules need, so no test module imports another.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import assume
from hypothesis import strategies as st
from ops import testing

from config_options import config_defaults
from localcluster.charm_context import APP
from placement.facts import PodFacts
from spot_config import (
    SUPPORTED_ARGO_VERSIONS,
    ConfigError,
    SpotConfig,
    parse_config,
)

__all__ = ["APP"]

MODEL = "kubeflow"
ARGO_CONFIGMAP = "argo-workflow-controller-configmap"
ARGO_CONTROLLER_DATA = {
    "artifactRepository": "s3:\n  bucket: mlpipeline\n  endpoint: minio.kubeflow:9000\n",
    "executor": "imagePullPolicy: IfNotPresent\n",
    "metricsConfig": "secure: false\n",
}
PROFILES = ("admin", "data-science")
DEFAULTS = config_defaults()
"""Every option's default, read from config.yaml."""
DEFAULT_SUMMARY = (
    "spot: pipelines,training,hpo · require · retry 5× at once on evictions"
    " (set_retry steps: their own policy) · on-demand after 2 evictions"
)
DEFAULT_POD_DEFAULTS = {"kubeflow-spot-training", "kubeflow-spot-trainjob", "kubeflow-spot-hpo"}
"""The PodDefaults the default config renders: Training Operator v1, Trainer v2, Katib."""
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
"""The moment placement tests measure ages and run hours to."""


def leader_state(**config: object) -> testing.State:
    """Return the state of a leader unit in the `kubeflow` model with these config options."""
    return testing.State(leader=True, config=config, model=testing.Model(name=MODEL))


def parse(**overrides: object) -> SpotConfig:
    """Parse the default config with some options changed (`retry_on=` for `retry-on`)."""
    options = {**DEFAULTS, **{k.replace("_", "-"): v for k, v in overrides.items()}}
    return parse_config(options)


def kfp_step(index: int) -> PodFacts:
    """Return a pipeline step with names as long as real KFP v2 runs give them."""
    return PodFacts(
        namespace="team-recommendations",
        name=f"recommender-training-pipeline-{index:05d}-system-container-impl-{index:010d}",
        labels={"workflows.argoproj.io/workflow": f"recommender-training-pipeline-{index:05d}"},
        node_name="aks-spotpool-42316583-vmss000000",
        phase="Running",
        started=datetime(2026, 11, 29, 8, 0, tzinfo=UTC),
    )


# Every valid combination of options, for property tests.

_label_key = st.from_regex(
    r"\A([a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?\.)?[a-z]{1,6}/[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?\Z"
)
_label_value = st.from_regex(r"\A([A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?)?\Z")
_duration = st.builds(
    lambda h, m, s: f"{h}h{m}m{s}s", st.integers(0, 3), st.integers(0, 59), st.integers(1, 59)
)
valid_options = st.fixed_dictionaries(
    {
        "spot-workloads": st.lists(
            st.sampled_from(["pipelines", "training", "hpo", "batch"]), unique=True
        ).map(",".join),
        "spot-placement": st.sampled_from(["require", "prefer", "tolerate"]),
        "spot-profile": st.sampled_from(["aks", "eks", "gke", "karpenter", "custom"]),
        "spot-node-label": st.one_of(
            st.just(""), st.builds(lambda k, v: f"{k}={v}", _label_key, _label_value)
        ),
        "spot-node-taint": st.one_of(
            st.sampled_from(["", "none"]),
            st.builds(
                lambda k, v, e: f"{k}={v}:{e}",
                _label_key,
                _label_value,
                st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
            ),
        ),
        "retry-limit": st.integers(0, 20),
        "spot-fallback-after": st.integers(0, 3),
        "retry-backoff": _duration,
        "retry-backoff-factor": st.integers(1, 10),
        "retry-max-duration": st.one_of(st.just(""), _duration.map(lambda d: f"24h{d}")),
        "retry-on": st.sampled_from(["evictions", "errors", "all"]),
        "argo-version": st.sampled_from(SUPPORTED_ARGO_VERSIONS),
        "argo-configmap": st.just(DEFAULTS["argo-configmap"]),
        "pod-defaults-delivery": st.sampled_from(["auto", "resource-dispatcher"]),
    }
)


def parse_valid(options: dict[str, object]) -> SpotConfig:
    """Parse options drawn from `valid_options`, dropping the few that are invalid."""
    try:
        return parse_config(options)
    except ConfigError:
        assume(False)  # `custom` without its label or taint, or a fallback past retry-limit.
        raise
