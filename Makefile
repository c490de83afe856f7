# kubeflow-spot developer commands. Everything installs itself from a fresh clone:
# uv into .tools/uv, the locked Python environment into .venv, charmcraft into .tools/charmcraft,
# and the local control plane's Go binaries into ~/.cache/kubeflow-spot (keyed by version).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
CHARMCRAFT_VERSION := 4.5.0
UV := .tools/uv/bin/uv
VENV := .venv
CHARMCRAFT := .tools/charmcraft/bin/charmcraft
INTEGRATION_VENV := .tools/integration
# The KFP v1 SDK compiles the seed guide's pipelines for the e2e tests, in its own environment:
# its pins (kubernetes<26, protobuf<4, ...) cannot live in the charm's locked one.
KFP_SDK_VERSION := 1.8.22
KFP_SDK := .tools/kfp/bin/python
# uv must use the machine's Python: interpreter downloads are not reachable here.
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)
PYTEST := $(VENV)/bin/python -m pytest -p no:cacheprovider
CHARM := kubeflow-spot_amd64.charm

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv .tools/uv
	.tools/uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen
	touch $@

.PHONY: venv
venv: $(VENV)/.synced ## Install the locked Python environment into .venv

$(CHARMCRAFT):
	$(PYTHON) -m venv .tools/charmcraft
	.tools/charmcraft/bin/pip install --quiet --disable-pip-version-check charmcraft==$(CHARMCRAFT_VERSION)

.PHONY: fmt
fmt: venv ## Format the code
	$(VENV)/bin/ruff format src tests localcluster demo benchmarks pack
	$(VENV)/bin/ruff check --fix src tests localcluster demo benchmarks pack

.PHONY: lint
lint: venv ## Lint, type-check and spell-check
	$(VENV)/bin/ruff check src tests localcluster demo benchmarks pack
	$(VENV)/bin/ruff format --check src tests localcluster demo benchmarks pack
	$(VENV)/bin/mypy
	$(VENV)/bin/codespell src tests localcluster demo benchmarks pack templates README.md config.yaml actions.yaml charmcraft.yaml rockcraft.yaml

.PHONY: metadata
metadata: $(CHARMCRAFT) ## Check the charm metadata with charmcraft expand-extensions
	XDG_RUNTIME_DIR=$${XDG_RUNTIME_DIR:-/tmp} $(CHARMCRAFT) expand-extensions >/dev/null
	@echo "charmcraft expand-extensions: metadata accepted"

.PHONY: unit
unit: venv ## Unit tests (ops.testing, rendering, Argo schema)
	$(PYTEST) tests/unit

# Each Go group is built only by the targets that run it; build.sh says up front how long a
# first build takes and prints progress while it runs, and does nothing once a group is cached.
.PHONY: controlplane
controlplane: ## Build etcd, kube-apiserver and kube-scheduler from Go modules (cached)
	bash localcluster/build.sh controlplane

.PHONY: argo-checkers
argo-checkers: ## Build Argo's own ConfigMap loader for each pinned Argo 3.x release (cached)
	bash localcluster/build.sh argo-checkers

.PHONY: kubectl
kubectl: ## Build kubectl from the control plane's module graph (cached), the benchmarks' peer
	bash localcluster/build.sh kubectl

.PHONY: promtool
promtool: ## Build Prometheus's promtool and PromQL parser from its Go module (cached)
	bash localcluster/build.sh promtool

.PHONY: cos
cos: venv promtool ## Alert rules (promtool check/test rules) and dashboard queries (PromQL parser)
	$(PYTEST) tests/cos

.PHONY: cluster
cluster: venv controlplane argo-checkers ## Tests against a real local control plane
	$(PYTEST) -m cluster tests/cluster

.PHONY: charm
charm: venv ## Build kubeflow-spot_amd64.charm without charmcraft (wheels pinned in uv.lock)
	$(VENV)/bin/python -m pack.build_charm --uv $(UV) --output $(CHARM)

.PHONY: artifact
artifact: charm $(CHARMCRAFT) controlplane ## Check the .charm: charmcraft analyse, its dispatch on CPython 3.12
	$(PYTEST) tests/artifact

$(INTEGRATION_VENV)/.synced: $(UV) tests/integration/pyproject.toml tests/integration/uv.lock
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/$(INTEGRATION_VENV) $(UV) sync --frozen --project tests/integration
	touch $@

.PHONY: integration
integration: $(INTEGRATION_VENV)/.synced ## Deploy on a real Juju; skipped without a reachable controller
	$(INTEGRATION_VENV)/bin/python -m pytest -c tests/integration/pyproject.toml tests/integration $(INTEGRATION_ARGS)

.PHONY: bench-charm
bench-charm: charm controlplane kubectl ## The packed charm's dispatch and hook-tool calls, beside its peers
	PYTHONPATH=src:. $(VENV)/bin/python -m benchmarks.dispatch $(BENCH_ARGS)

$(KFP_SDK):
	$(PYTHON) -m venv .tools/kfp
	.tools/kfp/bin/pip install --quiet --disable-pip-version-check kfp==$(KFP_SDK_VERSION)

.PHONY: kfp-sdk
kfp-sdk: $(KFP_SDK) ## Install the KFP v1 SDK (kfp==1.8.22) into .tools/kfp

.PHONY: e2e-binaries
e2e-binaries: controlplane ## Build workflow-controller, kwok and kube-controller-manager (cached)
	bash localcluster/build-e2e.sh

.PHONY: e2e
e2e: venv e2e-binaries kfp-sdk ## Pipelines on the real Argo workflow-controller, kwok and evictions
	KUBEFLOW_SPOT_KFP_SDK=$(KFP_SDK) $(PYTEST) -m e2e tests/e2e $(E2E_ARGS)

.PHONY: test
# integration runs early: here it only reports its skips, and the last summary CI reads is a run.
test: lint metadata integration unit cos cluster artifact e2e ## Everything that can run here (CI)

.PHONY: demo
demo: venv e2e-binaries kfp-sdk ## A pipeline survives a spot eviction: the charm on the real Argo, kwok nodes
	KUBEFLOW_SPOT_KFP_SDK=$(KFP_SDK) PYTHONPATH=src:. $(VENV)/bin/python -m demo $(DEMO_ARGS)

.PHONY: bench
bench: venv controlplane kubectl ## report-placement and the reconcile on a real API server, beside kubectl
	PYTHONPATH=src:. $(VENV)/bin/python -m benchmarks $(BENCH_ARGS)

.PHONY: bench-exporter
bench-exporter: venv controlplane ## The exporter on 10,000 pods and 500 nodes with churn, beside report-placement
	PYTHONPATH=src:. $(VENV)/bin/python -m benchmarks.exporter $(BENCH_ARGS)

.PHONY: clean
clean: ## Remove the environments (the Go binary cache stays)
	rm -rf .venv .tools build $(CHARM)
