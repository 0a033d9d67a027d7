"""Text-defined video scoring end to end: real tiny CLIP, real encoded video files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.videos import moving_square_frames, write_frame_folder, write_video
from vlad.config import VideoConfig
from vlad.errors import InputError
from vlad.pipeline.video import VideoDetector
from vlad.utils.clock import format_clock

FPS = 10
EVENT = (20, 40)  # frames with the event: 2.0 s to 4.0 s


def _event_frames(n: int = 60) -> list[np.ndarray]:
    frames = moving_square_frames(n, 48, 64)
    for index in range(EVENT[0], min(EVENT[1], n)):
        frames[index][8:44, 8:56] = (230, 20, 20)  # a big red object fills the view
    return frames


@pytest.fixture(scope="module")
def event_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "event.mp4"
    return write_video(path, _event_frames(), fps=FPS, codec="libx264")


def _detector(encoder, **overrides) -> VideoDetector:
    settings = {"definitions": ("a red car",), "sample_fps": 5.0, "smoothing_sigma_s": 0.0}
    settings.update(overrides)
    return VideoDetector(encoder, VideoConfig(**settings))


def test_encode_samples_at_the_target_rate(tiny_encoder, event_video):
    encoded = _detector(tiny_encoder).encode(event_video)
    assert encoded.info.frame_count == 60
    assert encoded.info.fps == pytest.approx(FPS)
    assert list(encoded.frame_indices) == list(range(0, 60, 2))
    assert np.allclose(encoded.times_s, np.arange(0, 6, 0.2))
    assert encoded.embeddings.shape == (30, 32)
    assert len(encoded.frame_times_s) == 60


CANDIDATES = ("a red car", "a red truck", "a red object", "smoke", "a fire", "an explosion")


def test_interval_matches_the_event_when_the_threshold_separates_it(tiny_encoder, event_video):
    """With untrained weights no word means anything, but frames differ: among a few
    definitions, take the one whose scores put every event frame above every other frame,
    set the threshold between them, and the interval must be exactly the event."""
    detector = _detector(tiny_encoder)
    encoded = detector.encode(event_video)
    inside = (encoded.frame_indices >= EVENT[0]) & (encoded.frame_indices < EVENT[1])
    raw = detector.scorer.score(encoded.embeddings, CANDIDATES)
    margins = raw[inside].min(axis=0) - raw[~inside].max(axis=0)
    best = int(np.argmax(margins))
    assert margins[best] > 0, "some definition must separate the red frames"
    definition = CANDIDATES[best]
    threshold = float((raw[inside, best].min() + raw[~inside, best].max()) / 2)
    detector = _detector(
        tiny_encoder, definitions=(definition,), threshold=threshold, low_threshold=threshold
    )
    result = detector.score(encoded)
    assert len(result.intervals) == 1
    interval = result.intervals[0]
    assert interval.start_s == pytest.approx(2.0)
    assert interval.end_s == pytest.approx(4.0)
    assert interval.definition == definition
    assert interval.peak_score == pytest.approx(raw[inside, best].max())
    assert result.label == "anomalous"
    # Every original frame gets a score; frames inside the event score above the threshold.
    assert result.frame_scores.shape == (60,)
    assert np.all(result.frame_scores[EVENT[0] : EVENT[1] - 1] >= threshold)
    assert np.all(result.frame_scores[: EVENT[0] - 2] < threshold)


def test_segments_cover_the_video_and_take_the_track_maximum(tiny_encoder, event_video):
    detector = _detector(tiny_encoder, segment_seconds=2.5)
    result = detector.score(detector.encode(event_video))
    spans = [(s.start_s, s.end_s, s.start_frame, s.end_frame) for s in result.segments]
    assert spans == [(0.0, 2.5, 0, 25), (2.5, 5.0, 25, 50), (5.0, 6.0, 50, 60)]
    values = result.fused.values
    times = result.fused.times_s
    for segment in result.segments:
        inside = (times >= segment.start_s) & (times < segment.end_s)
        assert segment.score == pytest.approx(values[inside].max())


def test_rescoring_needs_no_decoding_and_definitions_are_independent(
    tiny_encoder, event_video, monkeypatch
):
    detector = _detector(tiny_encoder, definitions=("a red car", "a person climbing a fence"))
    encoded = detector.encode(event_video)
    both = detector.score(encoded)
    import vlad.pipeline.video as pipeline

    def no_decoding(*_args, **_kwargs):
        raise AssertionError("re-scoring must not open the video")

    monkeypatch.setattr(pipeline, "open_video", no_decoding)
    alone = detector.score(encoded, ["a person climbing a fence"])
    new = detector.score(encoded, ["someone on a bicycle"])
    assert np.allclose(alone.tracks[0].values, both.tracks[1].values)
    assert new.definitions == ("someone on a bicycle",)
    assert not np.allclose(new.tracks[0].values, alone.tracks[0].values)
    assert np.allclose(both.fused.values, np.maximum(*(t.values for t in both.tracks)))


def test_progress_reaches_the_end_and_localizes_peak_frames(tiny_encoder, event_video, tmp_path):
    seen: list[float] = []
    detector = _detector(tiny_encoder, threshold=0.0, low_threshold=0.0, batch_size=4)
    result, encoded = detector.analyze(event_video, progress=seen.append, map_out=tmp_path)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(5.8)
    assert len(result.intervals) == 1  # everything is above 0: one interval, whole video
    assert (result.intervals[0].start_s, result.intervals[0].end_s) == (0.0, 6.0)
    (located,) = result.localized
    assert located.anomaly_map.shape == (48, 64)
    assert located.frame_index in set(encoded.frame_indices.tolist())
    assert located.overlay_path is not None and located.overlay_path.exists()
    with Image.open(located.overlay_path) as overlay:
        assert overlay.size == (64, 48)
    record = json.loads(json.dumps(result.to_record()))
    assert record["maps"][0]["overlay"] == str(located.overlay_path)


def test_frame_folder_is_a_video(tiny_encoder, tmp_path):
    folder = write_frame_folder(tmp_path / "frames", _event_frames(30), suffix=".png")
    detector = _detector(tiny_encoder, frames_fps=10.0)
    result, _ = detector.analyze(folder)
    assert result.info.backend == "frames"
    assert result.info.duration_s == pytest.approx(3.0)
    assert result.frame_scores.shape == (30,)
    record = result.to_record()
    assert set(record) >= {"input", "duration_s", "fps", "segments", "intervals"}


def test_one_frame_video(tiny_encoder, tmp_path):
    path = write_video(tmp_path / "one.avi", _event_frames(1), fps=FPS, codec="mjpeg")
    result, _ = _detector(tiny_encoder).analyze(path)
    assert len(result.fused.values) == 1
    assert result.frame_scores.shape == (1,)
    assert [(s.start_s, s.end_s) for s in result.segments] == [(0.0, pytest.approx(0.1))]


def test_unreadable_video_is_one_sentence(tiny_encoder, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video")
    with pytest.raises(InputError, match=r"notes\.mp4") as error:
        _detector(tiny_encoder).analyze(bad)
    assert "\n" not in str(error.value)


def test_format_clock():
    assert format_clock(0) == "0:00.0"
    assert format_clock(42.25) == "0:42.2"
    assert format_clock(125.0) == "2:05.0"
    assert format_clock(3725.0) == "1:02:05"
