"""A deadline for one hook or action's whole conversation with the Kubernetes API.

Each lightkube request has its own timeout (10 s), but a hook that sends hundreds of requests to
a stalled API server would still hold the unit for many minutes. `DeadlineClient` wraps the real
client and checks one deadline before every request and every item a LIST streams, so a
reconcile stops cleanly between requests once its time is up; the next hook carries on, since
each reconcile converges from whatever the cluster holds. The overrun past the deadline is at
most one request's timeout. This module imports neither ops nor lightkube.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

RECONCILE_DEADLINE_SECONDS = 60.0
"""How long one reconcile may talk to the API before it stops with Waiting."""
ACTION_DEADLINE_SECONDS = 60.0
"""How long one action may talk to the API before it fails with the reason."""

_CALLS = frozenset({"get", "list", "apply", "create", "delete", "patch", "replace"})


class DeadlineExceededError(Exception):
    """The deadline passed before the next request; nothing after it was sent."""

    def __init__(self, seconds: float):
        super().__init__(f"stopped at its {seconds:g} s deadline, the Kubernetes API is slow")
        self.seconds = seconds


class Deadline:
    """A point in time, `seconds` from when it is made, on the monotonic clock."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def check(self) -> None:
        """Raise DeadlineExceededError once the deadline has passed."""
        if self._clock() >= self._end:
            raise DeadlineExceededError(self.seconds)


class DeadlineClient:
    """A lightkube client whose requests each first check a deadline."""

    def __init__(self, client: Any, deadline: Deadline):
        self._client = client
        self._deadline = deadline

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in _CALLS:
            return attribute

        def checked(*args: Any, **kwargs: Any) -> Any:
            self._deadline.check()
            result = attribute(*args, **kwargs)
            return self._checked_items(result) if name == "list" else result

        return checked

    def _checked_items(self, items: Iterable[Any]) -> Iterator[Any]:
        # A LIST pages lazily: each further page is a request of its own, and the last one may
        # end past the deadline with no item after it.
        for item in items:
            self._deadline.check()
            yield item
        self._deadline.check()
