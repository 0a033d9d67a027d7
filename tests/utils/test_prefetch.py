"""Tests of vlad.utils.prefetch: order, errors, early stops, no thread left behind."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from vlad.errors import ConfigError
from vlad.utils.prefetch import prefetch


def _wait_for_threads(count: int, timeout: float = 3.0) -> int:
    deadline = time.monotonic() + timeout
    while threading.active_count() > count and time.monotonic() < deadline:
        time.sleep(0.01)
    return threading.active_count()


def test_prefetch_keeps_order() -> None:
    before = threading.active_count()
    assert list(prefetch(range(200), maxsize=3)) == list(range(200))
    assert list(prefetch([], maxsize=1)) == []
    assert _wait_for_threads(before) == before


def test_prefetch_reraises_the_producer_error() -> None:
    def broken():
        yield 1
        yield 2
        raise KeyError("no such frame")

    got = []
    with pytest.raises(KeyError, match="no such frame"):
        for item in prefetch(broken()):
            got.append(item)
    assert got == [1, 2]


@pytest.mark.parametrize("how", ["close", "gc", "break"])
def test_prefetch_early_stop_leaves_no_thread(how: str) -> None:
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    before = threading.active_count()
    items = prefetch(endless(), maxsize=2)
    assert threading.active_count() == before  # nothing runs before the first next()
    if how == "break":
        for item in items:
            if item == 5:
                break
        items.close()  # what a for loop over a generator expression does on exit
    else:
        assert [next(items) for _ in range(5)] == [0, 1, 2, 3, 4]
        assert threading.active_count() == before + 1
        if how == "close":
            items.close()
        else:
            del items
            gc.collect()
    assert _wait_for_threads(before) == before
    assert closed.wait(1)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_prefetch_refuses_a_bad_maxsize(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"^maxsize must be a positive whole number") as exc:
        prefetch([1], maxsize=bad)  # type: ignore[arg-type]
    assert exc.value.param == "maxsize"


def test_prefetch_is_re_exported_by_the_video_package() -> None:
    import vlad.media.video

    assert vlad.media.video.prefetch is prefetch
