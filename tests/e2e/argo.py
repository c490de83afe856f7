"""The Workflow helpers of the e2e tests, shared with `make demo` from localcluster.workflows."""

from localcluster.workflows import (
    EXIT_CODE_ANNOTATION,
    FINISHED,
    RUN_ANNOTATION,
    Attempt,
    _time,
    attempts,
    named,
    nodes_of_type,
    pods,
    poll,
    status,
    submit,
    wait_finished,
    wait_running,
    with_annotations,
    with_backoff,
)

__all__ = [
    "EXIT_CODE_ANNOTATION",
    "FINISHED",
    "RUN_ANNOTATION",
    "Attempt",
    "_time",
    "attempts",
    "named",
    "nodes_of_type",
    "pods",
    "poll",
    "status",
    "submit",
    "wait_finished",
    "wait_running",
    "with_annotations",
    "with_backoff",
]
