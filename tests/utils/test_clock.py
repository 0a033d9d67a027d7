"""Clock formatting, written once in :mod:`vlad.utils.clock`."""

from __future__ import annotations

from vlad.utils.clock import clock, file_clock, format_clock, span


def test_clock_rounds_down_and_switches_to_hours():
    assert clock(0) == "0:00"
    assert clock(59.99) == "0:59"
    assert clock(125.9) == "2:05"
    assert clock(3725) == "1:02:05"
    assert clock(-3) == "0:00"


def test_span_rounds_the_end_up():
    assert span(2.0, 4.0) == "0:02–0:04"
    assert span(2.0, 3.2) == "0:02–0:04"
    assert span(5.0, 5.0) == "0:05–0:05"


def test_format_clock_and_file_clock():
    assert format_clock(42.25) == "0:42.2"
    assert format_clock(3725.0) == "1:02:05"
    assert file_clock(65.4) == "1m05"
    assert file_clock(2.0) == "0m02"
