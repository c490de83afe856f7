// argo-config-check runs Argo's own code on what the charm writes, built once per pinned Argo
// release. It has three modes:
//
//	argo-config-check KUBECONFIG NAMESPACE CONFIGMAP [STATUS:MESSAGE...]
//
// loads Argo's workflow-controller ConfigMap from a cluster with Argo's own config loader (the
// code the workflow controller runs at start-up and on every change) and prints the parsed
// workflowDefaults as JSON. It exits 1 when Argo would reject the ConfigMap, which in a real
// cluster crash-loops the workflow controller. Each further argument STATUS:MESSAGE describes a
// failed attempt of a step (Argo node phase Error or Failed, and its message). For each, the
// output says whether the default retry strategy's expression lets Argo retry it, evaluated
// with Argo's own expression code and the same lastRetry variables the workflow controller sets.
//
//	argo-config-check load KUBECONFIG NAMESPACE < names
//
// loads many ConfigMaps in one process: stdin has one JSON string (a ConfigMap name) per line;
// each answer line says whether Argo's loader accepts it, and how Argo parses the retry
// backoff's duration and maxDuration when it retries a step.
//
//	argo-config-check durations < values
//
// parses many duration strings: stdin has one JSON string per line (JSON, so a value may hold a
// newline), and each answer line gives Argo's ParseStringToDuration (what the controller calls on
// retryStrategy.backoff when it retries a step: workflow/controller/operator.go
// processNodeRetries; 3.4 has an identical unexported copy there) and Go's time.ParseDuration.
//
// One source, built once per Argo release: each release's dependency graph is its own modfile
// (argo-vX.Y.mod), selected with `go build -modfile`.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/argoproj/argo-workflows/v3/config"
	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/util/expr/argoexpr"
	"github.com/argoproj/argo-workflows/v3/util/expr/env"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type result struct {
	WorkflowDefaults any             `json:"workflowDefaults"`
	Retries          map[string]bool `json:"retries"`
}

// parsed is one parser's answer for one duration string.
type parsed struct {
	OK          bool   `json:"ok"`
	Nanoseconds int64  `json:"nanoseconds"`
	Error       string `json:"error,omitempty"`
}

type durationAnswer struct {
	Value string `json:"value"`
	Argo  parsed `json:"argo"`
	Go    parsed `json:"go"`
}

type loadAnswer struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// How Argo parses the default retryStrategy's backoff, by field; absent fields are left out.
	Backoff map[string]parsed `json:"backoff,omitempty"`
}

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "durations" {
		durations(os.Stdin, os.Stdout)
		return
	}
	if len(os.Args) == 4 && os.Args[1] == "load" {
		loadMany(clientset(os.Args[2]), os.Args[3], os.Stdin, os.Stdout)
		return
	}
	if len(os.Args) < 4 {
		fail(2, "usage: argo-config-check KUBECONFIG NAMESPACE CONFIGMAP [STATUS:MESSAGE...]\n"+
			"       argo-config-check load KUBECONFIG NAMESPACE < names (JSON lines)\n"+
			"       argo-config-check durations < values (JSON lines)")
	}
	loaded, err := config.NewController(os.Args[2], os.Args[3], clientset(os.Args[1])).Get(context.Background())
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

func clientset(kubeconfig string) kubernetes.Interface {
	restConfig, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		fail(2, err)
	}
	clients, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		fail(2, err)
	}
	return clients
}

// eachLine calls handle with every JSON string read from in, one per line, and encodes each
// answer as one line of out.
func eachLine(in io.Reader, out io.Writer, handle func(string) any) {
	scanner := bufio.NewScanner(in)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	writer := bufio.NewWriter(out)
	encoder := json.NewEncoder(writer)
	for scanner.Scan() {
		var value string
		if err := json.Unmarshal(scanner.Bytes(), &value); err != nil {
			fail(2, fmt.Errorf("input line %q is not a JSON string: %w", scanner.Text(), err))
		}
		if err := encoder.Encode(handle(value)); err != nil {
			fail(2, err)
		}
	}
	if err := scanner.Err(); err != nil {
		fail(2, err)
	}
	if err := writer.Flush(); err != nil {
		fail(2, err)
	}
}

func durations(in io.Reader, out io.Writer) {
	eachLine(in, out, func(value string) any {
		argo, argoErr := wfv1.ParseStringToDuration(value)
		golang, goErr := time.ParseDuration(value)
		return durationAnswer{Value: value, Argo: answer(argo, argoErr), Go: answer(golang, goErr)}
	})
}

func answer(d time.Duration, err error) parsed {
	if err != nil {
		return parsed{Error: err.Error()}
	}
	return parsed{OK: true, Nanoseconds: int64(d)}
}

func loadMany(clients kubernetes.Interface, namespace string, in io.Reader, out io.Writer) {
	eachLine(in, out, func(name string) any {
		loaded, err := config.NewController(namespace, name, clients).Get(context.Background())
		if err != nil {
			return loadAnswer{Name: name, Error: err.Error()}
		}
		found := loadAnswer{Name: name, OK: true}
		defaults := loaded.WorkflowDefaults
		if defaults == nil || defaults.Spec.RetryStrategy == nil || defaults.Spec.RetryStrategy.Backoff == nil {
			return found
		}
		found.Backoff = map[string]parsed{}
		backoff := defaults.Spec.RetryStrategy.Backoff
		for field, value := range map[string]string{"duration": backoff.Duration, "maxDuration": backoff.MaxDuration} {
			if value != "" {
				found.Backoff[field] = answer(wfv1.ParseStringToDuration(value))
			}
		}
		return found
	})
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
