#!/usr/bin/env bash
# Build the Go binaries of the local test systems from Go modules, one group at a time, so each
# command builds only what it runs:
#
#   bash localcluster/build.sh [GROUP...]      (no GROUP: controlplane)
#
#   controlplane   etcd, kube-apiserver, kube-scheduler (make demo, make cluster, make artifact)
#   argo-checkers  argo-config-check, Argo's own ConfigMap loader, per pinned Argo 3.x release
#                  (make cluster)
#   kubectl        kubectl from the same module graph as kube-apiserver (make bench, bench-charm)
#   promtool       Prometheus's promtool and promql-check (go/prometheus/main.go, Prometheus's own
#                  PromQL parser) for the alert-rule and dashboard tests (make promtool, unit)
#
# The binaries go to a cache directory keyed by the pins in versions.env, outside the repository:
#   ${KUBEFLOW_SPOT_CACHE:-$HOME/.cache/kubeflow-spot}/bin/k8s-<version>_etcd-<version>/
#   ${KUBEFLOW_SPOT_CACHE:-$HOME/.cache/kubeflow-spot}/bin/prometheus-<version>/   (promtool group)
# A group whose binaries are all there prints "cached" and builds nothing. First builds on 2
# cores (empty module and build caches) took: controlplane 458 s, argo-checkers 355 s (idle
# machine), kubectl 304 s after controlplane (it reuses most of kube-apiserver's packages; on a
# machine busy with other builds), promtool 748 s (1,303 packages: every service discovery's
# cloud SDK; a fresh machine, a kubectl build beside it for half of that; 3303 s on a machine
# busy with five other builds and test runs) plus 5-12 s for promql-check;
# with a warm Go build cache a group takes about 30 s. It needs
# Go >= the go line of localcluster/go/*/go.mod (and argo-v*.mod) and a Go module proxy.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR
source "${here}/versions.env"

cache_root="${KUBEFLOW_SPOT_CACHE:-${HOME}/.cache/kubeflow-spot}"
bin_dir="${cache_root}/bin/k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}"
prometheus_dir="${cache_root}/bin/prometheus-${PROMETHEUS_VERSION}"
argo_minors=(3.4 3.5 3.6 3.7)
# Seconds a first build of each group took on 2 cores, printed before a build starts.
declare -A first_build_seconds=([controlplane]=458 [argo-checkers]=355 [kubectl]=304 [promtool]=748)
progress_seconds="${KUBEFLOW_SPOT_BUILD_PROGRESS_SECONDS:-30}"

# The pinned Argo release of a minor version, from versions.env (ARGO_WORKFLOWS_V3_7=v3.7.17).
argo_release() {
    local pin="ARGO_WORKFLOWS_V${1/./_}"
    echo "${!pin}"
}

# The cached name of argo-config-check for a minor: its release plus a digest of its source and
# modfiles, so editing either builds a new binary (harness.py computes the same name).
argo_checker() {
    local dir="${here}/go/argo-config" digest
    digest="$(cat "${dir}/main.go" "${dir}/argo-v${1}.mod" "${dir}/argo-v${1}.sum" | sha256sum)"
    echo "argo-config-check-$(argo_release "${1}")-${digest:0:12}"
}

# The cached name of promql-check: a digest of its source and modfiles, so editing either builds
# a new binary (tests/unit/promtool.py computes the same name).
promql_checker() {
    local dir="${here}/go/prometheus" digest
    digest="$(cat "${dir}/main.go" "${dir}/go.mod" "${dir}/go.sum" | sha256sum)"
    echo "promql-check-${digest:0:12}"
}

# The directory of a group's binaries: the promtool group has its own version key.
group_dir() {
    if [[ "$1" == promtool ]]; then echo "${prometheus_dir}"; else echo "${bin_dir}"; fi
}

# The binaries of a group, one name a line.
group_binaries() {
    case "$1" in
        controlplane) printf '%s\n' kube-apiserver kube-scheduler etcd ;;
        argo-checkers)
            local minor
            for minor in "${argo_minors[@]}"; do argo_checker "${minor}"; done
            ;;
        kubectl) echo kubectl ;;
        promtool) printf '%s\n' promtool "$(promql_checker)" ;;
        *) fail "unknown group '$1'; one of controlplane, argo-checkers, kubectl, promtool" ;;
    esac
}

# The module graph is exactly what the committed go.mod says; no workspace or toolchain switch
# may change it. -buildvcs=false: the binaries are not built from this repository's checkout.
export GOFLAGS="-mod=mod -buildvcs=false" GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0

fail() {
    echo "build.sh: error: $*" >&2
    exit 1
}

group_cached() {
    local name dir
    dir="$(group_dir "$1")"
    while read -r name; do
        [[ -x "${dir}/${name}" ]] || return 1
    done < <(group_binaries "$1")
}

# The committed go.mod files must match versions.env, else the cache key would lie.
check_pins() {
    command -v go >/dev/null || fail "'go' is not on PATH; install Go 1.26 or newer"
    grep -qE "^\s*k8s\.io/kubernetes ${K8S_VERSION}( |$)" "${here}/go/kubernetes/go.mod" ||
        fail "go/kubernetes/go.mod does not require k8s.io/kubernetes ${K8S_VERSION}; run localcluster/update-go-modules.sh"
    grep -qE "^\s*go\.etcd\.io/etcd/server/v3 ${ETCD_VERSION}( |$)" "${here}/go/etcd/go.mod" ||
        fail "go/etcd/go.mod does not require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}; run localcluster/update-go-modules.sh"
    local minor
    for minor in "${argo_minors[@]}"; do
        grep -qE "^\s*github\.com/argoproj/argo-workflows/v3 $(argo_release "${minor}")( |$)" \
            "${here}/go/argo-config/argo-v${minor}.mod" ||
            fail "go/argo-config/argo-v${minor}.mod does not require Argo $(argo_release "${minor}"); run localcluster/update-go-modules.sh"
    done
    grep -qE "^(require)?\s*github\.com/prometheus/prometheus ${PROMETHEUS_VERSION}( |$)" "${here}/go/prometheus/go.mod" ||
        fail "go/prometheus/go.mod does not require github.com/prometheus/prometheus ${PROMETHEUS_VERSION}; run localcluster/update-go-modules.sh"
}

