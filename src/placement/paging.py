"""Read a paginated LIST one page ahead: the API server builds page n+1 while page n is counted.

Reading a page and counting it took turns: while the report counted 500 pods the connection was
idle, and while the API server read etcd and encoded the next page the report waited. With
`read_ahead`, one thread iterates the LIST (sends each request, decodes each page) and hands
whole pages to the caller over a queue of one, so the two overlap (issue 13: `make bench`
shows the report against the floor of its own requests). The thread starts when the context is
entered, so the first page is on its way while the caller does other work (the report reads the
nodes meanwhile). At most three pages are held at once: the one counted, the one waiting, the
one being read. Only that thread iterates the LIST. Pure: no ops, no lightkube.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

Item = TypeVar("Item")

PAGE_SIZE = 500
"""Objects a page of the report's LISTs (the `limit` it sends): bounded memory, few requests."""

_POLL_SECONDS = 0.1


class read_ahead(Generic[Item]):  # noqa: N801 - used as a function: `with read_ahead(...) as x`
    """Every item of `items`, iterated on a thread of its own up to a page ahead.

    Use it as a context manager and iterate what it gives: `with read_ahead(pods, 500) as
    pages: for pod in pages: ...`. What iterating raises (an API error, a passed deadline) is
    raised in the caller's thread, at the point where the items stop. Leaving the context, even
    early or on an error, stops the thread after the page it is reading and waits for it.
    """

    def __init__(self, items: Iterable[Item], page_size: int):
        self._items = items
        self._page_size = page_size
        # A page, what iterating raised, or None once every item was handed over.
        self._pages: queue.Queue[list[Item] | BaseException | None] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, name="read-ahead", daemon=True)

    def __enter__(self) -> Iterator[Item]:
        self._reader.start()
        return self._handed_over()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._reader.join()

    def _hand_over(self, thing: list[Item] | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._pages.put(thing, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        page: list[Item] = []
        try:
            for item in self._items:
                page.append(item)
                if len(page) == self._page_size:
                    if not self._hand_over(page):
                        return
                    page = []
            if self._hand_over(page):
                self._hand_over(None)
        except BaseException as error:  # raised again in the caller's thread
            if not page or self._hand_over(page):
                self._hand_over(error)

    def _handed_over(self) -> Iterator[Item]:
        while (page := self._pages.get()) is not None:
            if isinstance(page, BaseException):
                raise page
            yield from page
