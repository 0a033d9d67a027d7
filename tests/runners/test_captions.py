"""The caption evaluation loop: where the rules come from, and the figures it returns."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.data.test_captions import write
from vlad.data.captions import load_caption_dataset
from vlad.errors import ConfigError
from vlad.runners.captions import dataset_rules, evaluate_captions


def test_rules_come_from_the_path_then_the_dataset_and_else_need_an_llm(tmp_path: Path) -> None:
    root = write(tmp_path, {"t": (["a man runs", "a man walks"], ["1", "0"])})
    videos = load_caption_dataset(root, "toy")
    with pytest.raises(
        ConfigError, match=r"^The dataset toy has no rules\.txt; pass rules_path"
    ) as info:
        dataset_rules(root, "toy", videos)
    assert info.value.param == "rules_path"
    assert "pass --rules or" in info.value.for_surface({"rules_path": "--rules"})
    own = write(tmp_path / "own", {"t": (["a man runs"], ["1"])}, rules=True)
    rules, how = dataset_rules(own, "toy", videos)
    assert how.startswith("the dataset's rules (") and [r.text for r in rules.anomaly()] == [
        "Running"
    ]
    path = tmp_path / "mine.txt"
    path.write_text("**Anomaly Human Activities:**\n1. Walking fast\n")
    rules, how = dataset_rules(own, "toy", videos, rules_path=path, definitions=["a dog"])
    assert how == f"rules from {path}"
    assert [r.text for r in rules.anomaly()] == ["Walking fast", "a dog"]


def test_keyword_evaluation_figures_are_exact(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {"t": (["a man is running", "a man is walking", "a man is walking"], ["1", "0", "0"])},
        rules=True,
    )
    videos = load_caption_dataset(root, "toy")
    rules, _ = dataset_rules(root, "toy", videos)
    figures, deductions = evaluate_captions(videos, rules, method="keywords", smooth=0)
    assert [d.verdict for d in deductions[0]] == ["anomalous", "normal", "normal"]
    assert figures["auc"] == 1.0 and figures["accuracy"] == 1.0
    assert figures["frames"] == 3 and figures["videos"] == 1
    assert figures["llm_calls_per_frame"] == 0 and figures["method"] == "keywords"
    assert figures["scene_prior"] is False and "scene_references" not in figures


def test_a_deduction_config_gives_the_same_figures_as_keywords(tmp_path: Path) -> None:
    from vlad.config import DeductionConfig

    root = write(
        tmp_path,
        {"t": (["a man is running", "a man is walking", "a man is walking"], ["1", "0", "0"])},
        rules=True,
    )
    videos = load_caption_dataset(root, "toy")
    rules, _ = dataset_rules(root, "toy", videos)
    plain, _ = evaluate_captions(videos, rules, method="keywords", smooth=0)
    configured, _ = evaluate_captions(
        videos, rules, config=DeductionConfig(method="keywords", smooth=0)
    )
    plain.pop("wall_s"), configured.pop("wall_s")
    assert configured == plain
    with pytest.raises(ConfigError, match=r"^smooth must be zero or more frames") as info:
        evaluate_captions(videos, rules, method="keywords", smooth=-1)
    assert info.value.param == "smooth"


# --- honest progress and per-video resume ----------------------------------------------------


class RecordingEmbedder:
    """A real embedder, noting each call's texts and the progress reported before it."""

    def __init__(self, inner: Any, shares: list[float]) -> None:
        self.inner = inner
        self.shares = shares
        self.calls: list[tuple[float, list[str]]] = []

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        self.calls.append((self.shares[-1] if self.shares else 0.0, list(texts)))
        return self.inner.embed(texts, batch_size=batch_size)


@pytest.fixture(scope="module")
def text_tower(tiny_encoder: Any) -> Any:
    """A real text embedder that runs in milliseconds: the tiny CLIP's text tower."""
    from vlad.encoders.text import ClipTextEmbedder

    return ClipTextEmbedder(tiny_encoder)


def varied_dataset(root: Path) -> Path:
    """Three videos with 300 distinct clauses each (more than one embedding chunk)."""
    videos = {}
    for v in range(3):
        captions, labels = [], []
        for k in range(300):
            running = 60 <= k < 80
            what = "a person is running fast" if running else "a person is walking"
            captions.append(f"{what}, a cart carries parcel {v * 1000 + k}")
            labels.append("1" if running else "0")
        videos[f"test_0{v + 1}"] = (captions, labels)
    return write(root, videos, rules=True)