# -X flags that make /version report the release instead of v0.0.0-master, as upstream's
# hack/lib/version.sh does for both copies of the version package.
kubernetes_ldflags() {
    local minor="${K8S_VERSION#v1.}" build_date pkg flags="-s -w"
    minor="${minor%%.*}"
    build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
        flags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${build_date}"
    done
    echo "${flags}"
}

# etcd's version number is a constant of the module; only the commit is stamped at build time.
# The module proxy does not reveal the commit, so record where the build came from instead.
etcd_ldflags() {
    echo "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=go-module-${ETCD_VERSION}"
}

# Print a progress line every $progress_seconds while `go build -v` writes the packages it
# compiles to $1: how many so far, and how long the binary has been building.
report_progress() {
    local log="$1" name="$2" start="$3"
    while sleep "${progress_seconds}"; do
        echo "  ... ${name}: $(wc -l <"${log}") packages compiled, $((SECONDS - start)) s"
    done
}

# build NAME MODULE_DIR PACKAGE LDFLAGS [GO_BUILD_FLAG...]: build into a temporary name, then
# rename, so an interrupted build never leaves a file that group_cached would accept.
build() {
    local name="$1" module_dir="$2" package="$3" ldflags="$4" start partial log ticker status=0
    shift 4
    if [[ -x "${bin_dir}/${name}" ]]; then
        echo "cached ${name}"
        return
    fi
    partial="${bin_dir}/.${name}.partial"
    log="${bin_dir}/.${name}.log"
    start="${SECONDS}"
    echo "building ${name} (${package}) ..."
    : >"${log}"
    report_progress "${log}" "${name}" "${start}" &
    ticker=$!
    (cd "${module_dir}" && nice -n 10 go build -v "$@" -trimpath -ldflags "${ldflags}" -o "${partial}" \
        "${package}") 2>>"${log}" || status=$?
    kill "${ticker}" 2>/dev/null || true
    wait "${ticker}" 2>/dev/null || true
    if ((status != 0)); then
        # -v lists every package compiled; the errors are the lines that are not import paths.
        grep -vE '^[A-Za-z0-9_.~/-]+$' "${log}" >&2 || true
        fail "go build of ${name} failed (exit ${status}); full log: ${log}"
    fi
    mv -f "${partial}" "${bin_dir}/${name}"
    echo "built ${name} in $((SECONDS - start)) s ($(wc -l <"${log}") packages compiled)"
    rm -f "${log}"
}

build_group() {
    local minor
    case "$1" in
        controlplane)
            local k8s_flags
            k8s_flags="$(kubernetes_ldflags)"
            build kube-apiserver "${here}/go/kubernetes" k8s.io/kubernetes/cmd/kube-apiserver "${k8s_flags}"
            build kube-scheduler "${here}/go/kubernetes" k8s.io/kubernetes/cmd/kube-scheduler "${k8s_flags}"
            build etcd "${here}/go/etcd" go.etcd.io/etcd/server/v3 "$(etcd_ldflags)"
            ;;
        argo-checkers)
            for minor in "${argo_minors[@]}"; do
                build "$(argo_checker "${minor}")" "${here}/go/argo-config" . "-s -w" \
                    -modfile="argo-v${minor}.mod"
            done
            ;;
        kubectl)
            build kubectl "${here}/go/kubernetes" k8s.io/kubernetes/cmd/kubectl "$(kubernetes_ldflags)"
            ;;
        promtool)
            # build() writes into $bin_dir; this group's binaries have their own version key.
            local bin_dir="${prometheus_dir}"
            # Tags and version stamp as upstream's .promu.yml builds its release binaries.
            build promtool "${here}/go/prometheus" github.com/prometheus/prometheus/cmd/promtool \
                "-s -w -X github.com/prometheus/common/version.Version=${PROMETHEUS_RELEASE}" -tags netgo
            build "$(promql_checker)" "${here}/go/prometheus" . "-s -w"
            ;;
    esac
}

main() {
    local groups=("$@") group todo=()
    ((${#groups[@]})) || groups=(controlplane)
    for group in "${groups[@]}"; do
        group_binaries "${group}" >/dev/null  # fails on an unknown group before any work
        if group_cached "${group}"; then
            echo "cached ${group}: $(group_dir "${group}")"
        else
            todo+=("${group}")
        fi
    done
    ((${#todo[@]})) || return 0
    check_pins
    mkdir -p "${bin_dir}" "${prometheus_dir}"
    local start="${SECONDS}" estimate=0
    for group in "${todo[@]}"; do
        estimate=$((estimate + ${first_build_seconds[${group}]}))
    done
    echo "building ${todo[*]} (Kubernetes ${K8S_VERSION}, etcd ${ETCD_VERSION}," \
        "Prometheus ${PROMETHEUS_RELEASE}) with $(go version)"
    echo "into ${cache_root}/bin: a first build takes about $((estimate / 60 + 1)) min on 2 cores" \
        "(module downloads included), a rebuild with a warm Go build cache about 30 s a group"
    for group in "${todo[@]}"; do
        build_group "${group}"
    done
    echo "done in $((SECONDS - start)) s: ${cache_root}/bin"
}

main "$@"
