#!/usr/bin/env bash
# Build kube-apiserver, kube-scheduler and etcd for the local test control plane, and
# argo-config-check (Argo's own ConfigMap loader) once per pinned Argo 3.x release.
#
# The binaries go to a cache directory keyed by the pins in versions.env, outside the repository:
#   ${KUBEFLOW_SPOT_CACHE:-$HOME/.cache/kubeflow-spot}/bin/k8s-<version>_etcd-<version>/
# When all are already there the script prints "cached" and does nothing. A cold build on
# 2 cores took 813 s (empty module and build caches: 458 s for the control plane, 355 s for the
# four Argo checkers); with a warm Go build cache it takes about 30 s. It needs Go >= the go
# line of localcluster/go/*/go.mod (and argo-v*.mod) and a Go module proxy.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR
source "${here}/versions.env"

cache_root="${KUBEFLOW_SPOT_CACHE:-${HOME}/.cache/kubeflow-spot}"
bin_dir="${cache_root}/bin/k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}"
binaries=(kube-apiserver kube-scheduler etcd)
argo_minors=(3.4 3.5 3.6 3.7)

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

for minor in "${argo_minors[@]}"; do
    binaries+=("$(argo_checker "${minor}")")
done

# The module graph is exactly what the committed go.mod says; no workspace or toolchain switch
# may change it. -buildvcs=false: the binaries are not built from this repository's checkout.
export GOFLAGS="-mod=mod -buildvcs=false" GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0

all_cached() {
    local name
    for name in "${binaries[@]}"; do
        [[ -x "${bin_dir}/${name}" ]] || return 1
    done
}

fail() {
    echo "build.sh: error: $*" >&2
    exit 1
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

# build NAME MODULE_DIR PACKAGE LDFLAGS [GO_BUILD_FLAG...]: build into a temporary name, then
# rename, so an interrupted build never leaves a file that all_cached would accept.
build() {
    local name="$1" module_dir="$2" package="$3" ldflags="$4" start partial
    shift 4
    if [[ -x "${bin_dir}/${name}" ]]; then
        echo "cached ${name}"  # left by an interrupted run of this script
        return
    fi
    partial="${bin_dir}/.${name}.partial"
    start="${SECONDS}"
    echo "building ${name} (${package}) ..."
    (cd "${module_dir}" && go build "$@" -trimpath -ldflags "${ldflags}" -o "${partial}" "${package}")
    mv -f "${partial}" "${bin_dir}/${name}"
    echo "built ${name} in $((SECONDS - start)) s"
}

main() {
    if all_cached; then
        echo "cached: ${bin_dir}"
        return
    fi
    check_pins
    mkdir -p "${bin_dir}"
    echo "building kubernetes ${K8S_VERSION} and etcd ${ETCD_VERSION} with $(go version) into ${bin_dir}"
    local start="${SECONDS}" k8s_flags
    k8s_flags="$(kubernetes_ldflags)"
    build kube-apiserver "${here}/go/kubernetes" k8s.io/kubernetes/cmd/kube-apiserver "${k8s_flags}"
    build kube-scheduler "${here}/go/kubernetes" k8s.io/kubernetes/cmd/kube-scheduler "${k8s_flags}"
    build etcd "${here}/go/etcd" go.etcd.io/etcd/server/v3 "$(etcd_ldflags)"
    local minor
    for minor in "${argo_minors[@]}"; do
        build "$(argo_checker "${minor}")" "${here}/go/argo-config" . "-s -w" \
            -modfile="argo-v${minor}.mod"
    done
    echo "done in $((SECONDS - start)) s: ${bin_dir}"
}

main "$@"
