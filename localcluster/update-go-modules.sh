#!/usr/bin/env bash
# Regenerate the Go tools modules under localcluster/go/ from the pins in versions.env.
#
# Run this after changing K8S_VERSION or ETCD_VERSION, then commit go.mod/go.sum (and any
# stubs/). build.sh only builds what these committed modules say; it never edits them.
#
# Why a generator: k8s.io/kubernetes requires every "staging" module (k8s.io/api, ...) at the
# placeholder v0.0.0 and satisfies it with replace lines that are ignored in a dependency.
# The tools module therefore replaces each one with its published twin v0.<minor>.<patch>,
# and the list must come from that release's own go.mod because it changes between releases.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR
source "${here}/versions.env"

export GOFLAGS=-mod=mod GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0

# Print the path of the downloaded go.mod of module@version, or fail with the proxy's message.
downloaded_gomod() {
    local json
    json="$(go mod download -json "$1")"
    if grep -q '"Error"' <<<"${json}"; then
        echo "error: the Go module proxy does not serve $1:" >&2
        grep '"Error"' <<<"${json}" >&2
        return 1
    fi
    sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p' <<<"${json}"
}

# True when the module proxy serves module@version.
served() {
    ! go mod download -json "$1" 2>/dev/null | grep -q '"Error"'
}

# Start a fresh module in directory $1 named $2.
init_module() {
    rm -rf "$1/go.mod" "$1/go.sum" "$1/stubs"
    (cd "$1" && go mod init "$2" >/dev/null 2>&1)
}

update_kubernetes() {
    local dir="${here}/go/kubernetes" upstream twin name go_line godebug_line
    upstream="$(downloaded_gomod "k8s.io/kubernetes@${K8S_VERSION}")"
    twin="v0.${K8S_VERSION#v1.}"
    init_module "${dir}" kubeflow-spot/localcluster/go/kubernetes
    cd "${dir}"

    # Build with the same language version and GODEBUG defaults as the release itself:
    # a dependency's godebug line is ignored, so it has to be copied.
    go_line="$(awk '$1 == "go" {print $2; exit}' "${upstream}")"
    go mod edit -go="${go_line}"
    godebug_line="$(awk '$1 == "godebug" {print $2; exit}' "${upstream}")"
    if [[ -n "${godebug_line}" ]]; then
        go mod edit -godebug="${godebug_line}"
    fi

    while read -r name; do
        if served "${name}@${twin}"; then
            go mod edit -replace="${name}=${name}@${twin}"
        else
            # MVS reads the go.mod of every module in the graph, even ones never compiled;
            # a go.mod-only stub satisfies that as long as no built package imports it.
            echo "stub: ${name}@${twin} is not served" >&2
            mkdir -p "stubs/${name#k8s.io/}"
            printf 'module %s\n\ngo %s\n' "${name}" "${go_line}" >"stubs/${name#k8s.io/}/go.mod"
            go mod edit -replace="${name}=./stubs/${name#k8s.io/}"
        fi
    done < <(awk '$1 ~ /^k8s\.io\/[a-z0-9-]+$/ && $2 == "v0.0.0" {print $1}' "${upstream}")

    # kubectl is the benchmarks' peer and kube-controller-manager the e2e tests' taint manager and
    # PodGC: the same module graph as the server they talk to.
    go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@${K8S_VERSION}" \
        "k8s.io/kubernetes/cmd/kube-scheduler@${K8S_VERSION}" \
        "k8s.io/kubernetes/cmd/kubectl@${K8S_VERSION}" \
        "k8s.io/kubernetes/cmd/kube-controller-manager@${K8S_VERSION}"
    cd - >/dev/null
}

