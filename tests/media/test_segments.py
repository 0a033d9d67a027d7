"""Tests of vlad.media.segments: fixed-length segments with their frame ranges."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.videos import moving_square_frames, write_vfr_video
from vlad.errors import ConfigError
from vlad.media.segments import segments_for
from vlad.media.video import VideoInfo, open_video
from vlad.types import Segment

VFR_TIMES = [0.0, 0.04, 0.08, 0.5, 0.54, 0.58, 1.2, 1.24, 1.28, 1.32, 2.0, 2.04]


def test_segments_exact_values() -> None:
    info = VideoInfo("x.mp4", 25.0, 250, 10.0, 64, 48, "pyav")
    assert segments_for(info, 4) == [
        Segment(0, 0.0, 4.0, 0, 100),
        Segment(1, 4.0, 8.0, 100, 200),
        Segment(2, 8.0, 10.0, 200, 250),
    ]
    assert [(s.start_s, s.end_s) for s in segments_for(info, 5)] == [(0, 5), (5, 10)]
    assert [(s.start_frame, s.end_frame) for s in segments_for(info, 5)] == [(0, 125), (125, 250)]
    assert segments_for(info, 60) == [Segment(0, 0.0, 10.0, 0, 250)]
    third = segments_for(VideoInfo("x", 30000 / 1001, 300, 10.01, 8, 8, "pyav"), 1 / 3)
    assert sum(s.end_frame - s.start_frame for s in third) == 300
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="segment_seconds"):
            segments_for(info, bad)


def test_segments_with_variable_frame_rate(tmp_path: Path) -> None:
    path = write_vfr_video(tmp_path / "vfr.mkv", moving_square_frames(len(VFR_TIMES)), VFR_TIMES)
    with open_video(path) as reader:
        segments = segments_for(reader.info, 1.0, timestamps=reader.timestamps())
    assert [(s.start_frame, s.end_frame) for s in segments] == [(0, 6), (6, 10), (10, 12)]
    assert segments[-1].end_s == pytest.approx(reader.info.duration_s)
