// Placeholder that marks the module root. Every build selects one Argo release's dependency
// graph with -modfile=argo-vX.Y.mod (see build.sh and update-go-modules.sh); this file is not read.
module kubeflow-spot/localcluster/go/argo-config

go 1.26.0
