"""Perception: the frame captioner, its prompt, its per-frame cache and frame reuse."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.perception_helpers import build_tiny_vlm
from tests.videos import frame_number, moving_square_frames, write_video
from vlad.errors import ConfigError, InputError
from vlad.reasoning.cache import AnswerCache
from vlad.reasoning.llm import Conversation, GenerationSettings
from vlad.reasoning.perception import (
    FrameCaptioner,
    FrameKeeper,
    PerceptionPrompt,
    downscale,
    load_perception_prompt,
)

PAPER_QUESTION = (
    "How many people are in the image and what is each of them doing? "
    "What are in the images other than people?"
)


class FrameReader:
    """A fake VLM: answers with the frame number drawn in each image it is sent."""

    name = "fake-vlm"

    def __init__(self) -> None:
        self.calls: list[list[Conversation]] = []

    def chat(
        self, conversations: Sequence[Conversation], settings: GenerationSettings
    ) -> list[str]:
        self.calls.append(list(conversations))
        answers = []
        for conversation in conversations:
            image_part, _ = conversation[-1]["content"]
            url = image_part["image_url"]["url"]
            data = base64.b64decode(url.split(",", 1)[1])
            image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            answers.append(f"  frame   {frame_number(image)} ")
        return answers

    @property
    def sent(self) -> int:
        return sum(len(c) for c in self.calls)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("perception_video")
    return write_video(folder / "walk.mp4", moving_square_frames(20, 48, 64), fps=10)


def test_default_prompt_is_the_papers() -> None:
    prompt = load_perception_prompt()
    assert prompt.name == "perception"
    assert prompt.version == 1
    assert prompt.question == PAPER_QUESTION
    assert prompt.system == ""
    assert prompt.max_new_tokens == 160
    assert prompt.max_side == 448


def test_user_prompt_file_and_bad_ones(tmp_path: Path) -> None:
    path = tmp_path / "ask.yaml"
    path.write_text("question: |\n  What is   happening?\nsystem: Be brief.\nmax_side: 64\n")
    prompt = load_perception_prompt(path)
    assert prompt == PerceptionPrompt("ask", 1, "What is happening?", "Be brief.", 160, 64)
    with pytest.raises(ConfigError, match=r"^Perception prompt file .*none\.yaml does not exist"):
        load_perception_prompt(tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match=r"^Unknown perception prompt 'nope'; "):
        load_perception_prompt("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("system: hi\n")
    with pytest.raises(ConfigError, match=r"needs a 'question:' text\.$"):
        load_perception_prompt(bad)
    bad.write_text("question: ' '\n")
    with pytest.raises(ConfigError, match=r"has an empty question; write one\.$"):
        load_perception_prompt(bad)


def test_conversation_holds_the_image_then_the_question() -> None:
    captioner = FrameCaptioner(FrameReader())
    (message,) = captioner.conversation(Image.new("RGB", (8, 6), (1, 2, 3)))
    assert message["role"] == "user"
    image_part, text_part = message["content"]
    assert image_part["image_url"]["url"].startswith("data:image/png;base64,")
    assert text_part == {"type": "text", "text": PAPER_QUESTION}
    assert captioner.settings == GenerationSettings(max_new_tokens=160)
    with_system = FrameCaptioner(
        FrameReader(), prompt=PerceptionPrompt("p", 1, "What?", system="Be brief.")
    )
    assert with_system.conversation(Image.new("RGB", (8, 6)))[0] == {
        "role": "system",
        "content": "Be brief.",
    }


def test_downscale_keeps_aspect_and_never_enlarges() -> None:
    assert downscale(Image.new("RGB", (900, 300)), 448).size == (448, 149)
    assert downscale(Image.new("L", (40, 30)), 448).size == (40, 30)
    assert downscale(Image.new("L", (40, 30)), 448).mode == "RGB"


def test_caption_images_batches_in_order(tmp_path: Path) -> None:
    backend = FrameReader()
    captioner = FrameCaptioner(backend, batch_size=2)
    frames = moving_square_frames(5, 48, 64)
    path = tmp_path / "f.png"
    Image.fromarray(frames[4]).save(path)
    texts = captioner.caption_images([frames[0], Image.fromarray(frames[1]), frames[2], path])
    assert texts == ["frame 0", "frame 1", "frame 2", "frame 4"]
    assert [len(c) for c in backend.calls] == [2, 2]
    with pytest.raises(InputError, match=r"^Image .*missing\.png does not exist; check the path"):
        captioner.caption_images([tmp_path / "missing.png"])


def test_frames_are_read_cached_and_reused(video: Path, tmp_path: Path) -> None:
    backend = FrameReader()
    cache = AnswerCache(tmp_path / "answers.sqlite")
    captioner = FrameCaptioner(backend, cache=cache, batch_size=4)
    captions = captioner.caption_frames(video, [3, 7, 3])
    assert [c.text for c in captions] == ["frame 3", "frame 7", "frame 3"]
    assert [c.frame_index for c in captions] == [3, 7, 3]
    assert captions[1].time_s == pytest.approx(0.7)
    assert captions[0].to_record() == {
        "source": str(video),
        "text": "frame 3",
        "frame_index": 3,
        "time_s": 0.3,
    }
    assert backend.sent == 2
    # A second run (a new captioner, same cache) sends nothing and decodes nothing.
    again = FrameCaptioner(backend, cache=cache)
    assert [c.text for c in again.caption_frames(video, [7, 3])] == ["frame 7", "frame 3"]
    assert backend.sent == 2
    assert (again.cached, again.captioned) == (2, 0)
    # Another prompt or model is another key.
    other = FrameCaptioner(backend, cache=cache, prompt=PerceptionPrompt("p", 1, "What?"))
    other.caption_frames(video, [3])
    assert backend.sent == 3
    assert other.frame_key(video, 3) != captioner.frame_key(video, 3)
    assert captioner.frame_key(video, 3) != captioner.frame_key(video, 4)


def test_kept_frames_come_from_the_pipeline_not_the_file(
    video: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_encoder
) -> None:
    from vlad.config import VideoConfig
    from vlad.pipeline.video import VideoDetector

    keeper = FrameKeeper(max_side=64)
    detector = VideoDetector(tiny_encoder, VideoConfig(definitions=("a fire",), sample_fps=5.0))
    encoded = detector.encode(video, on_frame=keeper)
    assert (
        sorted(keeper.frames)
        == encoded.frame_indices.tolist()
        == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    )
    assert keeper.get(4).shape == (48, 64, 3)
    assert keeper.times_s[4] == pytest.approx(0.4)

    def no_decoding(*args, **kwargs):
        raise AssertionError("the video was decoded again")

    monkeypatch.setattr("vlad.media.video.open_video", no_decoding)
    backend = FrameReader()
    captions = FrameCaptioner(backend).caption_frames(video, [4, 12], keeper=keeper)
    assert [(c.text, c.time_s) for c in captions] == [("frame 4", 0.4), ("frame 12", 1.2)]


def test_keeper_stops_keeping_at_its_budget() -> None:
    keeper = FrameKeeper(max_side=64, max_bytes=2 * 48 * 64 * 3)
    for index, pixels in enumerate(moving_square_frames(3, 48, 64)):
        keeper(type("F", (), {"index": index, "time_s": index / 10, "image": pixels})())
    assert sorted(keeper.frames) == [0, 1]
    assert keeper.dropped == 1


@pytest.fixture(scope="module")
def tiny_vlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny LLaVA (CLIP vision tower, 32x32 images) with a processor built locally."""
    return build_tiny_vlm(tmp_path_factory.mktemp("perception_vlm"))


