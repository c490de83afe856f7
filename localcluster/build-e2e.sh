#!/usr/bin/env bash
# Build what the end-to-end tests (tests/e2e) run on top of build.sh's control plane: Argo's
# workflow-controller, kwok (the kubelet simulator) and kube-controller-manager.
#
# Each binary goes to the version-keyed cache, outside the repository, like build.sh's:
#   ${KUBEFLOW_SPOT_CACHE:-$HOME/.cache/kubeflow-spot}/bin/
#     argo-<release>/workflow-controller      go/workflow-controller/argo-vX.Y.mod (Argo's graph)
#     kwok-<version>/kwok                     go/kwok/go.mod
#     k8s-<version>_etcd-<version>/kube-controller-manager   go/kubernetes (the apiserver's graph)
# When all are there it prints "cached" and does nothing. Cold on 2 cores with build.sh's Go
# caches warm: about 6 minutes (README "Run it"); it says its estimate before it starts and prints
# progress every 30 s. Heavy compiles run under nice.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR
source "${here}/versions.env"

cache_root="${KUBEFLOW_SPOT_CACHE:-${HOME}/.cache/kubeflow-spot}"
# The Argo minors whose workflow-controller the e2e tests run (one modfile each).
controller_minors=(3.7)

export GOFLAGS="-mod=mod -buildvcs=false" GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0

fail() {
    echo "build-e2e.sh: error: $*" >&2
    exit 1
}

# Measured first builds on an idle 2-core machine, module downloads included (README "Run it");
# beside other builds each took 2-3 times as long.
declare -A first_build_seconds=([kube-controller-manager]=180 [workflow-controller]=190 [kwok]=131)
progress_seconds="${KUBEFLOW_SPOT_BUILD_PROGRESS_SECONDS:-30}"

# Print a progress line every $progress_seconds while `go build -v` writes the packages it
# compiles to $1 (as build.sh does).
report_progress() {
    local log="$1" name="$2" start="$3"
    while sleep "${progress_seconds}"; do
        echo "  ... ${name}: $(wc -l <"${log}") packages compiled, $((SECONDS - start)) s"
    done
}

argo_release() {
    local pin="ARGO_WORKFLOWS_V${1/./_}"
    echo "${!pin}"
}

# "<path> <module dir> <package> <ldflags> [go build flag...]" per binary, one per line.
targets() {
    local minor release k8s_minor="${K8S_VERSION#v1.}"
    k8s_minor="${k8s_minor%%.*}"
    # kube-controller-manager first: it reuses build.sh's fresh Go build cache of kubernetes.
    local flags="-s -w" pkg
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${k8s_minor}"
        flags+=" -X ${pkg}.gitTreeState=clean"
    done
    printf '%s\t%s\t%s\t%s\t%s\n' \
        "${cache_root}/bin/k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}/kube-controller-manager" \
        "${here}/go/kubernetes" k8s.io/kubernetes/cmd/kube-controller-manager "${flags}" ""
    for minor in "${controller_minors[@]}"; do
        release="$(argo_release "${minor}")"
        printf '%s\t%s\t%s\t%s\t%s\n' \
            "${cache_root}/bin/argo-${release}/workflow-controller" \
            "${here}/go/workflow-controller" \
            github.com/argoproj/argo-workflows/v3/cmd/workflow-controller \
            "-s -w -X github.com/argoproj/argo-workflows/v3.version=${release}" \
            "-modfile=argo-v${minor}.mod"
    done
    printf '%s\t%s\t%s\t%s\t%s\n' \
        "${cache_root}/bin/kwok-${KWOK_VERSION}/kwok" "${here}/go/kwok" sigs.k8s.io/kwok/cmd/kwok \
        "-s -w" ""
}

# The committed modfiles must match versions.env, else the cache key would lie.
check_pins() {
    command -v go >/dev/null || fail "'go' is not on PATH; install Go 1.26 or newer"
    local minor
    for minor in "${controller_minors[@]}"; do
        grep -qE "^\s*github\.com/argoproj/argo-workflows/v3 $(argo_release "${minor}")( |$)" \
            "${here}/go/workflow-controller/argo-v${minor}.mod" ||
            fail "go/workflow-controller/argo-v${minor}.mod does not require Argo $(argo_release "${minor}"); run localcluster/update-go-modules.sh"
    done
    grep -qE "^\s*sigs\.k8s\.io/kwok ${KWOK_VERSION}( |$)" "${here}/go/kwok/go.mod" ||
        fail "go/kwok/go.mod does not require sigs.k8s.io/kwok ${KWOK_VERSION}; run localcluster/update-go-modules.sh"
    grep -qE "^\s*k8s\.io/kubernetes/cmd/kube-controller-manager$" "${here}/go/kubernetes/go.mod" ||
        fail "go/kubernetes/go.mod has no kube-controller-manager tool; run localcluster/update-go-modules.sh"
}

main() {
    local path module_dir package ldflags extra missing=0 start partial began="${SECONDS}"
    local estimate=0 log ticker status
    while IFS=$'\t' read -r path module_dir package ldflags extra; do
        if [[ ! -x "${path}" ]]; then
            missing=1
            estimate=$((estimate + ${first_build_seconds[$(basename "${path}")]}))
        fi
    done < <(targets)
    if ((missing == 0)); then
        echo "cached: workflow-controller, kwok, kube-controller-manager"
        return
    fi
    check_pins
    echo "building the end-to-end binaries with $(go version): a first build takes about" \
        "$((estimate / 60 + 1)) min on an idle 2-core machine (module downloads included)," \
        "2-3 times that beside other builds"
    while IFS=$'\t' read -r path module_dir package ldflags extra; do
        if [[ -x "${path}" ]]; then
            echo "cached ${path}"
            continue
        fi
        mkdir -p "$(dirname "${path}")"
        # Build into a temporary name, then rename: an interrupted build leaves nothing usable.
        partial="$(dirname "${path}")/.$(basename "${path}").partial"
        start="${SECONDS}"
        log="$(dirname "${path}")/.$(basename "${path}").log"
        echo "building ${path} (${package}) ..."
        : >"${log}"
        report_progress "${log}" "$(basename "${path}")" "${start}" &
        ticker=$!
        status=0
        # shellcheck disable=SC2086  # extra is one optional flag
        (cd "${module_dir}" && nice -n 10 go build -v ${extra} -trimpath -ldflags "${ldflags}" \
            -o "${partial}" "${package}") 2>>"${log}" || status=$?
        kill "${ticker}" 2>/dev/null || true
        wait "${ticker}" 2>/dev/null || true
        if ((status != 0)); then
            # -v lists every package compiled; the errors are the lines that are not import paths.
            grep -vE '^[A-Za-z0-9_.~/-]+$' "${log}" >&2 || true
            fail "go build of $(basename "${path}") failed (exit ${status}); full log: ${log}"
        fi
        mv -f "${partial}" "${path}"
        echo "built $(basename "${path}") in $((SECONDS - start)) s ($(wc -l <"${log}") packages compiled)"
        rm -f "${log}"
    done < <(targets)
    echo "done in $((SECONDS - began)) s"
}

main "$@"
