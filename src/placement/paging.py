"""Read a paginated LIST one page ahead: the API server builds page n+1 while page n is counted.

Reading a page and counting it took turns: while the report counted 500 pods the connection was
idle, and while the API server read etcd and encoded the next page the report waited. With
`read_ahead`, one thread iterates the LIST (sends each request, decodes each page) and hands
whole pages to the caller over a queue of one, so the two overlap (issue 13: `make bench`
shows the report against the floor of its own requests). At most three pages are held at
once: the one counted, the one waiting, the one being read. Only that thread uses the client
until the caller has the last page. Pure: no ops, no lightkube.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")

_POLL_SECONDS = 0.1


def read_ahead(items: Iterable[Item], page_size: int) -> Iterator[Item]:
    """Yield every item of `items`, iterated on a thread of its own up to a page ahead.

    What iterating raises (an API error, a passed deadline) is raised here, in the caller's
    thread, at the point where the items stop. If the caller stops early, the thread stops
    after the page it is reading.
    """
    pages: queue.Queue[list[Item] | BaseException | None] = queue.Queue(maxsize=1)  # None: done
    stop = threading.Event()

    def hand_over(thing: list[Item] | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                pages.put(thing, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        page: list[Item] = []
        try:
            for item in items:
                page.append(item)
                if len(page) == page_size:
                    if not hand_over(page):
                        return
                    page = []
            if hand_over(page):
                hand_over(None)
        except BaseException as error:  # raised again in the caller's thread
            if not page or hand_over(page):
                hand_over(error)

    reader = threading.Thread(target=read, name="read-ahead", daemon=True)
    reader.start()
    try:
        while (page := pages.get()) is not None:
            if isinstance(page, BaseException):
                raise page
            yield from page
    finally:
        stop.set()
        reader.join()
