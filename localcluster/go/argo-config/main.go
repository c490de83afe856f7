// argo-config-check loads Argo's workflow-controller ConfigMap from a cluster with Argo's own
// config loader (the code the workflow controller runs at start-up and on every change) and
// prints the parsed workflowDefaults as JSON. It exits 1 when Argo would reject the ConfigMap,
// which in a real cluster crash-loops the workflow controller.
//
// Each further argument STATUS:MESSAGE describes a failed attempt of a step (Argo node phase
// Error or Failed, and its message). For each, the output says whether the default retry
// strategy's expression lets Argo retry it, evaluated with Argo's own expression code and the
// same lastRetry variables the workflow controller sets.
//
// One source, built once per Argo release: each release's dependency graph is its own modfile
// (argo-vX.Y.mod), selected with `go build -modfile`.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/argoproj/argo-workflows/v3/config"
	"github.com/argoproj/argo-workflows/v3/util/expr/argoexpr"
	"github.com/argoproj/argo-workflows/v3/util/expr/env"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type result struct {
	WorkflowDefaults any             `json:"workflowDefaults"`
	Retries          map[string]bool `json:"retries"`
}

func main() {
	if len(os.Args) < 4 {
		fail(2, "usage: argo-config-check KUBECONFIG NAMESPACE CONFIGMAP [STATUS:MESSAGE...]")
	}
	restConfig, err := clientcmd.BuildConfigFromFlags("", os.Args[1])
	if err != nil {
		fail(2, err)
	}
	clientset, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		fail(2, err)
	}
	loaded, err := config.NewController(os.Args[2], os.Args[3], clientset).Get(context.Background())
	if err != nil {
		fail(1, err)
	}
	out := result{WorkflowDefaults: loaded.WorkflowDefaults, Retries: map[string]bool{}}
	if defaults := loaded.WorkflowDefaults; defaults != nil && defaults.Spec.RetryStrategy != nil {
		expression := defaults.Spec.RetryStrategy.Expression
		for _, attempt := range os.Args[4:] {
			if expression == "" {
				break
			}
			out.Retries[attempt], err = retries(expression, attempt)
			if err != nil {
				fail(1, err)
			}
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(2, err)
	}
}

// retries evaluates a retry expression for one failed attempt "STATUS:MESSAGE", with the
// variables of workflow/controller/operator.go buildRetryStrategyLocalScope.
func retries(expression, attempt string) (bool, error) {
	status, message, found := strings.Cut(attempt, ":")
	if !found {
		return false, fmt.Errorf("attempt %q is not STATUS:MESSAGE", attempt)
	}
	scope := map[string]any{
		"retries":            "0",
		"lastRetry.exitCode": "-1",
		"lastRetry.status":   status,
		"lastRetry.duration": "60",
		"lastRetry.message":  message,
	}
	return argoexpr.EvalBool(expression, env.GetFuncMap(scope))
}

func fail(code int, reason any) {
	fmt.Fprintln(os.Stderr, reason)
	os.Exit(code)
}
