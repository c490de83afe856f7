"""Fixtures for tests/cos: Prometheus's promtool and PromQL parser, built by `make promtool`.

Missing binaries are an error, not a skip, so a CI that forgot `make promtool` cannot pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from localcluster.prometheus_tools import PrometheusToolsMissingError, promql_check, promtool


@pytest.fixture(scope="session")
def promtool_bin() -> Path:
    try:
        return promtool()
    except PrometheusToolsMissingError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def promql_check_bin() -> Path:
    try:
        return promql_check()
    except PrometheusToolsMissingError as error:
        pytest.fail(str(error))
