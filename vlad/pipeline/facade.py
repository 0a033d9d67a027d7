"""One pipeline from any input to an explained answer: ``Pipeline.analyze(inputs)``.

Every surface (``vlad detect``, the chat demo, the Python API) calls this object. Images
go through the image stage (:mod:`vlad.pipeline.image_stage`: WinCLIP, or AnomalyCLIP's
learned prompts with ``method="anomalyclip"``), videos and frame folders through the video
stage (:mod:`vlad.pipeline.video_stage`); both return an
:class:`~vlad.answer.explanation.Explanation`. A follow-up question reuses the cached
embeddings of an :class:`~vlad.pipeline.analysis.Analysis` (:meth:`Pipeline.analyze_one`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Unpack

import torch
from PIL import Image

from vlad.answer.explanation import Explanation, KeyFrame
from vlad.config import PerceptionConfig, PipelineConfig, VideoConfig, WinClipConfig
from vlad.encoders.clip import ClipEncoder, load_clip
from vlad.errors import ConfigError, InputError, VladError
from vlad.pipeline.analysis import Analysis, DefinitionResult
from vlad.pipeline.memory_fit import MemoryMode, memory_mode
from vlad.pipeline.request import (
    AnalysisOptions,
    AnalysisRequest,
    InputPath,
    RuleLike,
    RuleSetLike,
    build_request,
)
from vlad.pipeline.summary import AnswerPrompts, AnswerWriter
from vlad.reasoning.llm import ChatBackend, Conversation, GenerationSettings
from vlad.types import ProgressFn

if TYPE_CHECKING:
    from vlad.encoders.text import TextEmbedder
    from vlad.pipeline.image import ImageDetector
    from vlad.scoring.learned.scorer import AnomalyClipScorer
    from vlad.scoring.memory import MemoryIndex


class Pipeline:
    """Explained anomaly analysis of images, videos and frame folders.

    Args:
        encoder: A loaded CLIP (shared by every scorer).
        llm: A chat backend that words the short texts from the evidence; None writes them
            from a template.
        embedder: A text embedder for memories built with it rather than with this CLIP.
        video: Video sampling, default definitions, smoothing and thresholds.
        image: WinCLIP settings for images (its threshold serves either method).
        method: The image scorer: ``winclip`` (prompt ensemble) or ``anomalyclip`` (learned
            prompts; they also draw the peak-frame maps of videos).
        learned_prompts: The learned prompts for ``anomalyclip``: the folder ``vlad train
            prompts`` wrote, its ``prompts.safetensors``, or the authors' ``.pth``.
        image_size: AnomalyCLIP input side in pixels (None: the size they were trained at).
        neighbours: Memory neighbours kept per event.
        memory_k: Neighbours per memory score.
        max_keyframes: Most keyframes per analysis.
        batch_size: Images per CLIP forward pass.
        max_pixels: Refuse images with more pixels than this (None: the default limit).
        answer_prompts: The answer prompts (packaged name or YAML file).
        generation: How the language model generates.
        perception: With a rule set and a frame captioner: which video frames are described
            (default: each interval's peak frame; a call's ``perception`` option overrides).

    The pipeline can be shared by threads (the Gradio demo): model calls are serialised,
    since a CLIP forward pass toggles module state.
    """

    def __init__(
        self,
        encoder: ClipEncoder,
        *,
        llm: ChatBackend | None = None,
        embedder: TextEmbedder | None = None,
        video: VideoConfig | None = None,
        image: WinClipConfig | None = None,
        method: str = "winclip",
        learned_prompts: str | Path | None = None,
        image_size: int | None = None,
        neighbours: int = 3,
        memory_k: int = 10,
        max_keyframes: int = 12,
        batch_size: int = 8,
        max_pixels: int | None = None,
        answer_prompts: str = "answer",
        generation: GenerationSettings | None = None,
        perception: PerceptionConfig | str | None = None,
    ) -> None:
        from vlad.config.pipeline import check_method
        from vlad.media.image import DEFAULT_MAX_PIXELS

        check_method(method, learned_prompts, image_size)
        self.encoder = encoder
        self.embedder = embedder
        self.video_config = video or VideoConfig()
        self.image_config = image or WinClipConfig()
        self.neighbours = neighbours
        self.memory_k = memory_k
        self.max_keyframes = max_keyframes
        self.batch_size = batch_size
        self.max_pixels = max_pixels if max_pixels is not None else DEFAULT_MAX_PIXELS
        self.writer = AnswerWriter(llm, AnswerPrompts.load(answer_prompts), generation)
        self._model_lock = threading.RLock()
        self._image_stages: dict[tuple[Any, ...], ImageDetector] = {}
        self.method = method
        self.perception = PerceptionConfig.of(perception)
        self.text_embedders: dict[str, TextEmbedder] = {}  # by spec, loaded on first use
        self.learned: AnomalyClipScorer | None = None
        if method == "anomalyclip" and learned_prompts is not None:
            from vlad.scoring.learned.scorer import AnomalyClipScorer

            # Loaded now: prompts made for another CLIP stop here, before any input.
            self.learned = AnomalyClipScorer.load(
                encoder,
                learned_prompts,
                image_size=image_size,
                threshold=self.image_config.threshold,
            )

    @classmethod
    def from_config(
        cls, config: PipelineConfig | None = None, *, encoder: ClipEncoder | None = None
    ) -> Pipeline:
        """Load the models a config names and build the pipeline.

        Args:
            config: The settings (default: :class:`~vlad.config.PipelineConfig` defaults).
            encoder: An already loaded CLIP to use instead of ``config.clip``.

        Returns:
            The pipeline.

        Raises:
            VladError: A model that cannot be loaded, or a bad setting.
        """
        config = config or PipelineConfig()
        llm = None
        if config.llm is not None and config.llm.strip().lower() not in ("", "none"):
            from vlad.reasoning.registry import load_backend

            llm = load_backend(config.llm)
        embedder = None
        if config.embedder:
            from vlad.encoders.text import load_embedder

            embedder = load_embedder(config.embedder)
        return cls(
            encoder or load_clip(config.clip),
            llm=llm,
            embedder=embedder,
            video=config.video,
            image=config.image,
            method=config.method,
            learned_prompts=config.learned_prompts,
            image_size=config.image_size,
            neighbours=config.neighbours,
            memory_k=config.memory_k,
            max_keyframes=config.max_keyframes,
            batch_size=config.batch_size,
            max_pixels=config.max_pixels,
            answer_prompts=config.answer_prompts,
            perception=config.perception,
        )

    # ------------------------------------------------------------------ language model

    @property
    def llm(self) -> ChatBackend | None:
        """The chat backend that words answers, or None."""
        return self.writer.llm

    @property
    def llm_failures(self) -> int:
        """How many times the language model failed (the template was used instead)."""
        return self.writer.failures

    @property
    def prompts(self) -> AnswerPrompts:
        """The answer prompts."""
        return self.writer.prompts

    def ask_llm(
        self, conversation: Conversation, settings: GenerationSettings | None = None
    ) -> str | None:
        """One answer of the language model, or None when it fails or is absent."""
        return self.writer.ask(conversation, settings)

    def write_text(self, explanation: Explanation) -> tuple[str, Literal["llm", "template"]]:
        """The short text of an explanation (the model's if it passes the checks)."""
        return self.writer.summary(explanation)

    def word(self, explanation: Explanation) -> Explanation:
        """The explanation with its short text, and a note when the checks dropped sentences."""
        [worded] = self.writer.worded([explanation])
        return worded

    def memory_mode(self, memory: MemoryIndex) -> MemoryMode:
        """How a memory can be used: frame retrieval (this CLIP) or text (the embedder)."""
        return memory_mode(memory, self.encoder, self.embedder)

    # ------------------------------------------------------------------------ analysis

    def analyze(
        self, inputs: InputPath | Iterable[InputPath], **options: Unpack[AnalysisOptions]
    ) -> list[Explanation]:
        """Explain images, videos and frame folders: batch in, batch out, in input order.

        Args:
            inputs: One path or many: image files, video files, or frame folders (with
                ``video.frames_fps`` set).
            **options: Keyword options (:class:`~vlad.pipeline.request.AnalysisOptions`):
                ``definitions``, ``normal``, ``scene``, ``rules``, ``memory``,
                ``references``, ``captioner``, ``perception``, ``map_out``, ``progress``.

        Returns:
            One explanation per input, in input order; an input that cannot be analysed
            gives a failure record (``status == "failed"``, one-sentence ``error``).

        Raises:
            VladError: A setting, rule file or memory that cannot be used (before any
                input is read).
        """
        return list(self.iter_analyze(inputs, **options))

    def iter_analyze(
        self, inputs: InputPath | Iterable[InputPath], **options: Unpack[AnalysisOptions]
    ) -> Iterator[Explanation]:
        """Like :meth:`analyze`, yielding each explanation as soon as it is ready."""
        for item in self.iter_analyses(inputs, **options):
            yield item if isinstance(item, Explanation) else item.explanation

    def iter_analyses(
        self, inputs: InputPath | Iterable[InputPath], **options: Unpack[AnalysisOptions]
    ) -> Iterator[Analysis | Explanation]:
        """Like :meth:`iter_analyze`, yielding analyses with their embeddings kept.

        Yields:
            Each input's :class:`Analysis` or, for an input that failed, its failure
            :class:`Explanation`, in input order.
        """
        paths = [inputs] if isinstance(inputs, str | Path) else list(inputs)
        request = build_request(**options)
        if request.references and self.learned is not None:
            raise ConfigError(
                "references do not apply to method anomalyclip (its learned prompts are "
                "zero-shot); leave references out or use method winclip.",
                param="references",
            )
        if request.memory is not None:
            self.memory_mode(request.memory)  # a mismatched memory fails before any input
        report = request.progress or _no_progress
        total = max(len(paths), 1)
        images: list[tuple[int, Path]] = []
        for number, raw in enumerate(paths):
            path = Path(raw)
            kind, problem = self._kind(path)
            if kind == "image" and problem is None:
                images.append((number, path))
                if len(images) == self.batch_size:
                    yield from self._image_batch(images, request, report, total)
                    images = []
                continue
            yield from self._image_batch(images, request, report, total)
            images = []
            if problem is not None:
                yield Explanation.failure(str(raw), problem, kind=kind)
                continue
            yield self._video(number, raw, request, report, total)
        yield from self._image_batch(images, request, report, total)

    def analyze_one(self, path: InputPath, **options: Unpack[AnalysisOptions]) -> Analysis:
        """Analyse one input and keep its embeddings for follow-up questions.

        Its ``explanation`` is the record :meth:`analyze` returns for the same input.

        Raises:
            InputError: The input cannot be analysed (one sentence), instead of a failure
                record.
        """
        source = Path(path)
        if source.is_file() and source.stat().st_size == 0:
            raise InputError(f"File '{source.name}' is empty; upload a video or image.")
        [item] = list(self.iter_analyses([path], **options))
        if isinstance(item, Explanation):
            raise InputError(item.error or f"Cannot analyse '{path}'.")
        return item

    def _video(
        self,
        number: int,
        raw: InputPath,
        request: AnalysisRequest,
        report: ProgressFn,
        total: int,
    ) -> Analysis | Explanation:
        """Analyse one video or frame folder (the video stage is set up once per call)."""
        from vlad.pipeline.video_stage import analyze_video, request_detector

        path = Path(raw)
        if "video" not in request.stages:  # a bad setting stops here, before any video is read
            frame_memory = (
                request.memory
                if request.memory is not None and self.memory_mode(request.memory) == "frames"
                else None
            )
            request.stages["video"] = request_detector(
                self,
                request.definitions,
                request.normal,
                request.scene,
                request.rule_set,
                memory=frame_memory,
            )
        if "perception" not in request.stages:
            from vlad.pipeline.perception_stage import perception_stage

            request.stages["perception"] = perception_stage(
                request.perception or self.perception,
                request.rule_set,  # type: ignore[arg-type]
                captioner=request.captioner,
                embedders=self.text_embedders,
            )
        detector, refs = request.stages["video"]
        step = _step(report, number, total, path.name if total > 1 else None)
        try:
            with self._model_lock:
                return analyze_video(
                    self,
                    path,
                    name=str(raw),
                    detector=detector,
                    refs=refs,
                    scene=request.scene,
                    rule_set=request.rule_set,
                    memory=request.memory,
                    map_out=request.map_out,
                    captioner=request.captioner,
                    report=step,
                    perception=request.stages["perception"],
                )
        except VladError as exc:
            return Explanation.failure(str(raw), str(exc), kind="video")

    def _kind(self, path: Path) -> tuple[Literal["video", "image"], str | None]:
        """What an input is, or why it cannot be analysed."""
        from vlad.media.video import is_video_path

        if path.is_dir():
            if self.video_config.frames_fps is not None:
                return "video", None
            return "video", (
                f"'{path}' is a folder; set frames_fps to read it as a video of frames, "
                "or give its files."
            )
        if not path.exists():
            return "image", f"File '{path}' does not exist; check the path."
        if is_video_path(path):
            return "video", None
        return "image", None

    def _image_stage(self, winclip: WinClipConfig, references: Sequence[InputPath]) -> Any:
        from vlad.pipeline.image import ImageDetector

        if self.learned is not None:  # object-agnostic: one stage whatever the request says
            key: tuple[Any, ...] = ("anomalyclip",)
            stage = self._image_stages.get(key)
            if stage is None:
                stage = ImageDetector(
                    self.learned, batch_size=self.batch_size, max_pixels=self.max_pixels
                )
                self._image_stages[key] = stage
            return stage
        key = (winclip, tuple(str(r) for r in references))
        stage = self._image_stages.get(key)
        if stage is None:
            stage = ImageDetector.from_encoder(
                self.encoder,
                winclip,
                references=[str(r) for r in references],
                batch_size=self.batch_size,
                max_pixels=self.max_pixels,
            )
            if len(self._image_stages) > 8:
                self._image_stages.clear()
            self._image_stages[key] = stage
        return stage

    def _image_batch(
        self,
        images: list[tuple[int, Path]],
        request: AnalysisRequest,
        report: ProgressFn,
        total: int,
    ) -> Iterator[Analysis | Explanation]:
        """Score a batch of images in one forward pass; explain each, in order."""
        if not images:
            return
        from vlad.pipeline.image import DetectionFailure
        from vlad.pipeline.image_stage import explain_image, request_winclip
        from vlad.pipeline.video_stage import request_detector

        with self._model_lock:
            first = _step(report, images[0][0], total, None)
            first(0.0, "Reading the image")
            winclip = request_winclip(
                self.image_config,
                request.definitions,
                request.normal,
                request.scene,
                request.rule_set,
            )
            stage = self._image_stage(winclip, request.references)
            if "image" not in request.stages:  # once per call, not per batch
                request.stages["image"] = request_detector(
                    self,
                    request.definitions or ("a defect",),
                    request.normal,
                    request.scene,
                    request.rule_set,
                )
            detector, refs = request.stages["image"]
            names = [str(p) for _, p in images]
            results = list(stage.detect_with_images(names, names=names))
        for (number, path), result in zip(images, results, strict=True):
            if isinstance(result, DetectionFailure):
                yield Explanation.failure(result.input, result.error, kind="image")
                continue
            score, image = result
            step = _step(report, number, total, path.name if total > 1 else None)
            step(0.2, "Scoring the image")
            outcome: Analysis | Explanation
            try:
                with self._model_lock:  # never held across a yield
                    outcome = explain_image(
                        self,
                        path,
                        score,
                        image,
                        detector=detector,
                        refs=refs,
                        definitions=request.definitions,
                        scene=request.scene,
                        memory=request.memory,
                        report=step,
                    )
            except VladError as exc:
                outcome = Explanation.failure(str(path), str(exc), kind="image")
            yield outcome

    @torch.inference_mode()
    def image_embedding(self, image: Image.Image) -> torch.Tensor:
        """(1, D) global CLIP embedding of an image (float32)."""
        with self._model_lock:
            return self.encoder.encode_images(self.encoder.preprocess([image])).image.float()

    # ------------------------------------------------------------------ follow-ups

    def score_definition(self, analysis: Analysis, definition: str) -> DefinitionResult:
        """Score a new definition on the cached embeddings (no video decoding).

        Only the peak frame of each interval found is read again, for its heat map.

        Args:
            analysis: A previous analysis (from :meth:`analyze_one`).
            definition: What to look for ("a person riding a bicycle").

        Returns:
            The definition's track, intervals and keyframes.
        """
        from vlad.pipeline.followups import score_definition

        with self._model_lock:
            return score_definition(self, analysis, definition)

    def frame_at(self, analysis: Analysis, time_s: float) -> KeyFrame | None:
        """The sampled frame nearest a time, with the heat map of its top definition.

        Args:
            analysis: A previous analysis.
            time_s: The time asked about.

        Returns:
            The frame, or None for an image or a time outside the video.
        """
        from vlad.pipeline.followups import frame_at

        with self._model_lock:
            return frame_at(analysis, time_s)


# --------------------------------------------------------------------------- helpers


def _no_progress(_fraction: float, _stage: str) -> None:
    return None


def _step(report: ProgressFn, number: int, total: int, name: str | None) -> ProgressFn:
    """Progress of one input, reported as a fraction of all of them."""

    def step(fraction: float, stage: str) -> None:
        report(
            (number + min(max(fraction, 0.0), 1.0)) / total, f"{name}: {stage}" if name else stage
        )

    return step


__all__ = ["Analysis", "DefinitionResult", "Pipeline", "RuleLike", "RuleSetLike"]
