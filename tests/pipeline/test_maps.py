"""Peak-frame maps: one vision pass per frame, shared by its definitions and its keyframe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.analysis_helpers import calibrate, video_config, write_event_video
from tests.conftest import make_image
from vlad.encoders.clip import ClipEncoder
from vlad.pipeline import Pipeline, maps
from vlad.pipeline.maps import frame_map
from vlad.scoring.text_defined import TextDefinedScorer


@pytest.fixture
def window_passes(monkeypatch) -> list[int]:
    """Counts the CLIP calls that embed windows (the costly part of a map)."""
    calls: list[int] = []
    original = ClipEncoder.encode_images

    def counting(self, pixels, *, window_scales=()):
        if window_scales:
            calls.append(int(pixels.shape[0]))
        return original(self, pixels, window_scales=window_scales)

    monkeypatch.setattr(ClipEncoder, "encode_images", counting)
    return calls


def test_two_definitions_on_one_frame_take_one_vision_pass_and_the_same_values(
    tiny_encoder, window_passes
):
    scorer = TextDefinedScorer(tiny_encoder)
    image = make_image(48, 64, seed=3, defect=True)
    settings = {"scales": (2, 3), "temperature": 0.07}
    plain = [frame_map(tiny_encoder, scorer, image, d, **settings) for d in ("a fire", "a fall")]
    assert len(window_passes) == 2, "without a cache, one pass per map"
    cache: dict = {}
    shared = [
        frame_map(tiny_encoder, scorer, image, d, **settings, cache=cache, key=("v.mp4", 7))
        for d in ("a fire", "a fall")
    ]
    assert len(window_passes) == 3, "with a cache, one pass for the frame"
    for a, b in zip(plain, shared, strict=True):
        assert a is not None and b is not None and a.shape == (48, 64)
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(shared[0], shared[1]), "each definition keeps its own map"
    frame_map(tiny_encoder, scorer, image, "a fire", **settings, cache=cache, key=None)
    assert len(window_passes) == 4, "no key: nothing shared"


@pytest.fixture(scope="module")
def event_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_event_video(tmp_path_factory.mktemp("maps") / "event.mp4")


def test_a_video_computes_each_peak_frame_once_with_the_same_record(
    tiny_encoder, event_video, window_passes, monkeypatch
):
    calibration = calibrate(tiny_encoder, event_video)
    definitions = [calibration.definition, *calibration.others[:2]]
    pipeline = Pipeline(tiny_encoder, video=video_config(calibration.threshold))
    window_passes.clear()
    shared = pipeline.analyze_one(event_video, definitions=definitions).explanation
    shared_passes = len(window_passes)
    assert shared.keyframes and shared.maps, "the event has a keyframe and an interval map"

    def no_cache(*args, cache=None, key=None, **kwargs):
        return original(*args, **kwargs)

    original = maps.frame_map
    monkeypatch.setattr("vlad.pipeline.video.frame_map", no_cache)
    monkeypatch.setattr("vlad.pipeline.keyframes.frame_map", no_cache)
    window_passes.clear()
    alone = Pipeline(tiny_encoder, video=video_config(calibration.threshold))
    plain = alone.analyze_one(event_video, definitions=definitions).explanation
    assert len(window_passes) == len(plain.maps) + len(plain.keyframes)
    frames = {m.frame_index for m in plain.maps} | {k.frame_index for k in plain.keyframes}
    assert shared_passes == len(frames) < len(window_passes)
    assert shared.to_record() == plain.to_record()
    for a, b in zip(shared.keyframes, plain.keyframes, strict=True):
        np.testing.assert_array_equal(a.anomaly_map, b.anomaly_map)
        np.testing.assert_array_equal(a.overlay, b.overlay)