update_etcd() {
    local dir="${here}/go/etcd" upstream
    upstream="$(downloaded_gomod "go.etcd.io/etcd/server/v3@${ETCD_VERSION}")"
    init_module "${dir}" kubeflow-spot/localcluster/go/etcd
    (cd "${dir}" && go mod edit -go="$(awk '$1 == "go" {print $2; exit}' "${upstream}")")
    # etcd's server/go.mod has replace lines to sibling directories, so `go install pkg@version`
    # refuses it; a wrapper module that requires it builds the same code.
    (cd "${dir}" && go get -tool "go.etcd.io/etcd/server/v3@${ETCD_VERSION}")
}

# One modfile per Argo 3.x release for argo-config-check: each gets that release's own dependency
# graph (and its replace lines, ignored in a dependency), not a graph shared with the others.
update_argo_config() {
    local dir="${here}/go/argo-config" minor version modfile upstream
    for minor in 3.4 3.5 3.6 3.7; do
        version="ARGO_WORKFLOWS_V${minor/./_}"
        version="${!version}"
        modfile="argo-v${minor}.mod"
        upstream="$(downloaded_gomod "github.com/argoproj/argo-workflows/v3@${version}")"
        printf 'module kubeflow-spot/localcluster/go/argo-config\n\ngo 1.26.0\n' >"${dir}/${modfile}"
        : >"${dir}/${modfile%.mod}.sum"
        while read -r old new new_version; do
            (cd "${dir}" && go mod edit -modfile="${modfile}" -replace="${old}=${new}@${new_version}")
        done < <(awk '$1 == "replace" && $3 == "=>" {print $2, $4, $5}' "${upstream}")
        (cd "${dir}" && go get -modfile="${modfile}" "github.com/argoproj/argo-workflows/v3@${version}" &&
            go mod tidy -modfile="${modfile}")
    done
}

# The end-to-end tests' tools modules (build-e2e.sh): Argo's workflow-controller with its
# release's own graph and replace lines, one modfile per minor, and kwok.
update_e2e() {
    local dir="${here}/go/workflow-controller" minor version modfile upstream
    for minor in 3.7; do
        version="ARGO_WORKFLOWS_V${minor/./_}"
        version="${!version}"
        modfile="argo-v${minor}.mod"
        upstream="$(downloaded_gomod "github.com/argoproj/argo-workflows/v3@${version}")"
        printf 'module kubeflow-spot/localcluster/go/workflow-controller\n\ngo 1.26.0\n' >"${dir}/${modfile}"
        : >"${dir}/${modfile%.mod}.sum"
        while read -r old new new_version; do
            (cd "${dir}" && go mod edit -modfile="${modfile}" -replace="${old}=${new}@${new_version}")
        done < <(awk '$1 == "replace" && $3 == "=>" {print $2, $4, $5}' "${upstream}")
        (cd "${dir}" && go get -modfile="${modfile}" -tool \
            "github.com/argoproj/argo-workflows/v3/cmd/workflow-controller@${version}")
    done
    init_module "${here}/go/kwok" kubeflow-spot/localcluster/go/kwok
    (cd "${here}/go/kwok" && go mod edit -go=1.26.0 && go get -tool "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}")
}

# promtool and promql-check (build.sh's promtool group): Prometheus's module at
# PROMETHEUS_VERSION, with its own go line (it has no replace lines), and main.go kept.
update_prometheus() {
    local dir="${here}/go/prometheus" upstream go_line
    upstream="$(downloaded_gomod "github.com/prometheus/prometheus@${PROMETHEUS_VERSION}")"
    go_line="$(awk '$1 == "go" {print $2; exit}' "${upstream}")"
    rm -f "${dir}/go.mod" "${dir}/go.sum"
    cd "${dir}"
    go mod init kubeflow-spot/localcluster/go/prometheus >/dev/null 2>&1
    go mod edit -go="${go_line}"
    go get -tool "github.com/prometheus/prometheus/cmd/promtool@${PROMETHEUS_VERSION}"
    go mod tidy
    cd - >/dev/null
}

update_kubernetes
update_etcd
update_argo_config
update_e2e
update_prometheus
echo "updated ${here}/go for kubernetes ${K8S_VERSION}, etcd ${ETCD_VERSION}, argo-config"
