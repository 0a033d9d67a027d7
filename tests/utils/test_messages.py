"""Tests of vlad.utils.messages: quoted text fits on one line and shows what is there."""

from __future__ import annotations

import doctest
import re

import pytest

import vlad.utils.messages
from vlad.utils.messages import exception_detail, first_line, one_line, printable


def test_doctests() -> None:
    result = doctest.testmod(vlad.utils.messages)
    assert result.attempted >= 7 and result.failed == 0


def test_printable_escapes_control_characters_only() -> None:
    assert printable("clip\n2\r\t\x1b.mp4") == "clip\\n2\\r\\t\\x1b.mp4"
    assert printable("Mädchen läuft 走") == "Mädchen läuft 走"
    assert printable("") == ""


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("  one\n\ttwo   three  ", 200, "one two three"),
        ("x" * 200, 200, "x" * 200),
        ("x" * 201, 200, "x" * 197 + "..."),
        ("abcdefghij", 8, "abcde..."),
        ("", 200, ""),
    ],
)
def test_one_line(text: str, limit: int, expected: str) -> None:
    assert one_line(text, limit) == expected
    assert len(one_line(text, limit)) <= limit


def test_exception_detail() -> None:
    assert exception_detail(OSError("No space\nleft on device.")) == "No space left on device"
    assert exception_detail(RuntimeError()) == "RuntimeError"
    assert exception_detail(ValueError("bad \x1b byte")) == "bad \\x1b byte"
    long = exception_detail(ValueError("y" * 500))
    assert long == "y" * 157 + "..." and len(long) == 160
    assert exception_detail(ValueError("y" * 50), limit=20) == "y" * 17 + "..."


def test_exception_detail_drops_a_pattern_before_cutting() -> None:
    prefix = re.compile(r"\[\d\d:\d\d:\d\d\] \S+:\d+: ")
    exc = RuntimeError("[10:11:12] /src/video_reader.cc:151: Error seeking.")
    assert exception_detail(exc, drop=prefix) == "Error seeking"
    twice = RuntimeError("[10:11:12] /a.cc:1: [10:11:13] /b.cc:2: cannot decode")
    assert exception_detail(twice, drop=prefix) == "cannot decode"


def test_first_line() -> None:
    exc = RuntimeError("\n  Error in read_index: bad magic\nC++ trace:\n  frame 1\n")
    assert first_line(exc) == "Error in read_index: bad magic"
    assert first_line(ValueError("")) == "ValueError"
    assert first_line(ValueError("z" * 300)) == "z" * 197 + "..."
    assert first_line(ValueError("z" * 30), limit=10) == "z" * 7 + "..."
