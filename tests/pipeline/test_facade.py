"""The pipeline end to end on a real tiny CLIP and real encoded videos: intervals, evidence,
keyframes with heat maps, memory and rules as scorers, and the checks on model text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.analysis_helpers import (
    EVENT,
    FPS,
    calibrate,
    fight_explanation,
    video_config,
    write_event_video,
)
from tests.conftest import make_image
from vlad.answer.grounding import ground_text, times_in
from vlad.answer.text import template_text
from vlad.errors import InputError
from vlad.pipeline import Pipeline
from vlad.pipeline.evidence import MEMORY_TRACK
from vlad.reasoning.llm import GenerationSettings
from vlad.utils.clock import clock, span


class ScriptedBackend:
    """A deterministic chat backend: answers with a fixed text and records the prompts."""

    name = "scripted"

    def __init__(self, answer: str = "", *, fail: bool = False) -> None:
        self.answer = answer
        self.fail = fail
        self.prompts: list[list[dict]] = []

    def chat(self, conversations, settings: GenerationSettings) -> list[str]:
        self.prompts.extend(conversations)
        if self.fail:
            raise RuntimeError("model crashed")
        return [self.answer for _ in conversations]


@pytest.fixture(scope="module")
def event_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_event_video(tmp_path_factory.mktemp("analyzer") / "event.mp4")


@pytest.fixture(scope="module")
def calibration(tiny_encoder, event_video):
    return calibrate(tiny_encoder, event_video)


@pytest.fixture(scope="module")
def analyzer(tiny_encoder, calibration) -> Pipeline:
    return Pipeline(tiny_encoder, video=video_config(calibration.threshold))


@pytest.fixture(scope="module")
def analysis(analyzer, calibration, event_video):
    return analyzer.analyze_one(
        event_video, definitions=[calibration.definition, *calibration.others[:2]]
    )


def test_video_analysis_finds_the_event_with_evidence_and_keyframe(analysis, calibration):
    explanation = analysis.explanation
    assert explanation.kind == "video"
    assert explanation.verdict == "anomalous"
    assert explanation.duration_s == pytest.approx(6.0)
    [interval] = explanation.intervals
    assert (interval.start_s, interval.end_s) == (pytest.approx(2.0), pytest.approx(4.0))
    assert interval.definition == calibration.definition
    [evidence] = explanation.evidence
    assert evidence.id == "E1"
    assert evidence.definition == calibration.definition
    [item] = evidence.fired()
    assert item.kind == "definition" and item.score == pytest.approx(interval.peak_score)
    assert 2.0 <= evidence.peak_time_s < 4.0
    # The fused score is the maximum over the definitions, and the peak is inside.
    stacked = np.stack([t.values for t in explanation.tracks])
    assert np.allclose(explanation.fused.values, stacked.max(axis=0))
    assert explanation.score == pytest.approx(explanation.fused.values.max())
    [keyframe] = explanation.keyframes
    assert keyframe.evidence_id == "E1"
    assert EVENT[0] <= keyframe.frame_index < EVENT[1]
    assert keyframe.time_s == pytest.approx(keyframe.frame_index / FPS)
    assert keyframe.image.shape == (48, 64, 3)
    assert keyframe.anomaly_map.shape == (48, 64)
    assert keyframe.overlay.shape == (48, 64, 3) and keyframe.overlay.dtype == np.uint8
    assert 0.0 <= keyframe.anomaly_map.min() <= keyframe.anomaly_map.max() <= 1.0
    # The frame read back is the event's (red fills the view).
    assert keyframe.image[20:40, 16:48, 0].mean() > 180
    # The embeddings stay cached for follow-up questions.
    assert analysis.encoded is not None and analysis.encoded.embeddings.shape == (30, 32)


def test_template_text_cites_only_existing_evidence_and_interval_times(analysis):
    explanation = analysis.explanation
    assert explanation.text_source == "template"
    assert "[E1]" in explanation.text
    assert span(2.0, 4.0) in explanation.text
    times = times_in(explanation.text)
    assert times, "the text should state the interval's times"
    assert all(explanation.evidence_at(t, tolerance_s=1.0) is not None for t in times)
    assert ground_text(explanation.text, explanation).dropped == ()


def test_record_is_json_ready(analysis):
    import json

    record = json.loads(json.dumps(analysis.explanation.to_record()))
    assert record["verdict"] == "anomalous"
    assert record["evidence"][0]["id"] == "E1"
    assert record["keyframes"][0]["evidence_id"] == "E1"


def test_progress_is_reported_in_order_up_to_done(analyzer, calibration, event_video):
    seen: list[tuple[float, str]] = []
    analyzer.analyze_one(
        event_video,
        definitions=[calibration.definition],
        progress=lambda f, s: seen.append((f, s)),
    )
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert any(stage == "Encoding" for _, stage in seen)


def test_definitions_that_never_fire_give_a_normal_verdict(analyzer, calibration, event_video):
    if not calibration.others:
        pytest.skip("every candidate reaches the threshold somewhere")
    explanation = analyzer.analyze_one(event_video, definitions=calibration.others).explanation
    assert explanation.verdict == "normal"
    assert explanation.intervals == () and explanation.keyframes == ()
    assert explanation.text.startswith("Normal")
    assert times_in(explanation.text) == []


def test_rules_apply_through_clip_and_are_cited(analyzer, calibration, event_video):
    from vlad.reasoning.rules import Rule, RuleSet

    rules = RuleSet(
        (
            Rule("people walking on the path", "normal", "human activity", "normal-1"),
            Rule(calibration.definition, "anomaly", "human activity", "anomaly-7"),
        ),
        scene="a walkway",
    )
    analysis = analyzer.analyze_one(
        event_video, definitions=calibration.others[:1], rules=rules, scene="a campus walkway"
    )
    explanation = analysis.explanation
    assert calibration.definition in explanation.definitions
    assert "people walking on the path" in analysis.detector.config.normal
    assert "a campus walkway" in analysis.detector.config.normal
    fired = [i for e in explanation.evidence for i in e.rules()]
    assert fired and fired[0].ref == "anomaly-7"
    assert fired[0].text == calibration.definition
    assert "anomaly-7" in explanation.text


def _clip_memory(encoder, texts_labels):
    from vlad.encoders.text import ClipTextEmbedder
    from vlad.scoring.memory import MemoryEntry, MemoryIndex

    embedder = ClipTextEmbedder(encoder)
    entries = [MemoryEntry(text, label) for text, label in texts_labels]
    return MemoryIndex.from_entries(
        entries, embedder.embed([e.text for e in entries]), embedder=embedder.name
    )


def test_memory_built_with_the_clip_scores_frames_and_names_neighbours(
    analyzer, calibration, event_video, tiny_encoder
):
    memory = _clip_memory(
        tiny_encoder,
        [
            ("people walking", "normal"),
            ("an empty path", "normal"),
            ("a red car on the walkway", "anomalous"),
            ("a fight", "anomalous"),
        ],
    )
    analysis = analyzer.analyze_one(
        event_video, definitions=[calibration.definition], memory=memory
    )
    explanation = analysis.explanation
    track = next(t for t in explanation.tracks if t.definition == MEMORY_TRACK)
    expected = memory.respond(analysis.encoded.embeddings.numpy(), analyzer.memory_k)
    assert np.allclose(track.values, expected, atol=1e-6)  # no smoothing in this config
    assert np.all(explanation.fused.values >= track.values - 1e-9)
    for evidence in explanation.evidence:
        neighbours = evidence.neighbours()
        assert len(neighbours) == min(analyzer.neighbours, 4)
        assert {n.label for n in neighbours} <= {"normal", "anomalous"}
        peak = int(np.argmin(np.abs(analysis.encoded.times_s - evidence.peak_time_s)))
        assert evidence.memory_score == pytest.approx(float(expected[peak]), abs=1e-6)


def test_memory_of_another_embedder_is_a_clear_error(analyzer, event_video, tiny_encoder):
    from vlad.scoring.memory import MemoryEntry, MemoryIndex

    rows = np.eye(2, 8, dtype=np.float32)
    memory = MemoryIndex.from_entries(
        [MemoryEntry("a", "normal"), MemoryEntry("b", "anomalous")], rows, embedder="st:other"
    )
    with pytest.raises(InputError, match="st:other"):
        analyzer.analyze_one(event_video, memory=memory)


def test_model_text_keeps_grounded_sentences_only(tiny_encoder, calibration, event_video):
    answer = (
        "[E1] shows a fight between people from 0:02 to 0:04. "
        "A second fight happens at 0:45 [E1]. "
        "Also see [E7] for a stolen bicycle. "
        "Everything is normal."
    )
    backend = ScriptedBackend(answer)
    analyzer = Pipeline(tiny_encoder, llm=backend, video=video_config(calibration.threshold))
    explanation = analyzer.analyze_one(
        event_video, definitions=[calibration.definition]
    ).explanation
    assert explanation.text_source == "llm"
    assert explanation.text == "[E1] shows a fight between people from 0:02 to 0:04."
    # The model saw the facts, with the evidence id and the interval.
    prompt = backend.prompts[0][1]["content"]
    assert "[E1]" in prompt and span(2.0, 4.0) in prompt


@pytest.mark.parametrize(
    "answer",
    ["I like turtles.", "A fight at 1:13 [E1].", "See [E3].", "Everything is normal."],
)
def test_ungrounded_model_text_falls_back_to_the_template(
    tiny_encoder, calibration, event_video, answer
):
    analyzer = Pipeline(
        tiny_encoder, llm=ScriptedBackend(answer), video=video_config(calibration.threshold)
    )
    explanation = analyzer.analyze_one(
        event_video, definitions=[calibration.definition]
    ).explanation
    assert explanation.text_source == "template"
    assert explanation.text == template_text(explanation)


def test_the_issues_analyzer_text_is_checked_and_the_drops_noted_in_the_record(
    tiny_encoder, calibration, event_video
):
    answer = (
        "The verdict was a 3.33% drop from the highest score and a score of 0.10. "
        "[E1] covers 0:02 to 0:04. [E1] covers 0:02 to 0:04."
    )
    analyzer = Pipeline(
        tiny_encoder, llm=ScriptedBackend(answer), video=video_config(calibration.threshold)
    )
    explanation = analyzer.analyze_one(
        event_video, definitions=[calibration.definition]
    ).explanation
    assert (explanation.text, explanation.text_source) == ("[E1] covers 0:02 to 0:04.", "llm")
    note = (
        "2 of the language model's 3 sentences were dropped by the checks "
        "(1 number in no evidence, 1 repeat)."
    )
    assert explanation.notes == (note,)
    assert explanation.to_record()["notes"] == [note]
    # nothing left: the template, and the note says so
    analyzer = Pipeline(
        tiny_encoder,
        llm=ScriptedBackend("A score of 0.10 and a 3.33% drop. Write the summary."),
        video=video_config(calibration.threshold),
    )
    explanation = analyzer.analyze_one(
        event_video, definitions=[calibration.definition]
    ).explanation
    assert explanation.text_source == "template"
    assert explanation.notes == (
        "The language model's text was replaced by the evidence template: 2 of its 2 "
        "sentences failed the checks (1 number in no evidence, 1 prompt echo).",
    )


def test_a_failing_model_is_counted_and_the_template_used(tiny_encoder, calibration, event_video):
    analyzer = Pipeline(
        tiny_encoder,
        llm=ScriptedBackend(fail=True),
        video=video_config(calibration.threshold),
    )
    explanation = analyzer.analyze_one(
        event_video, definitions=[calibration.definition]
    ).explanation
    assert explanation.text_source == "template"
    assert analyzer.llm_failures == 1


def test_new_definitions_are_scored_without_decoding_the_video(analyzer, analysis, monkeypatch):
    import vlad.pipeline.video as pipeline

    def no_decoding(*_args, **_kwargs):
        raise AssertionError("re-scoring must not decode the video")

    monkeypatch.setattr(pipeline, "open_video", no_decoding)
    reads: list[int] = []
    from vlad.media.video import VideoReader

    original = VideoReader.read_frame

    def counting(self, index):
        reads.append(index)
        return original(self, index)

    monkeypatch.setattr(VideoReader, "read_frame", counting)
    result = analyzer.score_definition(analysis, "a person riding a bicycle")
    assert result.track.values.shape == (30,)
    assert len(reads) == len(result.keyframes) <= len(result.intervals)
    for interval, frame in zip(result.intervals, result.keyframes, strict=False):
        assert interval.start_s <= frame.time_s < interval.end_s + 1e-9
    assert analyzer.score_definition(analysis, "a person riding a bicycle") is result


def test_image_analysis_gives_the_full_heat_map(tiny_encoder, tmp_path):
    from vlad.config import WinClipConfig

    path = tmp_path / "part.png"
    make_image(40, 56, seed=2, defect=True).save(path)
    low = Pipeline(tiny_encoder, image=WinClipConfig(threshold=0.0))
    explanation = low.analyze_one(path, definitions=["a scratch"], scene="metal plate").explanation
    assert explanation.kind == "image" and explanation.verdict == "anomalous"
    [keyframe] = explanation.keyframes
    assert keyframe.anomaly_map.shape == (40, 56)
    assert keyframe.overlay.shape == (40, 56, 3)
    [evidence] = explanation.evidence
    assert evidence.items[0].kind == "image"
    assert evidence.items[0].score == pytest.approx(explanation.score)
    assert times_in(explanation.text) == []
    high = Pipeline(tiny_encoder, image=WinClipConfig(threshold=1.0))
    normal = high.analyze_one(path).explanation
    assert normal.verdict == "normal" and normal.evidence == ()
    assert normal.keyframes[0].overlay is not None  # the map is shown for a normal image too


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("empty.mp4", b"", "empty"),
        ("notes.mp4", b"this is not a video at all\n" * 20, "notes.mp4"),
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "broken.png"),
    ],
)
def test_bad_files_are_one_sentence_errors(analyzer, tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=match) as caught:
        analyzer.analyze_one(path)
    assert "\n" not in str(caught.value)


def test_missing_file_is_an_error(analyzer, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        analyzer.analyze_one(tmp_path / "nope.mp4")


# ------------------------------------------------------------- grounding on hand-built data


def test_ground_text_drops_invented_times_citations_and_contradictions():
    explanation = fight_explanation()
    text = (
        "A fight starts at 0:40 [E1]. Another at 0:12. See E4. Everything is normal. "
        "It ends by 0:45."
    )
    grounded = ground_text(text, explanation)
    assert grounded.text == "A fight starts at 0:40 [E1]. It ends by 0:45."
    assert grounded.citations == ("E1",)
    assert grounded.times_s == (40.0, 45.0)
    assert len(grounded.dropped) == 3
    assert grounded.grounded
    # A time the user asked about may be repeated.
    assert ground_text("At 0:12 nothing fired.", explanation, extra_times_s=[12]).kept == 1


def test_ground_text_keeps_a_normal_verdict_normal():
    explanation = fight_explanation("normal")
    grounded = ground_text("The video is anomalous. People walk calmly.", explanation)
    assert grounded.text == "People walk calmly."
    assert template_text(explanation).startswith("Normal")


def test_clock_and_span():
    assert clock(0) == "0:00" and clock(42.9) == "0:42" and clock(3725) == "1:02:05"
    assert span(2.0, 4.0) == "0:02–0:04" and span(3.4, 3.6) == "0:03–0:04"
    assert times_in("from 0:02 to 1:02:05, not 12:3 or 3:75") == [2.0, 3725.0]


def test_ground_text_drops_echoed_instructions_and_fragments():
    from vlad.pipeline.chat import CHAT_SYSTEM

    explanation = fight_explanation()
    text = (
        "The verdict was decided by the scores and cannot change. "
        "Cite evidence by its id in square brackets, such as [E1]. "
        "A fight starts at 0:40 [E1]. Answer"
    )
    grounded = ground_text(text, explanation, instructions=CHAT_SYSTEM)
    assert grounded.text == "A fight starts at 0:40 [E1]."
    assert len(grounded.dropped) == 3


def test_a_tiny_animated_image_gets_its_verdict_with_notes(tiny_encoder, tmp_path):
    from PIL import Image

    path = tmp_path / "dot.gif"
    frames = [Image.new("RGB", (2, 1), color) for color in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    explanation = Pipeline(tiny_encoder).analyze_one(path).explanation
    assert explanation.ok and explanation.kind == "image"
    assert explanation.notes == (
        "The file has 2 frames (an animation); only the first frame is scored.",
        "The image is only 2x1 pixels (under 32 on a side), so CLIP sees it blown up and its "
        "verdict says little.",
    )
    assert explanation.to_record()["notes"] == list(explanation.notes)
    plain = tmp_path / "part.png"
    make_image(40, 56, seed=2).save(plain)
    assert Pipeline(tiny_encoder).analyze_one(plain).explanation.notes == ()
