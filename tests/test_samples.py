"""The samples in ``datasets/samples`` that the README's examples name: they exist, vlad's
own readers take them, and ``datasets/make_samples.py`` draws what is shipped."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from vlad.data.captions import dataset_rules_file, load_caption_dataset
from vlad.media.video import open_video
from vlad.reasoning.induction import read_caption_file
from vlad.reasoning.rules import load_rules

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "datasets" / "samples"


@pytest.fixture(scope="module")
def make_samples() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_samples", REPO / "datasets" / "make_samples.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_plates_are_the_only_images_of_their_folder() -> None:
    from vlad.media.image import load_image

    names = sorted(p.name for p in (SAMPLES / "plates").iterdir())
    assert names == ["dent.png", "good_1.png", "good_2.png", "scratch.png"]
    for name in names:
        assert load_image(SAMPLES / "plates" / name).size == (256, 256)


def test_the_video_sample_decodes_with_its_frame_count_and_rate() -> None:
    path = SAMPLES / "walkway.mp4"
    assert path.stat().st_size < 300_000
    with open_video(path) as reader:
        info = reader.info
        assert (info.fps, info.frame_count, info.duration_s) == (10.0, 80, 8.0)
        assert (info.width, info.height) == (320, 240)
        shapes = {frame.image.shape for frame in reader.iter_frames()}
    assert shapes == {(240, 320, 3)}


def test_the_frame_folder_reads_as_a_two_second_video() -> None:
    names = sorted(p.name for p in (SAMPLES / "frames").iterdir())
    assert names == [f"{i:03d}.jpg" for i in range(20)]
    with open_video(SAMPLES / "frames", frames_fps=10) as reader:
        info = reader.info
        assert (info.fps, info.frame_count, info.duration_s) == (10.0, 20, 2.0)
        times = [frame.time_s for frame in reader.iter_frames()]
    assert times == pytest.approx([i / 10 for i in range(20)])


def test_the_shipped_clip_is_what_the_script_draws(make_samples: ModuleType) -> None:
    drawn = [np.asarray(image, dtype=np.float64) for image in make_samples.video_frames()]
    with open_video(SAMPLES / "walkway.mp4") as reader:
        decoded = [frame.image.astype(np.float64) for frame in reader.iter_frames()]
    assert len(decoded) == len(drawn) == 80
    errors = [float(np.abs(a - b).mean()) for a, b in zip(decoded, drawn, strict=True)]
    assert max(errors) < 6.0  # lossy H.264, same picture
    # The cyclist is on screen from 4.0 s to 6.5 s and nowhere else.
    background = np.asarray(make_samples.walkway_frame(5.0, cyclist_from=99, cyclist_to=99))
    with_cyclist = drawn[50]
    changed = np.abs(with_cyclist - background).max(axis=-1) > 40
    assert changed.sum() > 300  # the bicycle and its rider
    without = make_samples.walkway_frame(2.0, cyclist_from=99, cyclist_to=99)
    assert np.array_equal(drawn[20], np.asarray(without, dtype=np.float64))


def test_the_shipped_frames_and_texts_are_what_the_script_writes(
    make_samples: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(make_samples, "OUT", tmp_path)
    monkeypatch.setattr(make_samples, "write_video", lambda path, frames: None)  # checked above
    make_samples.main()
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    shipped = sorted(
        p.relative_to(SAMPLES) for p in SAMPLES.rglob("*") if p.is_file() and p.suffix != ".mp4"
    )
    assert written == shipped
    for relative in written:
        new, old = tmp_path / relative, SAMPLES / relative
        if relative.suffix in (".png", ".jpg"):
            pixels = np.asarray(Image.open(new)), np.asarray(Image.open(old))
            assert np.array_equal(*pixels), relative
        else:
            assert new.read_bytes() == old.read_bytes(), relative


def test_the_caption_and_rule_samples_read_through_vlad() -> None:
    captions = read_caption_file(SAMPLES / "normal-captions.txt")
    assert len(captions) == 30
    assert captions[0] == "a person walking along the campus walkway"
    rules = load_rules(SAMPLES / "walkway-rules.txt")
    assert (len(rules.anomaly()), len(rules.normal())) == (8, 7)
    assert rules.categories("anomaly") == ("human activity", "object")


def test_the_caption_benchmark_has_the_anomalyruler_layout() -> None:
    root = SAMPLES / "captions"
    videos = load_caption_dataset(root, "walkway")
    assert [v.name for v in videos] == ["test_01", "test_02"]
    assert [len(v.captions) for v in videos] == [20, 16]
    assert videos[0].labels.tolist() == [0] * 10 + [1] * 10
    assert videos[1].labels.sum() == 0
    pairs = zip(videos[0].captions, videos[0].labels, strict=True)
    assert all("bicycle" in caption for caption, label in pairs if label)
    assert dataset_rules_file(root, "walkway") == root / "walkway" / "rules.txt"


def test_the_readmes_name_only_files_that_exist() -> None:
    """Every repository path a README names (``datasets/...``, ``bench/x.py`` ...) is there."""
    import re

    pattern = re.compile(
        r"(?<![\w./-])((?:datasets|bench|tests|vlad|prompts|eval|demo|\.ci)/[\w./{}*-]*[\w*}/])"
    )
    readmes = [REPO / "README.md", *(REPO / d / "README.md" for d in ("datasets", "eval", "demo"))]
    missing = []
    for readme in readmes:
        for name in pattern.findall(readme.read_text(encoding="utf-8")):
            if "{" in name or "*" in name:
                continue  # a template or a glob
            path = REPO / name
            if not (path.exists() or path.with_suffix(".py").exists()):
                missing.append(f"{readme.relative_to(REPO)}: {name}")
    assert missing == []
