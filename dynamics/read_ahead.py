"""Read a paged CRM answer ahead of its consumer, in a thread of its own.

A paged read (change tracking, ``@odata.nextLink``) is a chain: each page names the next,
so one table's pages cannot be asked for side by side. Several tables' chains can, and a
table's next page can travel while the caller writes the current one to the database.
``ReadAhead`` iterates a source in a background thread, at most ``depth`` pages ahead of
the consumer (memory: a few pages, whatever the table's size).

The thread only talks to the CRM: the consumer does every database write, in its own
thread and transaction. Errors reach the consumer at the position they occurred, so a
caller handles them as it would without the read-ahead (a first request's error is raised
by the first ``next()``). Use it only where the client may be used from two threads at
once: an on-premise server's NTLM handshake cannot (``ParallelExecutor.ceiling`` is 1 there).

No network wait inside a database transaction: the thread's requests do not hold the
job's transaction (the job is not waiting for them), so the transaction guard lets them
through (``reading_ahead``); the job waits for the network only in ``next()``, which calls
``before_wait`` — the guard — every time, whether the page has arrived or not.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
_END = object()
_POLL_SECONDS = 0.2  # how often a full queue checks whether the consumer gave up
CLOSE_WAIT_SECONDS = 2.0  # how long close() waits for a thread that is not in a request
_local = threading.local()


def reading_ahead() -> bool:
    """True in a read-ahead thread: its requests run beside the job, not inside it."""
    return bool(getattr(_local, "reading_ahead", False))


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class ReadAhead(Generic[T]):
    def __init__(self, source: Callable[[], Iterator[T]], depth: int = 1, *,
                 before_wait: Callable[[str], None] | None = None) -> None:
        self._before_wait = before_wait
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._fill, args=(source,), daemon=True,
                                        name="crm-read-ahead")
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self, source: Callable[[], Iterator[T]]) -> None:
        _local.reading_ahead = True
        pages = None
        try:
            pages = source()
            while not self._stop.is_set():  # no further request once the consumer closed
                try:
                    item = next(pages)
                except StopIteration:
                    self._put(_END)
                    return
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer as it is
            self._put(_Failed(exc))
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        if self._before_wait is not None:
            self._before_wait("GET (a page read ahead)")
        item = self._queue.get()
        if item is _END:
            self._done = True
            raise StopIteration
        if isinstance(item, _Failed):
            self._done = True
            raise item.error
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop reading (pages not consumed are dropped). Waits briefly for the thread: one
        inside a request (with its retries, minutes) ends on its own after that request,
        sends no other, and as a daemon never holds the process."""
        self._done = True
        self._stop.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=CLOSE_WAIT_SECONDS)


class Pages(Protocol[T_co]):
    """Pages to iterate, then ``close`` (a ``ReadAhead`` or a generator)."""

    def __iter__(self) -> Iterator[T_co]: ...
    def __next__(self) -> T_co: ...
    def close(self) -> None: ...


def read_ahead(source: Callable[[], Iterator[T]], *, enabled: bool, depth: int = 1,
               before_wait: Callable[[str], None] | None = None) -> Pages[T]:
    """``source()`` read ahead in a thread when ``enabled``, else lazily in this thread
    (the same pages either way)."""
    return ReadAhead(source, depth, before_wait=before_wait) if enabled else _lazy(source)


def _lazy(source: Callable[[], Iterator[T]]) -> Generator[T, None, None]:
    yield from source()
