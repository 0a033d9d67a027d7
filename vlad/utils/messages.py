"""One-line messages: what a person reads must fit on one line and show what is really there.

Errors reach people as one sentence (:mod:`vlad.errors`). The text they quote (a file name,
a decoder's complaint, an unexpected exception) can hold newlines, control characters or
pages of C++ context; these helpers turn it into something that fits in that sentence.
"""

from __future__ import annotations

import re

__all__ = ["exception_detail", "first_line", "one_line", "printable"]

DETAIL_LIMIT = 160
"""Longest :func:`exception_detail` text, in characters."""

ONE_LINE_LIMIT = 200
"""Longest :func:`one_line` text by default, in characters."""


def printable(text: str) -> str:
    r"""Return ``text`` with control characters (newlines included) escaped.

    Args:
        text: Any text, e.g. a file name.

    Returns:
        The text, each unprintable character written as its Python escape.

    Example:
        >>> printable("bad\nname\t.mp4")
        'bad\\nname\\t.mp4'
    """
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def one_line(text: str, limit: int = ONE_LINE_LIMIT) -> str:
    r"""Collapse every run of whitespace (newlines included) to one space and cap the length.

    Args:
        text: Any text, e.g. an exception's message.
        limit: Longest result; longer text is cut and ends with ``...``.

    Returns:
        The text on one line, at most ``limit`` characters long.

    Example:
        >>> one_line("  a\n  b  c ")
        'a b c'
        >>> one_line("abcdefghij", limit=8)
        'abcde...'
    """
    text = " ".join(text.split())
    return _truncate(text, limit)


def exception_detail(
    exc: BaseException, *, limit: int = DETAIL_LIMIT, drop: re.Pattern[str] | None = None
) -> str:
    r"""A short, one-line description of a library's exception, to quote inside a sentence.

    The message's whitespace is collapsed, ``drop`` (e.g. a decoder's source-file prefix)
    is removed, control characters are escaped, a final full stop is dropped (the quoting
    sentence goes on) and the result is capped. An exception without a message is named
    by its type.

    Args:
        exc: The exception.
        limit: Longest result; longer text is cut and ends with ``...``.
        drop: A pattern removed from the message wherever it matches.

    Returns:
        The description.

    Example:
        >>> exception_detail(OSError("disk\nfull."))
        'disk full'
        >>> exception_detail(KeyError())
        'KeyError'
    """
    text = " ".join(str(exc).split())
    if drop is not None:
        text = drop.sub("", text)
    text = printable(text or type(exc).__name__).rstrip(".")
    return _truncate(text, limit)


def first_line(exc: BaseException, limit: int = ONE_LINE_LIMIT) -> str:
    r"""The first line of an exception's message, for libraries that add context below it.

    FAISS and vLLM put the useful sentence first and pages of C++ or Python context after
    it; only that first line is worth quoting.

    Args:
        exc: The exception.
        limit: Longest result; longer text is cut and ends with ``...``.

    Returns:
        The first non-blank line (the type's name when the message is empty).

    Example:
        >>> first_line(RuntimeError("Error in faiss::read_index\n  at index_io.cpp:42"))
        'Error in faiss::read_index'
        >>> first_line(ValueError(""))
        'ValueError'
    """
    lines = str(exc).strip().splitlines()
    return _truncate(lines[0].strip() if lines else type(exc).__name__, limit)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
