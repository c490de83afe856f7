"""The alert rules on series recorded from the real exporter: the at-risk alert fires.

tests/cos/recorded/exporter-metrics.txt is one /metrics scrape of exporter-15's exporter
watching the local control plane with a notebook on a spot node (its header says how it was
made). Each sample becomes a constant input series for `promtool test rules`, which then
evaluates the rules with Prometheus's engine: KubeflowSpotPodsAtRisk must be firing for
admin/notebooks after 5 minutes and not before, KubeflowSpotStepsStuck for admin/hpo after 15.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from cos_scrape import RULES_DIR

RECORDED = Path(__file__).parent / "recorded" / "exporter-metrics.txt"
_SAMPLE = re.compile(r"^(?P<series>[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (?P<value>\S+)$")


def recorded_series() -> list[dict[str, str]]:
    """Return each sample of the scrape as a promtool input series, constant for 20 minutes."""
    series = []
    for line in RECORDED.read_text().splitlines():
        found = _SAMPLE.match(line)
        if found is None or not found["series"].startswith("kubeflow_spot_"):
            continue
        value = float(found["value"])
        series.append({"series": found["series"], "values": f"{value:g}x20"})
    return series


def _firing(alert: str, eval_time: str, samples: list[str]) -> dict[str, object]:
    return {
        "expr": f'ALERTS{{alertname="{alert}",alertstate="firing"}}',
        "eval_time": eval_time,
        "exp_samples": [{"labels": labels, "value": 1} for labels in samples],
    }


def test_recorded_scrape_has_the_placed_pods():
    pods = [
        s["series"] for s in recorded_series() if s["series"].startswith("kubeflow_spot_pods{")
    ]

    assert len(pods) == 4
    assert any('verdict="at-risk",workload_class="notebooks"' in p for p in pods)


def test_at_risk_and_stuck_alerts_fire_on_the_recorded_series(promtool_bin, tmp_path):
    at_risk = (
        'ALERTS{alertname="KubeflowSpotPodsAtRisk",alertstate="firing",namespace="admin",'
        'severity="warning",workload_class="notebooks"}'
    )
    stuck = (
        'ALERTS{alertname="KubeflowSpotStepsStuck",alertstate="firing",namespace="admin",'
        'severity="warning",workload_class="hpo"}'
    )
    test = {
        "rule_files": [str(RULES_DIR / "kubeflow_spot.rules")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": recorded_series(),
                "promql_expr_test": [
                    _firing("KubeflowSpotPodsAtRisk", "4m", []),
                    _firing("KubeflowSpotPodsAtRisk", "6m", [at_risk]),
                    _firing("KubeflowSpotStepsStuck", "14m", []),
                    _firing("KubeflowSpotStepsStuck", "16m", [stuck]),
                    _firing("KubeflowSpotNodesEvicting", "16m", []),
                    _firing("KubeflowSpotExporterWatchDown", "16m", []),
                ],
            }
        ],
    }
    path = tmp_path / "recorded_test.yaml"
    path.write_text(yaml.safe_dump(test, width=1000))

    tested = subprocess.run(
        [str(promtool_bin), "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert tested.returncode == 0, tested.stdout + tested.stderr
