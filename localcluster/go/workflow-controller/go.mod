// Placeholder that marks the module root. Every build selects one Argo release's dependency
// graph with -modfile=argo-vX.Y.mod (see build-e2e.sh and update-go-modules.sh); this file is not read.
module kubeflow-spot/localcluster/go/workflow-controller

go 1.26.0
