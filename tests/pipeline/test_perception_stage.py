"""The rule loop on videos: frames sampled, described within a budget, judged, fused, cited."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.perception_helpers import (
    EVENT_CAPTION,
    NORMAL_CAPTION,
    ScriptedDescriber,
    WordEmbedder,
    event_script,
    event_video,
    walkway_rules,
)
from vlad.config import PerceptionConfig, PipelineConfig, VideoConfig
from vlad.errors import ConfigError
from vlad.pipeline import Pipeline
from vlad.pipeline.perception_stage import (
    PERCEPTION_TRACK,
    budget_calls,
    budget_plan,
    perception_frames,
)
from vlad.pipeline.video import EncodedVideo
from vlad.reasoning.perception import FrameCaptioner

RIDE = "anomaly-human-activity-1"
WALK = "normal-human-activity-1"


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s at 10 fps; the event (a big patch, described as a cyclist) in frames 15-24."""
    return event_video(tmp_path_factory.mktemp("perception_stage") / "event.mp4", 40, 15, 25)


@pytest.fixture
def words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vlad.encoders.text.load_embedder", lambda spec: WordEmbedder())


def pipeline(encoder, mode: str, **perception) -> Pipeline:  # type: ignore[no-untyped-def]
    video = VideoConfig(sample_fps=10, smoothing_sigma_s=0.0)
    return Pipeline(
        encoder, video=video, perception=PerceptionConfig(mode=mode, fps=10, **perception)
    )


# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"mode": "sometimes"},
            "Unknown perception mode 'sometimes'; use one of peak, every, budget.",
        ),
        ({"fps": 0}, "perception_fps must be a number of frames per second above 0, got 0."),
        ({"fps": -1.5}, "perception_fps must be a number of frames per second above 0, got -1.5."),
        ({"budget": 0}, "perception_budget must lie in (0, 1] VLM calls per sampled frame, got 0."),
        (
            {"budget": 1.5},
            "perception_budget must lie in (0, 1] VLM calls per sampled frame, got 1.5.",
        ),
        ({"embedder": " "}, "The perception embedder is empty; name one, e.g. minilm."),
    ],
)
def test_bad_settings_are_one_sentence(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        PerceptionConfig(**settings)
    assert str(caught.value) == message


def test_pipeline_config_takes_a_mode_a_mapping_or_the_default() -> None:
    assert PipelineConfig().perception == PerceptionConfig(mode="peak")
    assert PipelineConfig(perception="every").perception.mode == "every"
    made = PipelineConfig(perception={"mode": "budget", "budget": 0.05, "fps": 2})
    assert made.perception == PerceptionConfig(mode="budget", fps=2, budget=0.05)
    with pytest.raises(ConfigError, match="Unknown setting"):
        PipelineConfig(perception={"mode": "budget", "calls": 1})
    assert PerceptionConfig.of(None) == PerceptionConfig()
    assert PerceptionConfig.of("budget").mode == "budget"


# -- which frames ---------------------------------------------------------------------------


def encoded_stub(sample_fps: float | None, frames: int = 20, fps: float = 10) -> EncodedVideo:
    from vlad.media.video import VideoInfo

    every = np.arange(frames) / fps
    step = 1 if sample_fps is None else round(fps / sample_fps)
    picked = np.arange(0, frames, step)
    info = VideoInfo(
        source="x.mp4",
        fps=fps,
        frame_count=frames,
        duration_s=frames / fps,
        width=8,
        height=8,
        backend="pyav",
    )
    return EncodedVideo(
        info=info,
        frame_indices=picked,
        times_s=every[picked],
        embeddings=torch.zeros(len(picked), 4),
        frame_times_s=every,
        sample_fps=sample_fps,
    )


def test_frames_come_from_the_clip_samples_when_fps_allows() -> None:
    indices, times = perception_frames(encoded_stub(5.0), 2.5)
    assert indices.tolist() == [0, 4, 8, 12, 16]
    assert times.tolist() == pytest.approx([0.0, 0.4, 0.8, 1.2, 1.6])
    # faster than the CLIP samples: the video's own frames
    indices, _ = perception_frames(encoded_stub(2.0), 5.0)
    assert indices.tolist() == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    # every frame scored: one per step, no repeats
    assert perception_frames(encoded_stub(None), 10)[0].tolist() == list(range(20))


def test_budget_calls_and_plan() -> None:
    assert [budget_calls(n, 0.1) for n in (0, 5, 10, 19, 20, 32)] == [0, 1, 1, 1, 2, 3]
    assert budget_calls(5, 1.0) == 5
    flat = np.full(10, 0.2)
    assert budget_plan(flat, threshold=0.5, budget=0.1).tolist() == [4] * 10
    step = np.array([0.1] * 4 + [0.9] * 4 + [0.1] * 4)
    # three calls: cuts at the two steps, the middle of each run described
    assert budget_plan(step, threshold=0.5, budget=0.25).tolist() == [1] * 4 + [5] * 4 + [9] * 4
    assert budget_plan(step, threshold=0.5, budget=1.0).tolist() == list(range(12))
    # the embedding sees a change the track does not
    embeddings = np.array([[1.0, 0.0]] * 6 + [[0.0, 1.0]] * 6)
    held = budget_plan(np.full(12, 0.3), threshold=0.5, budget=0.2, embeddings=embeddings)
    assert held.tolist() == [2] * 6 + [8] * 6


def test_budget_cuts_near_the_threshold_first() -> None:
    # two equal steps; the one that comes near the threshold wins the only cut
    values = np.array([0.05] * 4 + [0.25] * 4 + [0.45] * 4)
    held = budget_plan(values, threshold=0.5, budget=2 / 12)
    assert held.tolist() == [3] * 8 + [9] * 4


# -- the loop end to end (tiny CLIP, scripted describer) -------------------------------------


def test_every_frame_described_judged_and_cited(tiny_encoder, video, words) -> None:
    describer = ScriptedDescriber(event_script(15, 25))
    [explanation] = pipeline(tiny_encoder, "every").analyze(
        [video], rules=walkway_rules(), captioner=FrameCaptioner(describer, batch_size=16)
    )
    assert explanation.ok, explanation.error
    assert sorted(describer.asked) == list(range(40))
    assert describer.calls == 3, "batched: 16 + 16 + 8 frames"
    record = explanation.to_record()
    perception = record["perception"]
    assert {k: perception[k] for k in ("mode", "frames", "described", "vlm_calls")} == {
        "mode": "every",
        "frames": 40,
        "described": 40,
        "vlm_calls": 40,
    }
    assert perception["vlm_calls_per_frame"] == 1.0
    assert perception["normal_rules"] == {WALK: 30}
    assert perception["normal_by_scene"] == 0
    judged = perception["frame_judgements"]
    assert [f["verdict"] for f in judged] == ["normal"] * 15 + ["anomalous"] * 10 + ["normal"] * 15
    frame = dict(judged[3])
    reason = frame.pop("reason")
    assert frame.pop("score") < 0.1
    assert frame == {
        "frame_index": 3,
        "time_s": 0.3,
        "described": True,
        "verdict": "normal",
        "rules": [WALK],
        "clause": "two people are walking on the path",
        "caption": NORMAL_CAPTION,
    }
    # the deduction's sentence names the clause and the normal rule it matched
    assert "'two people are walking on the path'" in reason
    assert "'people walking on the path'" in reason
    rule_intervals = [i for i in record["intervals"] if i.get("rule", {}).get("source")]
    assert rule_intervals == [
        {
            "start_s": 1.5,
            "end_s": 2.5,
            "peak_score": pytest.approx(1.0, abs=1e-3),
            "definition": "a person riding a bicycle",
            "rule": {
                "id": RIDE,
                "text": "a person riding a bicycle",
                "kind": "anomaly",
                "frame_index": 15,
                "time_s": 1.5,
                "caption": EVENT_CAPTION,
                "clause": "a person is riding a bicycle",
                "reason": rule_intervals[0]["rule"]["reason"],
                "source": "perception",
            },
        }
    ]
    reason = rule_intervals[0]["rule"]["reason"]
    assert "'a person is riding a bicycle' matches the anomaly rule" in reason
    # the rule track joins the CLIP tracks; the fused track is their maximum
    assert explanation.definitions[-1] == PERCEPTION_TRACK
    track = explanation.tracks[-1]
    assert track.definition == PERCEPTION_TRACK
    assert np.all(
        explanation.fused.values
        >= np.interp(explanation.fused.times_s, track.times_s, track.values) - 1e-9
    )
    assert explanation.verdict == "anomalous"
    # the event's evidence cites the rule
    [evidence] = [e for e in explanation.evidence if e.contains(2.0)]
    assert any(item.kind == "rule" and item.ref == RIDE for item in evidence.items)
    assert any(
        note.startswith("A vision-language model described 40 of 40") for note in explanation.notes
    )


def test_budget_gives_the_same_intervals_at_a_tenth_of_the_calls(
    tiny_encoder, video, words
) -> None:
    rules = walkway_rules()
    every = pipeline(tiny_encoder, "every").analyze(
        [video], rules=rules, captioner=FrameCaptioner(ScriptedDescriber(event_script(15, 25)))
    )[0]
    describer = ScriptedDescriber(event_script(15, 25))
    [budget] = pipeline(tiny_encoder, "budget").analyze(
        [video], rules=rules, captioner=FrameCaptioner(describer)
    )
    intervals = [(i.start_s, i.end_s, i.definition) for i in every.intervals]
    assert [(i.start_s, i.end_s, i.definition) for i in budget.intervals] == intervals
    assert [d.interval for d in budget.detections] == [d.interval for d in every.detections]
    assert len(describer.asked) == 4, "floor(0.1 x 40) calls"
    assert any(15 <= n < 25 for n in describer.asked), "a frame of the event was described"
    record = budget.to_record()["perception"]
    assert record["vlm_calls_per_frame"] == 0.1
    assert record["budget"] == 0.1
    assert record["described"] == 4
    held = [f for f in record["frame_judgements"] if not f["described"]]
    assert len(held) == 36 and all(f["held_from"] in describer.asked for f in held)
    assert [f["verdict"] for f in record["frame_judgements"]] == [
        f["verdict"] for f in every.to_record()["perception"]["frame_judgements"]
    ]
    [cited] = [
        d.citation for d in budget.detections if d.citation and d.citation.source == "perception"
    ]
    assert cited.rule_id == RIDE and cited.frame_index in describer.asked
    assert cited.caption == EVENT_CAPTION


def test_captions_are_cached_per_frame(tiny_encoder, video, words, tmp_path) -> None:
    from vlad.reasoning.cache import AnswerCache

    cache = AnswerCache(tmp_path / "answers.sqlite")
    first = ScriptedDescriber(event_script(15, 25))
    pipe = pipeline(tiny_encoder, "every")
    pipe.analyze([video], rules=walkway_rules(), captioner=FrameCaptioner(first, cache=cache))
    again = ScriptedDescriber(event_script(15, 25))
    [explanation] = pipe.analyze(
        [video], rules=walkway_rules(), captioner=FrameCaptioner(again, cache=cache)
    )
    assert len(first.asked) == 40 and again.asked == []
    assert explanation.perception["sent_to_model"] == 0
    assert explanation.perception["vlm_calls"] == 40


def test_a_call_overrides_the_pipelines_mode(tiny_encoder, video, words) -> None:
    describer = ScriptedDescriber(event_script(15, 25))
    pipe = Pipeline(tiny_encoder, video=VideoConfig(sample_fps=10, smoothing_sigma_s=0.0))
    [explanation] = pipe.analyze(
        [video],
        rules=walkway_rules(),
        captioner=FrameCaptioner(describer),
        perception={"mode": "budget", "fps": 5, "budget": 0.2},
    )
    assert explanation.perception["frames"] == 20
    assert explanation.perception["described"] == 4
    # the default (peak) describes only the peaks of CLIP's intervals
    peak = pipe.analyze([video], rules=walkway_rules(), captioner=FrameCaptioner(describer))[0]
    assert peak.perception is None and "perception" not in peak.to_record()


def test_perception_without_a_captioner_or_rules_is_refused(tiny_encoder, video, words) -> None:
    pipe = pipeline(tiny_encoder, "every")
    with pytest.raises(ConfigError) as caught:
        pipe.analyze([video], rules=walkway_rules())
    assert str(caught.value) == (
        "perception 'every' describes frames with a vision-language model; pass captioner."
    )
    describer = FrameCaptioner(ScriptedDescriber(event_script(0, 0)))
    with pytest.raises(ConfigError) as caught:
        pipe.analyze([video], captioner=describer)
    assert str(caught.value) == (
        "perception 'every' judges frame descriptions against rules; pass rules."
    )
    normal_only = replace(walkway_rules(), rules=walkway_rules().normal())
    with pytest.raises(ConfigError):
        pipe.analyze([video], rules=normal_only, captioner=describer)


# -- progress ------------------------------------------------------------------------------


def test_describing_frames_moves_the_progress_per_batch(tiny_encoder, video, words) -> None:
    from vlad.pipeline.video_stage import DESCRIBING_SPAN, describing

    assert describing(0, 40) == (0.77, "Describing frames 0/40")
    assert describing(16, 40) == (pytest.approx(0.782), "Describing frames 16/40")
    assert describing(40, 40) == (pytest.approx(0.8), "Describing frames 40/40")
    assert describing(0, 0) == (pytest.approx(0.8), "Describing frames 0/0")
    describer = ScriptedDescriber(event_script(15, 25))
    seen: list[tuple[float, str]] = []
    [explanation] = pipeline(tiny_encoder, "every").analyze(
        [video],
        rules=walkway_rules(),
        captioner=FrameCaptioner(describer, batch_size=16),
        progress=lambda fraction, stage: seen.append((fraction, stage)),
    )
    assert explanation.ok, explanation.error
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    described = [(f, s) for f, s in seen if s.startswith("Describing frames")]
    assert described == [
        (0.77, "Describing frames"),
        (pytest.approx(0.782), "Describing frames 16/40"),
        (pytest.approx(0.794), "Describing frames 32/40"),
        (pytest.approx(DESCRIBING_SPAN[1]), "Describing frames 40/40"),
    ]
    assert describer.calls == 3, "one report per chat() batch"


def test_cached_captions_count_at_once(tiny_encoder, video, words, tmp_path) -> None:
    from vlad.reasoning.cache import AnswerCache

    cache = AnswerCache(tmp_path / "answers.sqlite")
    first = ScriptedDescriber(event_script(15, 25))
    pipeline(tiny_encoder, "budget").analyze(
        [video], rules=walkway_rules(), captioner=FrameCaptioner(first, cache=cache)
    )
    assert len(first.asked) == 4
    again = ScriptedDescriber(event_script(15, 25))
    seen: list[str] = []
    pipeline(tiny_encoder, "every").analyze(
        [video],
        rules=walkway_rules(),
        captioner=FrameCaptioner(again, cache=cache, batch_size=16),
        progress=lambda _fraction, stage: seen.append(stage),
    )
    assert [s for s in seen if s.startswith("Describing frames ")] == [
        "Describing frames 4/40",
        "Describing frames 20/40",
        "Describing frames 36/40",
        "Describing frames 40/40",
    ]
    assert again.calls == 3 and len(again.asked) == 36