def test_tiny_vlm_through_the_transformers_backend(
    tiny_vlm_dir: Path, video: Path, tmp_path: Path
) -> None:
    from vlad.reasoning.registry import load_backend

    backend = load_backend(f"transformers:{tiny_vlm_dir}", device="cpu", batch_size=2)
    assert backend.is_vision  # type: ignore[attr-defined]
    settings = GenerationSettings(max_new_tokens=5)
    cache = AnswerCache(tmp_path / "answers.sqlite")
    captioner = FrameCaptioner(backend, settings=settings, cache=cache)
    captions = captioner.caption_frames(video, [0, 5, 0])
    texts = [c.text for c in captions]
    assert all(isinstance(t, str) for t in texts)
    assert texts[0] == texts[2]
    assert captioner.captioned == 2
    # The same pixels as an image give the same caption (greedy decoding, same prompt).
    from vlad.media.video import open_video

    with open_video(video) as reader:
        pixels = reader.read_frame(5).image
    assert captioner.caption_images([pixels]) == [texts[1]]
    # Cached now: a new captioner answers without the model.
    again = FrameCaptioner(backend, settings=settings, cache=cache)
    assert [c.text for c in again.caption_frames(video, [5, 0])] == [texts[1], texts[0]]
    assert again.captioned == 0


def test_progress_after_each_batch_and_cached_frames_at_once(video: Path, tmp_path: Path) -> None:
    backend = FrameReader()
    cache = AnswerCache(tmp_path / "answers.sqlite")
    seen: list[tuple[int, int]] = []
    captioner = FrameCaptioner(backend, cache=cache, batch_size=2)
    captioner.caption_frames(video, [3, 7, 3, 9, 11], progress=lambda *p: seen.append(p))
    assert seen == [(2, 4), (4, 4)] and len(backend.calls) == 2
    seen.clear()
    again = FrameCaptioner(backend, cache=cache, batch_size=2)
    texts = again.caption_frames(video, [3, 7, 12, 13, 14], progress=lambda *p: seen.append(p))
    assert [c.text for c in texts] == ["frame 3", "frame 7", "frame 12", "frame 13", "frame 14"]
    assert seen == [(2, 5), (4, 5), (5, 5)] and len(backend.calls) == 4
    seen.clear()
    again.caption_frames(video, [7, 3], progress=lambda *p: seen.append(p))
    assert seen == [(2, 2)] and len(backend.calls) == 4
    done: list[int] = []
    images = moving_square_frames(3, 48, 64)
    assert captioner.caption_images(images, progress=done.append) == [
        "frame 0",
        "frame 1",
        "frame 2",
    ]
    assert done == [2, 3]
