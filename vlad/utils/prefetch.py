"""Prefetch: run an iterable on a background thread, a bounded number of items ahead.

Decoding a video (:meth:`vlad.media.video.VideoReader.iter_frames`) then overlaps the
caller's own work (embedding, scoring) without holding more than a few items in memory.
Nothing here is specific to video: any iterable can be prefetched.
"""

from __future__ import annotations

import logging
import numbers
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from vlad.errors import ConfigError
from vlad.utils.messages import exception_detail

__all__ = ["prefetch"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_ITEM, _DONE, _FAILED = 0, 1, 2
_PUT_WAIT_S = 0.05
_JOIN_WAIT_S = 10.0


def prefetch(items: Iterable[T], *, maxsize: int = 8) -> Iterator[T]:
    """Run an iterable on a background thread, ``maxsize`` items ahead of the consumer.

    Decoding then overlaps the consumer's own work (embedding, scoring). Items arrive in
    order; an exception raised by the producer is raised in the consumer, with its
    traceback. The thread starts at the first ``next()``; when the consumer stops early
    (``close()``, ``break`` out of a ``for`` loop that owns the iterator, or garbage
    collection), the producer stops at its next item and closes ``items`` when it is a
    generator, so no thread is left running.

    Args:
        items: Any iterable, e.g. :meth:`vlad.media.video.VideoReader.iter_frames`.
        maxsize: Items buffered at most (bounds memory).

    Returns:
        An iterator over the same items.

    Raises:
        ConfigError: When ``maxsize`` is not a positive integer.
    """
    if isinstance(maxsize, bool) or not isinstance(maxsize, numbers.Integral) or maxsize < 1:
        raise ConfigError(
            f"maxsize must be a positive whole number, not {maxsize!r}.", param="maxsize"
        )
    return _prefetched(items, int(maxsize))


def _prefetched(items: Iterable[T], maxsize: int) -> Iterator[T]:
    buffer: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize)
    stop = threading.Event()

    def put(kind: int, value: Any) -> bool:
        while not stop.is_set():
            try:
                buffer.put((kind, value), timeout=_PUT_WAIT_S)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put(_ITEM, item):
                    return
            put(_DONE, None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(_FAILED, exc)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:  # nobody is left to receive it
                    log.debug("Closing the prefetched iterable failed: %s", exception_detail(exc))

    thread = threading.Thread(target=produce, name="vlad-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = buffer.get()
            if kind == _ITEM:
                yield value
            elif kind == _DONE:
                return
            else:
                raise value
    finally:
        stop.set()
        thread.join(_JOIN_WAIT_S)
