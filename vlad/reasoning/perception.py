"""Perception: a vision-language model describes frames in words (AnomalyRuler's first step).

A :class:`FrameCaptioner` sends each frame, as a PNG data URL in an OpenAI-format image
part, with the perception question (:func:`load_perception_prompt`, packaged as
``vlad/prompts/perception.yaml``) to any :class:`~vlad.reasoning.llm.ChatBackend` that
reads images (transformers VLMs, vLLM, OpenAI-compatible servers).

Captions of video frames are cached per (video file, frame index, model, prompt,
settings) in the answer cache, so a frame captioned once is never decoded or sent again.
Frames already decoded by the video pipeline are reused: a :class:`FrameKeeper` passed as
``on_frame`` to :meth:`vlad.pipeline.video.VideoDetector.encode` keeps small copies of the
sampled frames while they stream past, and :meth:`FrameCaptioner.caption_frames` takes
them from there; only frames it lacks are read again, by random access.

Reasoning code does not import torch; this module needs only PIL and numpy.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vlad.errors import ConfigError, InputError, VladError
from vlad.prompts.files import read_prompt_yaml
from vlad.reasoning.cache import AnswerCache
from vlad.reasoning.llm import ChatBackend, Conversation, GenerationSettings

log = logging.getLogger(__name__)

DEFAULT_PERCEPTION_PROMPT = "perception"
CAPTION_KEY_VERSION = 1
"""Part of every caption cache key: raise it when the recipe of the key changes."""

ImageLike = Image.Image | np.ndarray | str | os.PathLike[str]


@dataclass(frozen=True)
class PerceptionPrompt:
    """The question asked about every frame, kept as versioned data.

    Attributes:
        name: The prompt's name (``perception`` for the packaged default).
        version: Its version; part of the cache key through the question text.
        question: What the model is asked about each frame.
        system: An optional system message ("" sends none).
        max_new_tokens: Most tokens per caption.
        max_side: Frames are downscaled to at most this many pixels on the longer side.
    """

    name: str
    version: int
    question: str
    system: str = ""
    max_new_tokens: int = 160
    max_side: int = 448

    def __post_init__(self) -> None:
        if not self.question.strip():
            raise ConfigError(f"Perception prompt '{self.name}' has an empty question; write one.")
        if self.max_new_tokens < 1:
            raise ConfigError(
                f"Perception prompt '{self.name}' has max_new_tokens {self.max_new_tokens}; "
                "use 1 or more."
            )
        if self.max_side < 16:
            raise ConfigError(
                f"Perception prompt '{self.name}' has max_side {self.max_side}; use 16 or more."
            )


def load_perception_prompt(
    name_or_path: str | os.PathLike[str] = DEFAULT_PERCEPTION_PROMPT,
) -> PerceptionPrompt:
    """Load the packaged perception prompt by name, or a user's YAML file by path.

    Args:
        name_or_path: ``perception`` (the packaged default) or a YAML file with at least a
            ``question`` key.

    Returns:
        The prompt.

    Raises:
        ConfigError: The file is missing or malformed.
    """
    data, source = read_prompt_yaml(name_or_path, "Perception")
    if not isinstance(data, dict) or not isinstance(data.get("question"), str):
        raise ConfigError(f"Perception prompt file {source} needs a 'question:' text.")
    try:
        return PerceptionPrompt(
            name=str(data.get("name") or Path(source).stem),
            version=int(data.get("version", 1)),
            question=" ".join(data["question"].split()),
            system=str(data.get("system") or ""),
            max_new_tokens=int(data.get("max_new_tokens", 160)),
            max_side=int(data.get("max_side", 448)),
        )
    except (TypeError, ValueError):
        raise ConfigError(
            f"Perception prompt file {source} has a non-numeric version, max_new_tokens "
            "or max_side; use whole numbers."
        ) from None


@dataclass(frozen=True)
class Caption:
    """A frame's description.

    Attributes:
        text: What the model said about the frame.
        source: The video or image it describes.
        frame_index: The frame's index in the video (None for an image).
        time_s: The frame's time in seconds (None for an image).
    """

    text: str
    source: str
    frame_index: int | None = None
    time_s: float | None = None

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        record: dict[str, Any] = {"source": self.source, "text": self.text}
        if self.frame_index is not None:
            record["frame_index"] = self.frame_index
        if self.time_s is not None:
            record["time_s"] = round(self.time_s, 3)
        return record


def downscale(image: Image.Image, max_side: int) -> Image.Image:
    """The image in RGB, shrunk (never enlarged) so its longer side is at most ``max_side``."""
    image = image.convert("RGB")
    width, height = image.size
    longest = max(width, height)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC)


def to_image(image: ImageLike) -> Image.Image:
    """A PIL image from a PIL image, an (H, W, 3) uint8 array or an image file path.

    Raises:
        InputError: The file is missing or is not an image.
    """
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, np.ndarray):
        return Image.fromarray(np.ascontiguousarray(image))
    path = Path(image)
    if not path.is_file():
        raise InputError(f"Image {path} does not exist; check the path.")
    try:
        with Image.open(path) as opened:
            return opened.convert("RGB")
    except (OSError, ValueError):
        raise InputError(f"Image {path} cannot be read as an image; check the file.") from None


def image_data_url(image: Image.Image) -> str:
    """A PNG data URL of an image (lossless, and the same bytes for the same pixels)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def media_identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What identifies a video file (or frame folder) in cache keys, without reading it.

    The resolved path, size and modification time: cheap for long videos, and an edited
    or replaced file gets new keys.
    """
    resolved = Path(path).expanduser().resolve()
    try:
        stat = resolved.stat()
    except OSError:
        return {"path": str(resolved)}
    return {"path": str(resolved), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


class FrameKeeper:
    """Keeps small copies of frames while the video pipeline decodes them.

    Pass it as ``on_frame`` to :meth:`vlad.pipeline.video.VideoDetector.encode`: each
    sampled frame is downscaled to ``max_side`` and kept until ``max_bytes`` is used;
    frames past that budget are not kept (the captioner reads them again if it needs them),
    so memory stays bounded on long videos.

    Args:
        max_side: Longer side of the kept copies, in pixels.
        max_bytes: Most bytes of pixels kept.
    """

    def __init__(self, *, max_side: int = 448, max_bytes: int = 256 * 2**20) -> None:
        self.max_side = max_side
        self.max_bytes = max_bytes
        self.frames: dict[int, np.ndarray] = {}
        self.times_s: dict[int, float] = {}
        self.used_bytes = 0
        self.dropped = 0

    def __call__(self, frame: Any) -> None:
        """Keep a copy of a decoded :class:`~vlad.media.video.Frame` (index, time_s, image)."""
        pixels = np.asarray(downscale(Image.fromarray(frame.image), self.max_side))
        if self.used_bytes + pixels.nbytes > self.max_bytes:
            self.dropped += 1
            return
        self.frames[int(frame.index)] = pixels
        self.times_s[int(frame.index)] = float(frame.time_s)
        self.used_bytes += pixels.nbytes

    def __len__(self) -> int:
        return len(self.frames)

    def get(self, index: int) -> np.ndarray | None:
        """The kept pixels of a frame, or None."""
        return self.frames.get(int(index))


class FrameCaptioner:
    """Describes frames with a vision-language model, caching captions per frame.

    Args:
        backend: A chat backend that reads images.
        prompt: The perception prompt (name, YAML path or loaded prompt).
        settings: Generation settings (default: greedy, the prompt's ``max_new_tokens``).
        cache: Where captions of video frames are kept (None: no caption cache; the
            backend may still cache answers by image content).
        batch_size: Frames sent to the backend per call.

    Attributes:
        captioned: Frames sent to the model.
        cached: Frames answered from the caption cache.
    """

    def __init__(
        self,
        backend: ChatBackend,
        *,
        prompt: str | os.PathLike[str] | PerceptionPrompt = DEFAULT_PERCEPTION_PROMPT,
        settings: GenerationSettings | None = None,
        cache: AnswerCache | None = None,
        batch_size: int = 8,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"The caption batch size must be at least 1, got {batch_size}.")
        self.backend = backend
        self.prompt = (
            prompt if isinstance(prompt, PerceptionPrompt) else load_perception_prompt(prompt)
        )
        self.settings = settings or GenerationSettings(max_new_tokens=self.prompt.max_new_tokens)
        self.cache = cache
        self.batch_size = batch_size
        self.captioned = 0
        self.cached = 0

    @property
    def name(self) -> str:
        """The model's name."""
        return self.backend.name

    def conversation(self, image: Image.Image) -> Conversation:
        """The chat sent for one frame: the image, then the question."""
        content = [
            {"type": "image_url", "image_url": {"url": image_data_url(image)}},
            {"type": "text", "text": self.prompt.question},
        ]
        messages: Conversation = []
        if self.prompt.system:
            messages.append({"role": "system", "content": self.prompt.system})
        messages.append({"role": "user", "content": content})
        return messages

    def caption_images(
        self,
        images: Sequence[ImageLike],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> list[str]:
        """Describe images; one caption per image, in order.

        Args:
            images: PIL images, (H, W, 3) uint8 arrays or image file paths.
            progress: Called after each ``chat()`` batch with the images described so far.

        Returns:
            The captions, with surrounding whitespace removed.
        """
        answers: list[str] = []
        for start in range(0, len(images), self.batch_size):
            chunk = [
                self.conversation(downscale(to_image(image), self.prompt.max_side))
                for image in images[start : start + self.batch_size]
            ]
            texts = self.backend.chat(chunk, self.settings)
            answers.extend(" ".join(text.split()) for text in texts)
            if progress is not None:
                progress(len(answers))
        self.captioned += len(images)
        return answers

    def frame_key(self, video: str | os.PathLike[str], frame_index: int) -> str:
        """The caption cache key of one frame of a video under this model and prompt."""
        payload = {
            "kind": "frame-caption",
            "key_version": CAPTION_KEY_VERSION,
            "video": media_identity(video),
            "frame": int(frame_index),
            "model": self.name,
            "prompt": {"system": self.prompt.system, "question": self.prompt.question},
            "max_side": self.prompt.max_side,
            "settings": self.settings.cache_key(),
        }
        text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def caption_frames(
        self,
        video: str | os.PathLike[str],
        frame_indices: Iterable[int],
        *,
        keeper: FrameKeeper | None = None,
        frames_fps: float | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Caption]:
        """Describe frames of a video, from the cache, the kept frames or the file.

        Cached captions are used first; frames that need a caption are taken from
        ``keeper`` (frames the video pipeline already decoded) and only the rest are read
        from the video by random access.

        Args:
            video: The video file (or frame folder, with ``frames_fps``).
            frame_indices: Original frame indices to describe.
            keeper: Frames kept while the pipeline decoded the video.
            frames_fps: The frame rate of a frame folder.
            progress: Called with ``(frames described, distinct frames asked)``: once at
                the start when some captions come from the cache, then after each
                ``chat()`` batch.

        Returns:
            One caption per index, in order.
        """
        indices = [int(i) for i in frame_indices]
        keys = [self.frame_key(video, i) for i in indices]
        found: dict[str, str] = {}
        if self.cache is not None:
            try:
                found = self.cache.get_many(keys)
            except VladError as exc:  # a cache is a speed-up; a broken one must not stop a run
                log.warning("Captioning without the caption cache: %s", exc)
        missing = sorted({i for i, k in zip(indices, keys, strict=True) if k not in found})
        self.cached += len(indices) - len(missing)
        total = len(set(indices))
        ready = total - len(missing)
        if progress is not None and ready:
            progress(ready, total)
        times: dict[int, float] = dict(keeper.times_s) if keeper is not None else {}
        if missing:
            images: dict[int, np.ndarray] = {}
            to_read = []
            for index in missing:
                kept = keeper.get(index) if keeper is not None else None
                if kept is not None:
                    images[index] = kept
                else:
                    to_read.append(index)
            if to_read:
                from vlad.media.video import open_video

                with open_video(video, frames_fps=frames_fps) as reader:
                    for index in to_read:
                        frame = reader.read_frame(index)
                        images[index] = frame.image
                        times[index] = frame.time_s
            texts = self.caption_images(
                [images[i] for i in missing],
                progress=None if progress is None else lambda done: progress(ready + done, total),
            )
            fresh = {self.frame_key(video, i): t for i, t in zip(missing, texts, strict=True)}
            if self.cache is not None:
                try:
                    self.cache.put_many(fresh)
                except VladError as exc:
                    log.warning("Could not store captions in the cache: %s", exc)
            found.update(fresh)
        return [
            Caption(found[key], str(video), index, times.get(index))
            for index, key in zip(indices, keys, strict=True)
        ]
