"""The local batch engine on a tiny real CLIP: records, resume, failures, batched texts."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import make_image
from tests.videos import moving_square_frames, write_video
from vlad.config import ClipConfig, PipelineConfig, VideoConfig
from vlad.runners.batch import local
from vlad.runners.batch.inputs import BatchInput, expand_inputs
from vlad.runners.batch.local import (
    BatchOptions,
    VideoBar,
    _split_progress,
    explain_group,
    run_local,
)
from vlad.runners.batch.store import ResultStore

RUN = {"threshold": 0.5}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    make_image(64, 64, seed=1).save(folder / "plate_a.png")
    make_image(64, 64, seed=2, defect=True).save(folder / "plate_b.png")
    write_video(folder / "walk.mp4", moving_square_frames(20, 48, 64), fps=10)
    return folder


@pytest.fixture(scope="module")
def config(clip_dir: Path) -> PipelineConfig:
    return PipelineConfig(
        clip=ClipConfig(weights=f"local-dir:{clip_dir}", device="cpu"),
        video=VideoConfig(sample_fps=4.0, threshold=0.0),
        llm=None,
    )


def _options(**kwargs) -> BatchOptions:
    return BatchOptions(progress=False, **kwargs)


def test_records_artifacts_timeline_then_resume_and_changed_settings(media, config, tmp_path):
    items = expand_inputs([str(media)])
    store = ResultStore(tmp_path / "out").open()
    summary = run_local(items, store, config=config, run_settings=RUN, options=_options())
    assert (summary.done, summary.failed, summary.skipped) == (3, 0, 0)
    records = {r["id"]: r for r in store.records()}
    assert set(records) == {"plate_a.png", "plate_b.png", "walk.mp4"}
    video = records["walk.mp4"]
    assert video["status"] == "ok" and video["input"] == str(media / "walk.mp4")
    timeline = video["timeline"]
    assert 0 < len(timeline["times"]) <= 500
    assert len(timeline["fused"]) == len(timeline["times"])
    assert all(len(v) == len(timeline["times"]) for v in timeline["tracks"].values())
    assert video["artifacts"], "a video with an interval has a keyframe"
    for record in records.values():
        assert len(record["settings_hash"]) == 16 and record["seconds"] >= 0
        for artifact in record["artifacts"]:
            assert (store.root / artifact["path"]).is_file()
            assert artifact["kind"] in ("keyframe", "overlay")
    image = records["plate_a.png"]
    assert "timeline" not in image
    assert {a["kind"] for a in image["artifacts"]} == {"keyframe", "overlay"}
    assert store.index_is_current()

    again = run_local(items, store, config=config, run_settings=RUN, options=_options())
    assert (again.done, again.skipped, again.changed) == (0, 3, 0)

    said: list[str] = []
    changed = run_local(
        items,
        store,
        config=config,
        run_settings={"threshold": 0.3},
        options=_options(),
        say=said.append,
    )
    assert (changed.done, changed.changed) == (3, 3)
    assert said == ["3 result(s) were made with other settings; analysing them again."]
    lines = store.index_path.read_text().splitlines()
    assert len(lines) == 3  # the redone inputs' old lines are gone


def test_a_crash_on_one_input_fails_it_and_the_rest_go_on(media, config):
    from vlad.pipeline import Pipeline

    real = Pipeline.from_config(config)

    class Crashing:
        def iter_analyze(self, paths, **kwargs):
            for path in paths:
                if path.endswith("plate_b.png"):
                    raise RuntimeError("decoder crashed")
                yield from real.iter_analyze([path], **kwargs)

    items = [
        BatchInput(id=p, path=str(media / p)) for p in ("plate_a.png", "plate_b.png", "walk.mp4")
    ]
    results = list(explain_group(Crashing(), {}, items, workers=1))
    assert [item.id for item, _, _ in results] == ["plate_a.png", "plate_b.png", "walk.mp4"]
    ok = [explanation.ok for _, explanation, _ in results]
    assert ok == [True, False, True]
    assert results[1][1].error == (
        f"Cannot analyse '{media / 'plate_b.png'}': unexpected error "
        "(RuntimeError: decoder crashed); rerun with --debug and report it."
    )


def test_a_row_whose_rules_cannot_be_read_fails_alone(media, config, tmp_path):
    broken = tmp_path / "broken-rules.txt"
    broken.write_bytes(b"\xff\xfe\x00garbage")
    items = [
        BatchInput(id="a", path=str(media / "plate_a.png")),
        BatchInput(id="b", path=str(media / "walk.mp4"), rules=str(broken)),
        BatchInput(id="c", path=str(media / "plate_b.png"), definitions=("a dark square",)),
    ]
    store = ResultStore(tmp_path / "out").open()
    summary = run_local(items, store, config=config, run_settings=RUN, options=_options())
    assert (summary.done, summary.failed) == (2, 1)
    failed = store.load("b")
    assert failed is not None and failed["status"] == "failed"
    assert "broken-rules.txt" in failed["error"] and "\n" not in failed["error"]
    record_c = store.load("c")
    assert record_c is not None and "a dark square" in record_c["definitions"]
    errors = [json.loads(x) for x in store.errors_path.read_text().splitlines()]
    assert [e["id"] for e in errors] == ["b"]


def test_failures_skipped_until_retry_failed(media, config, tmp_path):
    missing = tmp_path / "later.png"
    items = expand_inputs([str(media / "plate_a.png"), str(missing)])
    store = ResultStore(tmp_path / "out").open()
    first = run_local(items, store, config=config, run_settings=RUN, options=_options())
    assert (first.done, first.failed) == (1, 1)
    make_image(64, 64, seed=5).save(missing)
    items = expand_inputs([str(media / "plate_a.png"), str(missing)])
    said: list[str] = []
    second = run_local(
        items, store, config=config, run_settings=RUN, options=_options(), say=said.append
    )
    assert (second.done, second.skipped_failed) == (0, 1)
    assert "add --retry-failed to try them again" in said[-1]
    third = run_local(
        items, store, config=config, run_settings=RUN, options=_options(retry_failed=True)
    )
    assert (third.done, third.failed) == (1, 0)
    assert store.summary() == {"ok": 2, "failed": 0}
    assert not store.errors_path.read_text().strip()  # errors.jsonl rebuilt: none left


@pytest.fixture(scope="module")
def tiny_llm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import LlamaForCausalLM

    from tests.reasoning.test_transformers_backend import (
        TEXT_TEMPLATE,
        llama_config,
        word_tokenizer,
    )

    folder = tmp_path_factory.mktemp("tiny_llm")
    tokenizer = word_tokenizer(TEXT_TEMPLATE)
    torch.manual_seed(0)
    LlamaForCausalLM(llama_config(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_texts_of_many_inputs_in_one_call_and_cached(
    media, config, tmp_path, tiny_llm_dir, monkeypatch
):
    monkeypatch.setenv("VLAD_CACHE_DIR", str(tmp_path / "cache"))
    items = expand_inputs([str(media)])
    store = ResultStore(tmp_path / "out").open()
    llm = f"transformers:{tiny_llm_dir}"
    summary = run_local(
        items, store, config=config, run_settings=RUN, llm=llm, options=_options(llm_batch=8)
    )
    assert summary.done == 3
    assert (summary.llm_invocations, summary.llm_conversations) == (1, 3)
    for record in store.records():
        assert record["text_source"] in ("llm", "template") and record["text"]
    for path in store.results_dir.glob("*.json"):
        path.unlink()  # a resumed run that must redo them asks the model nothing
    again = run_local(
        items, store, config=config, run_settings=RUN, llm=llm, options=_options(llm_batch=8)
    )
    assert again.done == 3
    assert (again.llm_conversations, again.llm_cached) == (0, 3)


def test_progress_is_split_per_input_and_done_goes_to_the_input_before():
    items = [BatchInput(id=f"{n}.mp4", path=f"{n}.mp4") for n in range(3)]
    seen: list[tuple[str, float, str]] = []
    stages: list[float] = []
    progress = _split_progress(
        items, lambda f, _t: stages.append(f), lambda i, f, t: seen.append((i.id, f, t))
    )
    for number in range(3):
        for own, stage in ((0.0, "Opening the video"), (0.4, "Encoding"), (1.0, "Done")):
            progress((number + own) / 3, f"{number}.mp4: {stage}")
    assert len(stages) == 9
    assert [s for s in seen if s[2] == "Done"] == [(f"{n}.mp4", 1.0, "Done") for n in range(3)]
    assert [s[0] for s in seen] == [f"{n}.mp4" for n in range(3) for _ in range(3)]
    assert seen[1] == ("0.mp4", pytest.approx(0.4), "Encoding")


def test_a_video_has_its_own_bar_over_its_frames_that_reaches_100_percent(
    media, config, tmp_path, monkeypatch, capsys
):
    bars: list[VideoBar] = []
    counts: list[tuple[int, int]] = []

    class Recording(VideoBar):
        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            bars.append(self)

        def update(self, item, fraction, stage) -> None:
            super().update(item, fraction, stage)
            if self.bar is not None:
                counts.append((int(self.bar.n), int(self.bar.total)))

    monkeypatch.setattr(local, "VideoBar", Recording)
    small_batches = replace(config, video=replace(config.video, batch_size=2))
    items = expand_inputs([str(media)])
    store = ResultStore(tmp_path / "out").open()
    summary = run_local(
        items,
        store,
        config=small_batches,
        run_settings=RUN,
        options=BatchOptions(progress=True, workers=1),
    )
    assert summary.done == 3
    [bar] = bars
    # walk.mp4: 2 s at 4 frames/s scored = 8 frames, encoded 2 at a time
    assert bar.finished == [("walk.mp4", 8, 8)], "the video's bar reaches 100 %, images get none"
    assert [n for n, _ in counts] == sorted(n for n, _ in counts), "the bar never goes back"
    assert {2, 4, 6} <= {n for n, _ in counts}, "it moves while the frames are encoded"
    assert {total for _, total in counts} == {8}
    err = capsys.readouterr().err
    assert "8/8" in err and "frame" in err
    assert "3/3" in err, "the bar over inputs reaches 100 % too"


def test_the_video_bar_shows_how_many_frames_the_vlm_described(media, capsys) -> None:
    [item] = expand_inputs([str(media / "walk.mp4")])
    bar = VideoBar(sample_fps=4.0, frames_fps=None)
    bar.update(item, 0.75, "Scoring")
    bar.update(item, 0.782, "Describing frames 16/40")
    assert bar.bar is not None and bar.bar.postfix == "describing frames 16/40"
    bar.update(item, 1.0, "Done")
    assert bar.finished == [(item.id, 8, 8)]
    assert "describing frames 16/40" in capsys.readouterr().err
