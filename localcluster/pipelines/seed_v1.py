"""The seed guide's three pipelines, compiled by the real KFP v1 SDK (kfp==1.8.22).

Run with the SDK's own environment (`make kfp-sdk` installs it into .tools/kfp):

    .tools/kfp/bin/python localcluster/pipelines/seed_v1.py OUTPUT_DIR

writes base.yaml, spot.yaml and spot-retry.yaml (Argo Workflows, as KFP v1 submits them).

Changes from the guide (deploy-kubeflow-pipelines-with-aks-spot-instances), and why:
- `set_retry(num_retries=5, backoff_dureation="5m")` is a typo the SDK rejects (TypeError: an
  unexpected keyword); it is written `backoff_duration` here, which is what the guide means.
- The downloaded tarball is passed to the merge step as a parameter instead of an artifact:
  no artifact repository runs in the test cluster. The tasks, their order and every scheduling
  and retry call are the guide's.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kfp import compiler, components, dsl
from kubernetes.client.models import (
    V1Affinity,
    V1NodeAffinity,
    V1NodeSelector,
    V1NodeSelectorRequirement,
    V1NodeSelectorTerm,
    V1Toleration,
)

# The guide's web_downloader_op (Kubeflow's components/contrib/web/Download), with its output
# read as a parameter.
web_downloader_op = components.load_component_from_text(
    """
name: Download data
inputs:
- {name: url, type: URI}
outputs:
- {name: data}
implementation:
  container:
    image: curlimages/curl
    command:
    - sh
    - -exc
    - |
      url="$0"
      output_path="$1"
      mkdir -p "$(dirname "$output_path")"
      curl --get "$url" --output "$output_path"
    - {inputValue: url}
    - {outputPath: data}
"""
)


def merge_csv(file: str) -> str:
    """Extract the tarball and concatenate its CSV files (the guide's merge step)."""
    import glob
    import tarfile

    import pandas as pd

    with tarfile.open(name=file, mode="r|gz") as archive:
        archive.extractall("data")
    frame = pd.concat([pd.read_csv(name, header=None) for name in glob.glob("data/*.csv")])
    frame.to_csv("merged.csv", index=False, header=False)
    return "merged.csv"


create_step_merge_csv = components.create_component_from_func(
    func=merge_csv, base_image="python:3.7", packages_to_install=["pandas==1.1.4"]
)

SPOT_KEY = "kubernetes.azure.com/scalesetpriority"


def _spot(task: dsl.ContainerOp) -> None:
    task.add_toleration(
        V1Toleration(key=SPOT_KEY, operator="Equal", value="spot", effect="NoSchedule")
    )
    task.add_affinity(
        V1Affinity(
            node_affinity=V1NodeAffinity(
                required_during_scheduling_ignored_during_execution=V1NodeSelector(
                    node_selector_terms=[
                        V1NodeSelectorTerm(
                            match_expressions=[
                                V1NodeSelectorRequirement(
                                    key=SPOT_KEY, operator="In", values=["spot"]
                                )
                            ]
                        )
                    ]
                )
            )
        )
    )


@dsl.pipeline(name="base_pipeline", description="my base pipeline")
def base_pipeline(url):
    """Download, then merge: no spot settings (the guide's base pipeline)."""
    web_downloader_task = web_downloader_op(url=url)
    create_step_merge_csv(file=web_downloader_task.outputs["data"])


@dsl.pipeline(name="base_pipeline", description="my base pipeline")
def spot_pipeline(url):
    """Both tasks tolerate spot and require a spot node."""
    web_downloader_task = web_downloader_op(url=url)
    merge_csv_task = create_step_merge_csv(file=web_downloader_task.outputs["data"])
    _spot(web_downloader_task)
    _spot(merge_csv_task)


@dsl.pipeline(name="base_pipeline", description="my base pipeline")
def spot_retry_pipeline(url):
    """Run the spot pipeline with set_retry(5, 5m) on both tasks."""
    web_downloader_task = web_downloader_op(url=url)
    merge_csv_task = create_step_merge_csv(file=web_downloader_task.outputs["data"])
    _spot(web_downloader_task)
    _spot(merge_csv_task)
    web_downloader_task.set_retry(num_retries=5, backoff_duration="5m")
    merge_csv_task.set_retry(num_retries=5, backoff_duration="5m")


PIPELINES = {"base": base_pipeline, "spot": spot_pipeline, "spot-retry": spot_retry_pipeline}


def main(output: Path) -> None:
    """Compile every pipeline into OUTPUT_DIR/<name>.yaml."""
    output.mkdir(parents=True, exist_ok=True)
    for name, pipeline in PIPELINES.items():
        compiler.Compiler().compile(pipeline, str(output / f"{name}.yaml"))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
