"""Explanation records: the fields ``vlad detect --json`` keeps, and failure records."""

from __future__ import annotations

import json

import numpy as np

from vlad.answer.explanation import Detection, Explanation, KeyFrame, LocalizedFrame
from vlad.types import Interval, ScoreTrack, Segment


class _Neighbor:
    def to_record(self) -> dict:
        return {"text": "a fight", "label": "anomalous", "similarity": 0.5}


def _video() -> Explanation:
    times = np.array([0.0, 0.5, 1.0])
    track = ScoreTrack(times, np.array([0, 5, 10]), np.array([0.2, 0.7, 0.4]), "a fight")
    interval = Interval(0.5, 1.0, 0.7, "a fight")
    return Explanation(
        input="v.mp4",
        kind="video",
        verdict="anomalous",
        score=0.7,
        threshold=0.5,
        low_threshold=0.4,
        duration_s=1.5,
        definitions=("a fight",),
        scene=None,
        fused=track,
        tracks=(track,),
        intervals=(interval,),
        evidence=(),
        keyframes=(),
        detections=(Detection(interval, neighbors=(_Neighbor(),)),),
        segments=(Segment(0, 0.0, 1.5, 0, 15, 0.7),),
        maps=(LocalizedFrame(interval, 5, 0.5, np.full((4, 4), 0.25, dtype=np.float32)),),
        fps=10.0,
        frame_count=15,
        sample_fps=2.0,
        height=48,
        width=64,
    )


def test_video_record_keeps_the_detect_fields():
    record = json.loads(json.dumps(_video().to_record()))
    assert record["label"] == record["verdict"] == "anomalous"
    assert (record["fps"], record["frame_count"], record["sample_fps"]) == (10.0, 15, 2.0)
    assert (record["height"], record["width"]) == (48, 64)
    [interval] = record["intervals"]
    assert interval == {
        "start_s": 0.5,
        "end_s": 1.0,
        "peak_score": 0.7,
        "definition": "a fight",
        "neighbors": [{"text": "a fight", "label": "anomalous", "similarity": 0.5}],
    }
    assert record["segments"][0]["score"] == 0.7
    assert record["maps"] == [{"start_s": 0.5, "frame_index": 5, "time_s": 0.5, "map_max": 0.25}]
    assert record["status"] == "ok"


def test_image_record_has_size_and_map_max():
    pixels = np.zeros((3, 5, 3), dtype=np.uint8)
    anomaly_map = np.linspace(0, 0.8, 15, dtype=np.float32).reshape(3, 5)
    still = ScoreTrack(np.zeros(1), np.zeros(1, dtype=np.int64), np.array([0.3]), None)
    explanation = Explanation(
        input="a.png",
        kind="image",
        verdict="normal",
        score=0.3,
        threshold=0.5,
        low_threshold=0.5,
        duration_s=0.0,
        definitions=(),
        scene=None,
        fused=still,
        tracks=(),
        intervals=(),
        evidence=(),
        keyframes=(KeyFrame(None, 0, 0.0, 0.3, None, pixels, anomaly_map=anomaly_map),),
        height=3,
        width=5,
    )
    record = explanation.to_record()
    assert (record["height"], record["width"], record["map_max"]) == (3, 5, 0.8)
    assert record["label"] == "normal" and "segments" not in record and "fps" not in record
    assert explanation.anomaly_map is anomaly_map


def test_failure_record_is_input_status_error_only():
    failure = Explanation.failure("gone.mp4", "File 'gone.mp4' does not exist.", kind="video")
    assert not failure.ok and failure.verdict == "failed" and not failure.anomalous
    assert failure.to_record() == {
        "input": "gone.mp4",
        "status": "failed",
        "error": "File 'gone.mp4' does not exist.",
    }
