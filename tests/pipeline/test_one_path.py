"""One code path: the same image and video through the Python API, ``vlad detect --json``
and the demo's handler give the same Explanation fields; batches keep input order and turn
failed inputs into failure records; progress is one callback type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_image
from tests.videos import moving_square_frames, write_video
from vlad.answer.explanation import Explanation
from vlad.cli.main import main
from vlad.config import ClipConfig, PipelineConfig, VideoConfig
from vlad.pipeline import Pipeline

# What ``vlad detect`` users have always had; the three surfaces must agree on them.
IMAGE_FIELDS = ("input", "score", "label", "verdict", "threshold", "height", "width", "map_max")
VIDEO_FIELDS = (
    "input",
    "score",
    "label",
    "verdict",
    "threshold",
    "duration_s",
    "fps",
    "frame_count",
    "sample_fps",
    "segments",
    "intervals",
    "definitions",
)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("one-path")
    image = folder / "plate.png"
    make_image(40, 48, seed=4, defect=True).save(image)
    video = write_video(folder / "walk.mp4", moving_square_frames(20, 48, 64), fps=10)
    return {"image": image, "video": video}


@pytest.fixture(scope="module")
def pipeline(clip_dir: Path) -> Pipeline:
    config = PipelineConfig(
        clip=ClipConfig(weights=f"local-dir:{clip_dir}", device="cpu"),
        video=VideoConfig(batch_size=8),
        llm=None,
    )
    return Pipeline.from_config(config)


def _detect(clip_dir: Path, path: Path, capsys) -> dict:
    capsys.readouterr()
    status = main(
        ["detect", str(path), "--json", "--clip-weights", f"local-dir:{clip_dir}", "--no-progress"]
    )
    assert status == 0
    (record,) = json.loads(capsys.readouterr().out)
    return record


def _demo(pipeline: Pipeline, path: Path) -> dict:
    from vlad.demo.handlers import DemoHandlers

    handlers = DemoHandlers(pipeline)
    _, key = handlers.analyze(str(path), "", "", None)
    _, session = handlers.store.get(key)
    assert session.analysis is not None
    return session.analysis.explanation.to_record()


def _same(first: dict, second: dict, fields: tuple[str, ...]) -> None:
    for name in fields:
        assert name in first and name in second, name
        a, b = json.dumps(first[name], sort_keys=True), json.dumps(second[name], sort_keys=True)
        if a != b:  # scores may differ in the last digits between batch sizes
            assert first[name] == pytest.approx(second[name], abs=1e-5), name


@pytest.mark.parametrize(("kind", "fields"), [("image", IMAGE_FIELDS), ("video", VIDEO_FIELDS)])
def test_api_detect_and_demo_give_the_same_explanation(
    pipeline, clip_dir, media, capsys, kind, fields
):
    path = media[kind]
    [api] = pipeline.analyze(path)
    assert isinstance(api, Explanation) and api.ok and api.kind == kind
    api_record = api.to_record()
    detect_record = _detect(clip_dir, path, capsys)
    demo_record = _demo(pipeline, path)
    _same(api_record, detect_record, fields)
    _same(api_record, demo_record, fields)
    assert api_record["label"] == api_record["verdict"] == api.verdict
    assert set(api_record) == set(detect_record) == set(demo_record)


def test_a_batch_keeps_input_order_and_failures_are_records(pipeline, media, tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.png"
    inputs = [media["video"], empty, media["image"], missing, media["image"]]
    explanations = pipeline.analyze(inputs)
    assert [e.input for e in explanations] == [str(p) for p in inputs]
    assert [e.status for e in explanations] == ["ok", "failed", "ok", "failed", "ok"]
    assert [e.kind for e in explanations] == ["video", "image", "image", "image", "image"]
    failed = explanations[1]
    assert failed.verdict == "failed" and "empty" in failed.error and "\n" not in failed.error
    assert failed.to_record() == {"input": str(empty), "status": "failed", "error": failed.error}
    assert "does not exist" in explanations[3].error
    # The same image twice in one batch scores the same.
    assert explanations[2].score == pytest.approx(explanations[4].score, abs=1e-6)
    # iter_analyze yields the same records in the same order.
    streamed = list(pipeline.iter_analyze(inputs))
    assert [e.to_record() for e in streamed] == [e.to_record() for e in explanations]


def test_one_progress_type_over_the_whole_batch(pipeline, media):
    seen: list[tuple[float, str]] = []
    pipeline.analyze([media["image"], media["video"]], progress=lambda f, s: seen.append((f, s)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0 and fractions[-1] == pytest.approx(1.0)
    assert all(isinstance(stage, str) and stage for _, stage in seen)
    assert any(stage.startswith("walk.mp4: ") for _, stage in seen)  # named in a batch


def test_a_single_path_is_a_batch_of_one_and_analyze_one_keeps_embeddings(pipeline, media):
    [explanation] = pipeline.analyze(str(media["video"]))
    analysis = pipeline.analyze_one(media["video"])
    assert analysis.explanation.to_record() == explanation.to_record()
    assert analysis.encoded is not None


def test_analyze_one_raises_the_failure_sentence(pipeline, tmp_path):
    from vlad.errors import InputError

    with pytest.raises(InputError, match="does not exist"):
        pipeline.analyze_one(tmp_path / "nope.mp4")


def test_a_folder_needs_frames_fps(pipeline, tmp_path):
    [explanation] = pipeline.analyze(tmp_path)
    assert explanation.status == "failed"
    assert "frames_fps" in explanation.error and "--" not in explanation.error
