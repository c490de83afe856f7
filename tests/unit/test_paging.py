"""Reading a LIST a page ahead on a thread gives the same items, errors and stops as reading it."""

from __future__ import annotations

import threading

import pytest

from placement.paging import read_ahead


def test_every_item_comes_in_order_whatever_the_page_boundaries():
    for count in (0, 1, 4, 5, 6, 23):
        with read_ahead(iter(range(count)), page_size=5) as items:
            assert list(items) == list(range(count))


def test_what_the_list_raises_is_raised_in_the_caller_after_the_items_before_it():
    def pages():
        yield from range(7)
        raise ConnectionError("API server went away")

    seen: list[int] = []
    with pytest.raises(ConnectionError, match="went away"), read_ahead(pages(), 5) as items:
        seen.extend(items)

    assert seen == list(range(7))


def test_a_caller_that_stops_early_stops_the_thread_within_a_page():
    taken = []

    def pages():
        for item in range(1_000):
            taken.append(item)
            yield item

    with read_ahead(pages(), page_size=10) as items:
        assert [next(items) for _ in range(3)] == [0, 1, 2]

    assert not any(t.name == "read-ahead" for t in threading.enumerate())
    assert len(taken) <= 30  # the page handed over, the one waiting, the one being read


def test_the_first_page_is_read_before_the_caller_asks_for_it():
    first_page_read = threading.Event()

    def pages():
        yield from range(10)
        first_page_read.set()
        yield from range(10, 20)

    with read_ahead(pages(), page_size=10) as items:
        assert first_page_read.wait(timeout=10)  # nothing taken yet
        assert list(items) == list(range(20))
