"""The deadline of a hook or action: checked before each request and each streamed LIST item."""

from __future__ import annotations

import pytest

from deadline import Deadline, DeadlineClient, DeadlineExceededError


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """Stands in for a lightkube client: records calls, advances the clock per request."""

    def __init__(self, clock: Clock, seconds_per_request: float):
        self.clock, self.step, self.calls = clock, seconds_per_request, []

    def get(self, name: str) -> str:
        self.calls.append(("get", name))
        self.clock.now += self.step
        return name

    def list(self, count: int):
        self.calls.append(("list", count))
        for index in range(count):
            self.clock.now += self.step
            yield index


def test_requests_stop_once_the_deadline_has_passed():
    clock = Clock()
    recorder = Recorder(clock, seconds_per_request=1.0)
    client = DeadlineClient(recorder, Deadline(2.5, clock=clock))

    def get_four() -> None:
        for name in ("a", "b", "c", "d"):
            client.get(name)

    with pytest.raises(DeadlineExceededError, match="2.5 s deadline"):
        get_four()

    assert recorder.calls == [("get", "a"), ("get", "b"), ("get", "c")]


def test_a_list_stops_between_items_past_the_deadline():
    clock = Clock()
    client = DeadlineClient(Recorder(clock, seconds_per_request=1.0), Deadline(2.5, clock=clock))

    seen = []
    with pytest.raises(DeadlineExceededError):
        seen.extend(client.list(10))

    assert seen == [0, 1]


def test_other_attributes_pass_through_unchecked():
    clock = Clock()
    clock.now = 100.0
    recorder = Recorder(clock, 1.0)
    client = DeadlineClient(recorder, Deadline(1.0, clock=Clock()))

    assert client.step == 1.0
