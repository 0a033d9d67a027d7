"""Videos scored against a Flashback caption memory: real tiny CLIP, real encoded video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.pipeline.test_video import EVENT, _event_frames
from tests.videos import write_video
from vlad.config import VideoConfig
from vlad.errors import InputError
from vlad.pipeline.evidence import MEMORY_TRACK
from vlad.pipeline.video import EncodedVideo, VideoDetector
from vlad.scoring.memory import MemoryEntry, MemoryIndex

FPS = 10


@pytest.fixture(scope="module")
def event_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "event.mp4"
    return write_video(path, _event_frames(), fps=FPS, codec="libx264")


@pytest.fixture(scope="module")
def encoded(tiny_encoder, event_video) -> EncodedVideo:
    config = VideoConfig(sample_fps=5.0, smoothing_sigma_s=0.0)
    return VideoDetector(tiny_encoder, config).encode(event_video)


def _inside(encoded: EncodedVideo) -> np.ndarray:
    return (encoded.frame_indices >= EVENT[0]) & (encoded.frame_indices < EVENT[1])


def frame_memory(encoder, encoded: EncodedVideo, *, embedder: str | None = None) -> MemoryIndex:
    """Captions whose embeddings are frames of the video: red frames anomalous, others normal.

    Three event frames and every third other frame, so each sampled frame has an entry
    that is itself or a neighbour in time.
    """
    inside = _inside(encoded)
    red = np.flatnonzero(inside)[[0, 4, 8]]
    calm = np.flatnonzero(~inside)[::3]
    entries = [MemoryEntry(f"red event {i}", "anomalous", "red") for i in range(len(red))]
    entries += [MemoryEntry(f"calm walkway {i}", "normal") for i in range(len(calm))]
    rows = encoded.embeddings.numpy()[np.concatenate([red, calm])]
    return MemoryIndex.from_entries(entries, rows, embedder=embedder or encoder.name)


def test_memory_alone_is_the_score_track_and_explains_the_interval(tiny_encoder, encoded):
    memory = frame_memory(tiny_encoder, encoded)
    config = VideoConfig(sample_fps=5.0, smoothing_sigma_s=0.0, threshold=0.5)
    detector = VideoDetector(tiny_encoder, config, memory=memory, memory_k=3)
    assert detector.definitions == ()
    result = detector.score(encoded)
    assert result.definitions == (MEMORY_TRACK,)
    expected = memory.respond(encoded.embeddings.numpy(), 3)
    np.testing.assert_allclose(result.tracks[0].values, expected, rtol=1e-6)
    np.testing.assert_allclose(result.fused.values, expected, rtol=1e-6)
    inside = _inside(encoded)
    assert expected[inside].min() > 0.5 > expected[~inside].max()
    (interval,) = result.intervals
    assert (interval.start_s, interval.end_s) == (pytest.approx(2.0), pytest.approx(4.0))
    assert interval.definition == MEMORY_TRACK
    (neighbors,) = result.evidence
    assert len(neighbors) == 3
    assert [n.label for n in neighbors] == ["anomalous"] * 3
    assert {n.text for n in neighbors} == {"red event 0", "red event 1", "red event 2"}
    mean = encoded.embeddings.numpy()[inside]
    mean = (mean / np.linalg.norm(mean, axis=1, keepdims=True)).mean(axis=0)
    assert [n.index for n in neighbors] == [n.index for n in memory.explain(mean, 3)]
    record = result.to_record()
    assert record["definitions"] == ["memory"]
    (interval_record,) = record["intervals"]
    assert [n["text"] for n in interval_record["neighbors"]] == [n.text for n in neighbors]
    assert set(interval_record["neighbors"][0]) >= {"text", "label", "similarity"}


def test_memory_adds_a_track_beside_definitions_and_fuses_by_maximum(tiny_encoder, encoded):
    memory = frame_memory(tiny_encoder, encoded)
    config = VideoConfig(
        definitions=("a red car",), sample_fps=5.0, smoothing_sigma_s=0.0, threshold=0.99
    )
    result = VideoDetector(tiny_encoder, config, memory=memory, memory_k=3).score(encoded)
    assert result.definitions == ("a red car", MEMORY_TRACK)
    stacked = np.stack([t.values for t in result.tracks], axis=1)
    np.testing.assert_allclose(result.fused.values, stacked.max(axis=1))
    # every interval gets evidence, in interval order
    assert len(result.evidence) == len(result.intervals)


def test_memory_interval_is_localized_with_its_best_anomalous_caption(
    tiny_encoder, encoded, event_video, monkeypatch
):
    memory = frame_memory(tiny_encoder, encoded)
    config = VideoConfig(sample_fps=5.0, smoothing_sigma_s=0.0, threshold=0.5)
    detector = VideoDetector(tiny_encoder, config, memory=memory, memory_k=3)
    asked: list[str] = []
    real = detector.scorer.text_pair

    def text_pair(text: str):
        asked.append(text)
        return real(text)

    monkeypatch.setattr(detector.scorer, "text_pair", text_pair)
    result = detector.score(encoded)
    localized = detector.localize(encoded, result)
    assert len(localized) == 1
    assert asked == [result.evidence[0][0].text]


def test_a_memory_of_another_embedder_is_one_sentence(tiny_encoder, encoded):
    memory = frame_memory(tiny_encoder, encoded, embedder="st:all-MiniLM-L6-v2")
    with pytest.raises(InputError) as caught:
        VideoDetector(tiny_encoder, VideoConfig(), memory=memory)
    message = str(caught.value)
    assert message.startswith("The memory was built with embedder 'st:all-MiniLM-L6-v2'")
    assert "embedder=clip:ARCH@WEIGHTS" in message and message.count(". ") == 0


def test_without_a_memory_nothing_changes(tiny_encoder, encoded):
    config = VideoConfig(definitions=("a red car",), sample_fps=5.0, smoothing_sigma_s=0.0)
    result = VideoDetector(tiny_encoder, config).score(encoded)
    assert result.definitions == ("a red car",) and result.evidence == ()
    assert all("neighbors" not in i for i in result.to_record()["intervals"])
