"""The placement report: where each Kubeflow pod runs, whether that is right, and what it saves.

From the cluster to the action's results, one module per step: `request` (the action's
params), `reader` (nodes and pods, a page at a time, into `facts` records), `rules` (node type,
verdict), `tally` (counts), `summary` (the frozen result of a tally), `report` (table,
json/yaml document, results) and `action_results` (fitting the report into Juju's limits).
Only `reader` imports lightkube; none imports ops.
"""
