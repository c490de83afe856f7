"""The placement exporter: report-placement's verdicts kept current by watching the cluster.

`python3 -m exporter --config /etc/kubeflow-spot/exporter.json --port 9876` (src/ on
PYTHONPATH): one LIST+WATCH of nodes and one of pods (`watch`), their facts judged by the
placement report's own tally (`state`), counted into Prometheus metrics (`metrics`) served with
a health endpoint (`server`); `live` holds it together behind one lock and `config` reads the
charm's config file, again whenever it changes. The README's "Continuous watch" section lists
the metrics. No module imports ops.
"""
