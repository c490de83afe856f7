"""Argo's published JSON schema, made strict the way Argo's own config parser is.

Argo reads its ConfigMap with `yaml.UnmarshalStrict`, so an unknown field anywhere crash-loops
the workflow controller. The published schema never says `additionalProperties: false`; this
module adds it to every object definition that lists its properties.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema

from localcluster.upstream import argo_schema_path

WORKFLOW = "io.argoproj.workflow.v1alpha1.Workflow"


def _forbid_unknown_fields(node: Any) -> None:
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for child in node.values():
            _forbid_unknown_fields(child)
    elif isinstance(node, list):
        for child in node:
            _forbid_unknown_fields(child)


@functools.cache
def strict_workflow_validator(argo_minor: str) -> jsonschema.Draft202012Validator:
    """Return a validator for a Workflow document under the given Argo minor version's schema."""
    schema = json.loads(argo_schema_path(argo_minor).read_text())
    _forbid_unknown_fields(schema["definitions"])
    workflow = {"$ref": f"#/definitions/{WORKFLOW}", "definitions": schema["definitions"]}
    return jsonschema.Draft202012Validator(workflow)


def workflow_errors(document: dict[str, Any], argo_minor: str) -> list[str]:
    """Return every schema violation of a Workflow document, as `path: message` lines."""
    validator = strict_workflow_validator(argo_minor)
    return [
        f"{'.'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]
