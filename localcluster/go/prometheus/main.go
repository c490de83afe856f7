// promql-check parses PromQL expressions with Prometheus's own parser (the one promtool and the
// Prometheus server use) and prints, for each, the parse error or the metric names, label names
// and grouping labels it uses, so the tests can check dashboard queries against the metrics
// contract without a running Prometheus.
//
// Input on stdin: a JSON array of expressions. Output on stdout: a JSON array, one object per
// expression, in order: {"expr", "error", "type", "metrics", "labels", "grouping", "selectors"},
// where selectors lists every vector selector with its label matchers as "name op value".
// Exit status 0 even when an expression fails to parse: the caller decides what a failure means.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/prometheus/prometheus/promql/parser"
)

type result struct {
	Expr     string   `json:"expr"`
	Error    string   `json:"error"`
	Type     string   `json:"type"`
	Metrics  []string `json:"metrics"`
	Labels   []string `json:"labels"`
	Grouping []string `json:"grouping"`
	// Selectors: one entry per vector selector, in the order of the expression.
	Selectors []selector `json:"selectors"`
}

type selector struct {
	Metric   string   `json:"metric"`
	Matchers []string `json:"matchers"`
}

func sorted(set map[string]struct{}) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func check(p parser.Parser, input string) result {
	res := result{
		Expr: input, Metrics: []string{}, Labels: []string{}, Grouping: []string{},
		Selectors: []selector{},
	}
	expr, err := p.ParseExpr(input)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Type = string(expr.Type())
	metrics, labelNames, grouping := map[string]struct{}{}, map[string]struct{}{}, map[string]struct{}{}
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			if n.Name != "" {
				metrics[n.Name] = struct{}{}
			}
			sel := selector{Metric: n.Name, Matchers: []string{}}
			for _, m := range n.LabelMatchers {
				if m.Name != "__name__" {
					labelNames[m.Name] = struct{}{}
					sel.Matchers = append(sel.Matchers, m.Name+" "+m.Type.String()+" "+m.Value)
				}
			}
			res.Selectors = append(res.Selectors, sel)
		case *parser.AggregateExpr:
			for _, g := range n.Grouping {
				grouping[g] = struct{}{}
			}
		case *parser.BinaryExpr:
			if n.VectorMatching != nil {
				for _, g := range n.VectorMatching.MatchingLabels {
					grouping[g] = struct{}{}
				}
			}
		}
		return nil
	})
	res.Metrics, res.Labels, res.Grouping = sorted(metrics), sorted(labelNames), sorted(grouping)
	return res
}

func main() {
	var exprs []string
	if err := json.NewDecoder(os.Stdin).Decode(&exprs); err != nil {
		fmt.Fprintf(os.Stderr, "promql-check: stdin must be a JSON array of strings: %v\n", err)
		os.Exit(2)
	}
	p := parser.NewParser(parser.Options{})
	results := make([]result, 0, len(exprs))
	for _, e := range exprs {
		results = append(results, check(p, e))
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fmt.Fprintf(os.Stderr, "promql-check: %v\n", err)
		os.Exit(1)
	}
}