def test_progress_moves_while_clauses_are_embedded_and_reaches_one(
    tmp_path: Path, text_tower: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vlad.runners.captions as runner

    monkeypatch.setattr(runner, "_EMBED_CHUNK", 128)  # 1024 a call by default: fewer here
    root = varied_dataset(tmp_path)
    videos = load_caption_dataset(root, "toy")
    rules, _ = dataset_rules(root, "toy", videos)
    shares: list[float] = []
    embedder = RecordingEmbedder(text_tower, shares)
    figures, _ = evaluate_captions(videos, rules, embedder=embedder, progress=shares.append)
    assert shares[-1] == 1.0 and all(0.0 <= s <= 1.0 for s in shares)
    assert all(a < b for a, b in itertools.pairwise(shares)), shares
    caption_calls = [(share, texts) for share, texts in embedder.calls if "parcel" in texts[0]]
    # 900 distinct clauses in chunks: the bar moves between them, not only after all of them.
    assert len(caption_calls) == 8
    assert len({share for share, _ in caption_calls}) == len(caption_calls)
    assert caption_calls[-1][0] > 0.5
    assert len(shares) >= 8
    assert figures["clauses_embedded"] == 902


def test_an_interrupted_evaluation_resumes_per_video_with_the_same_figures(
    tmp_path: Path, text_tower: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from vlad.runners.captions import CaptionParts

    root = varied_dataset(tmp_path / "data")
    videos = load_caption_dataset(root, "toy")
    rules, _ = dataset_rules(root, "toy", videos)
    whole, whole_frames = evaluate_captions(videos, rules, embedder=text_tower, smooth=4)

    parts = CaptionParts(tmp_path / "frames.jsonl")

    def stop_after_the_first_video(share: float) -> None:
        if (parts.folder / "test_01.json").is_file():
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate_captions(
            videos,
            rules,
            embedder=text_tower,
            smooth=4,
            parts=parts,
            progress=stop_after_the_first_video,
        )
    kept = sorted(p.name for p in parts.folder.iterdir())
    assert kept == [".vlad-caption-parts", "test_01.json"]

    shares: list[float] = []
    recording = RecordingEmbedder(text_tower, shares)
    resumed, resumed_frames = evaluate_captions(
        videos, rules, embedder=recording, smooth=4, parts=parts, progress=shares.append
    )
    assert resumed["resumed_videos"] == 1 and whole["resumed_videos"] == 0
    assert resumed["auc"] == pytest.approx(whole["auc"], abs=1e-6)
    assert resumed["ap"] == pytest.approx(whole["ap"], abs=1e-6)
    assert resumed_frames == whole_frames
    embedded = {t for _, texts in recording.calls for t in texts}
    assert not any("parcel 5" in t and "parcel 50" not in t for t in embedded)  # video 1: kept
    assert any("parcel 1005" in t for t in embedded) and shares[-1] == 1.0
    assert sorted(p.name for p in parts.folder.iterdir())[1:] == [
        "test_01.json",
        "test_02.json",
        "test_03.json",
    ]

    again, _ = evaluate_captions(videos, rules, embedder=text_tower, smooth=4, parts=parts)
    assert again["resumed_videos"] == 3 and again["auc"] == pytest.approx(whole["auc"], abs=1e-6)

    with caplog.at_level("WARNING", logger="vlad"):
        changed, _ = evaluate_captions(videos, rules, embedder=text_tower, smooth=8, parts=parts)
    assert changed["resumed_videos"] == 0
    assert [r.getMessage() for r in caplog.records] == [
        f"3 videos kept in {parts.folder} had other settings or data; judging them again."
    ]


def test_a_broken_part_file_is_judged_again(tmp_path: Path) -> None:
    from vlad.runners.captions import CaptionParts

    root = write(
        tmp_path,
        {
            "a": (["a man is running", "a man is walking"], ["1", "0"]),
            "b": (["a man is walking", "a man is running"], ["0", "1"]),
        },
        rules=True,
    )
    videos = load_caption_dataset(root, "toy")
    rules, _ = dataset_rules(root, "toy", videos)
    parts = CaptionParts(tmp_path / "out.jsonl")
    first, _ = evaluate_captions(videos, rules, method="keywords", smooth=0, parts=parts)
    parts.path_of("b").write_text('{"version": 1, "video": "b", "fram')  # a torn file
    second, _ = evaluate_captions(videos, rules, method="keywords", smooth=0, parts=parts)
    assert second["resumed_videos"] == 1 and second["auc"] == first["auc"] == 1.0
    assert json.loads(parts.path_of("b").read_text())["video"] == "b"


def test_keyword_progress_is_per_video_and_reaches_one(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "a": (["a man is running"] * 3, ["1"] * 3),
            "b": (["a man is walking"] * 6, ["0"] * 6),
            "c": (["a man is walking"], ["0"]),
        },
        rules=True,
    )
    videos = load_caption_dataset(root, "toy")
    rules, _ = dataset_rules(root, "toy", videos)
    shares: list[float] = []
    evaluate_captions(videos, rules, method="keywords", progress=shares.append)
    assert shares == [0.0, 0.3, 0.9, 1.0]


def test_parts_beside_a_file_or_in_a_foreign_folder_are_refused(tmp_path: Path) -> None:
    from vlad.runners.captions import CaptionParts

    parts = CaptionParts(tmp_path / "out.jsonl")
    parts.check()  # nothing there yet
    (tmp_path / "out.jsonl.parts").write_text("mine")
    with pytest.raises(ConfigError) as info:
        parts.check(param="out")
    assert str(info.value) == (
        f"out keeps each video's result in '{tmp_path / 'out.jsonl.parts'}', which is a "
        "file; move it or choose another out."
    )
    assert info.value.param == "out"
    (tmp_path / "out.jsonl.parts").unlink()
    (tmp_path / "out.jsonl.parts").mkdir()
    (tmp_path / "out.jsonl.parts" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"which holds files vlad did not write; move them"):
        parts.check(param="out")
    assert (tmp_path / "out.jsonl.parts" / "keep.txt").read_text() == "mine"


def test_odd_video_names_get_safe_distinct_part_files(tmp_path: Path) -> None:
    from vlad.runners.captions import CaptionParts

    parts = CaptionParts(tmp_path / "out.jsonl")
    names = ["test_01", "../evil", "a b", "a_b", ".hidden"]
    paths = [parts.path_of(n) for n in names]
    assert paths[0].name == "test_01.json"
    assert len(set(paths)) == len(names)
    assert all(p.parent == parts.folder and not p.name.startswith(".") for p in paths)


def test_video_norm_is_reported_hashed_and_checked(tmp_path: Path) -> None:
    from tests.reasoning.deduction.helpers import VOCAB, WordEmbedder
    from vlad.config import DeductionConfig
    from vlad.runners.captions import video_settings_hashes

    root = write(
        tmp_path,
        {"t": (["a man is running", "a man is walking", "a man is walking"], ["1", "0", "0"])},
        rules=True,
    )
    videos = load_caption_dataset(root, "toy")
    rules, _ = dataset_rules(root, "toy", videos)
    embedder = WordEmbedder(VOCAB)
    figures, frames = evaluate_captions(videos, rules, embedder=embedder, smooth=0)
    assert figures["video_norm"] == 0.5 and figures["smooth_frames"] == 0
    plain, plain_frames = evaluate_captions(
        videos, rules, embedder=embedder, smooth=0, video_norm=0.0
    )
    assert plain["video_norm"] == 0.0
    # Half the median margin (that of "a man is walking") comes off every frame.
    median = plain_frames[0][1].margin
    assert [f.margin for f in frames[0]] == pytest.approx(
        [f.margin - median / 2 for f in plain_frames[0]], abs=1e-12
    )
    keywords, _ = evaluate_captions(videos, rules, method="keywords", smooth=0)
    assert keywords["video_norm"] == 0.0  # counts of rule words are not normalised
    hashes = {
        v: video_settings_hashes(videos, rules, DeductionConfig(video_norm=v), embedder=embedder)
        for v in (0.0, 0.5)
    }
    assert hashes[0.0] != hashes[0.5]
    with pytest.raises(ConfigError, match=r"^video_norm must lie in \[0, 1\], got -0\.1\.$"):
        evaluate_captions(videos, rules, embedder=embedder, video_norm=-0.1)
