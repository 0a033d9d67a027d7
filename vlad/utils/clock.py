"""Times as people read them: ``m:ss`` clocks, spans and file-name stamps, written once."""

from __future__ import annotations

import math


def clock(seconds: float) -> str:
    """``m:ss`` for a time in seconds (``h:mm:ss`` from an hour), rounded down.

    >>> clock(125.9)
    '2:05'
    >>> clock(3725)
    '1:02:05'
    """
    total = max(0, math.floor(seconds + 1e-6))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def span(start_s: float, end_s: float) -> str:
    """``m:ss–m:ss`` covering ``[start_s, end_s)``: the end is rounded up to a whole second.

    >>> span(2.0, 3.2)
    '0:02–0:04'
    """
    end = max(math.ceil(end_s - 1e-6), math.floor(start_s + 1e-6))
    return f"{clock(start_s)}–{clock(end)}"


def format_clock(seconds: float) -> str:
    """``m:ss.s`` for a time in seconds (``h:mm:ss`` past an hour), as ``vlad detect`` prints.

    >>> format_clock(42.25)
    '0:42.2'
    """
    if seconds >= 3600:
        hours, rest = divmod(int(seconds), 3600)
        return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}"


def file_clock(seconds: float) -> str:
    """``<m>m<ss>`` for file names (no colon): ``file_clock(65) == '1m05'``."""
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}"
