"""ReadAhead (dynamics/read_ahead.py): the consumer gets the source's pages in order, the
source's error where it occurred, and a closed reader stops reading."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from dynamics.read_ahead import ReadAhead, read_ahead


def test_pages_arrive_in_order_and_the_next_one_is_read_while_this_one_is_used() -> None:
    produced: list[int] = []
    second_read = threading.Event()

    def pages() -> Iterator[int]:
        for page in range(5):
            produced.append(page)
            if page == 1:
                second_read.set()
            yield page

    reader = ReadAhead(pages)
    assert next(reader) == 0
    # The consumer has not asked for page 1 yet; the thread has read it already.
    assert second_read.wait(5)
    assert list(reader) == [1, 2, 3, 4]
    assert produced == [0, 1, 2, 3, 4]
    reader.close()


def test_an_error_reaches_the_consumer_after_the_pages_before_it() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise ConnectionError("the CRM went away")

    reader = ReadAhead(pages)
    assert next(reader) == 1 and next(reader) == 2
    with pytest.raises(ConnectionError, match="went away"):
        next(reader)
    with pytest.raises(StopIteration):  # nothing after the error
        next(reader)
    reader.close()


def test_an_error_of_the_first_request_is_raised_by_the_first_next() -> None:
    def pages() -> Iterator[int]:
        raise PermissionError("no read privilege")
        yield 0  # pragma: no cover - a generator

    with pytest.raises(PermissionError):
        next(ReadAhead(pages))


def test_a_closed_reader_stops_reading_within_its_depth() -> None:
    produced: list[int] = []

    def endless() -> Iterator[int]:
        page = 0
        while True:
            produced.append(page)
            yield page
            page += 1

    reader = ReadAhead(endless, depth=2)
    assert next(reader) == 0
    reader.close()  # returns: the thread did not stay blocked on the full queue
    stopped_at = len(produced)
    assert stopped_at <= 1 + 2 + 1  # consumed, queued (depth), the one waiting to be queued
    with pytest.raises(StopIteration):
        next(reader)


def test_without_a_second_thread_the_pages_are_read_lazily_in_this_one() -> None:
    threads: set[str] = set()

    def pages() -> Iterator[int]:
        threads.add(threading.current_thread().name)
        yield 1

    reader = read_ahead(pages, enabled=False)
    assert not threads  # nothing read before the first next()
    assert list(reader) == [1]
    assert threads == {threading.current_thread().name}
