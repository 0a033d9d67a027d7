"""One call from a file to an explained answer: ``Analyzer.analyze(path) -> Analysis``.

The analyzer runs the scorers that apply and fuses them into an
:class:`~vlad.answer.explanation.Explanation`:

* **text definitions** (videos and images): each definition is scored per sampled frame by
  CLIP (:class:`~vlad.scoring.text_defined.TextDefinedScorer`), smoothed and cut into
  intervals; an image gets the WinCLIP score and its full heat map;
* **retrieval memory**: a :class:`~vlad.scoring.memory.MemoryIndex` built with this CLIP's
  text tower scores every frame the Flashback way and names its nearest captions; a memory
  of another text embedder (MiniLM) can only explain the definitions that fired, by their
  nearest captions, when that embedder is given;
* **rules** (a :class:`~vlad.reasoning.rules.RuleSet`): without a vision-language model they
  are applied through CLIP: anomaly rules become definitions, normal rules join the normal
  descriptions, and a rule that fires is cited by its id.

Intervals of all scorers that overlap become one event with one evidence record and one
keyframe (the event's peak frame with the WinCLIP map of the definition that fired). A
language model, when given, writes the short text from that evidence only, and
:func:`~vlad.answer.explanation.ground_text` checks it in code.

The frame embeddings stay in the :class:`Analysis`, so a follow-up question with a new
definition (:meth:`Analyzer.score_definition`) is scored without decoding the video again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import torch
from PIL import Image

from vlad.answer.explanation import (
    Evidence,
    EvidenceItem,
    Explanation,
    KeyFrame,
    facts,
    ground_text,
    merge_spans,
    template_text,
)
from vlad.config import ClipConfig, VideoConfig, WinClipConfig
from vlad.encoders.clip import ClipEncoder, load_clip, window_indices
from vlad.errors import InputError, VladError
from vlad.pipeline.video import EncodedVideo, VideoDetector
from vlad.reasoning.llm import ChatBackend, Conversation, GenerationSettings
from vlad.scoring import temporal
from vlad.scoring.text_defined import TextDefinedScorer
from vlad.scoring.winclip import math as wm
from vlad.scoring.winclip.scorer import zero_shot_scores
from vlad.types import Interval, ScoreTrack

if TYPE_CHECKING:
    from vlad.encoders.text import TextEmbedder
    from vlad.scoring.memory import MemoryIndex

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]
"""Called with the fraction done (0 to 1) and what is being done."""

MEMORY_TRACK = "retrieval memory"
"""The name of the memory's score track (tracks are named by what they score)."""

SUMMARY_SYSTEM = (
    "You summarise the evidence of a visual anomaly detector for a security analyst. "
    "Write at most three short sentences. Use only the facts given. Cite evidence by its "
    "id in square brackets, such as [E1]. State times only as they appear in the facts "
    "(m:ss). Do not invent objects, people, times or causes. The verdict is fixed by the "
    "scores; do not change it."
)


class RuleLike(Protocol):
    """What the analyzer reads from a rule: its id and its text."""

    @property
    def id(self) -> str:
        """The rule's id, cited in evidence."""
        ...

    @property
    def text(self) -> str:
        """The rule's text."""
        ...


class RuleSetLike(Protocol):
    """What the analyzer reads from a rule set (:class:`vlad.reasoning.rules.RuleSet`)."""

    def normal(self) -> Sequence[RuleLike]:
        """Rules describing normal activity."""
        ...

    def anomaly(self) -> Sequence[RuleLike]:
        """Rules describing anomalies."""
        ...


@dataclass(frozen=True)
class AnalyzerConfig:
    """Everything :meth:`Analyzer.from_config` needs to build an analyzer.

    Attributes:
        clip: Which CLIP to load.
        video: Video sampling, smoothing and thresholds.
        image: WinCLIP settings for images (its threshold marks an image anomalous).
        llm: Chat backend spec (``offline``, ``openai:URL#MODEL`` ...), or None for
            texts written from the evidence alone.
        embedder: Text embedder spec for memories not built with this CLIP (e.g.
            ``minilm``), or None.
        neighbours: Memory neighbours kept per interval.
        memory_k: Neighbours retrieved per frame for the memory score (Flashback: 10).
        max_keyframes: Most keyframes (with heat maps) per analysis.
    """

    clip: ClipConfig = field(default_factory=ClipConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    image: WinClipConfig = field(default_factory=WinClipConfig)
    llm: str | None = field(default="offline", metadata={"help": "chat backend spec or None"})
    embedder: str | None = field(default=None, metadata={"help": "text embedder spec"})
    neighbours: int = field(default=3, metadata={"help": "memory neighbours per interval"})
    memory_k: int = field(default=10, metadata={"help": "neighbours per memory score"})
    max_keyframes: int = field(default=12, metadata={"help": "keyframes per analysis"})

    def __post_init__(self) -> None:
        from vlad.errors import ConfigError

        for name in ("neighbours", "memory_k", "max_keyframes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}.")


@dataclass(frozen=True)
class DefinitionResult:
    """A definition scored on an analysis' cached embeddings (a follow-up question).

    Attributes:
        definition: The definition scored.
        track: Its smoothed score track.
        intervals: Where it reaches the threshold.
        keyframes: The peak frame of each interval with its heat map.
        score: Its highest score.
        threshold: The threshold used.
    """

    definition: str
    track: ScoreTrack
    intervals: tuple[Interval, ...]
    keyframes: tuple[KeyFrame, ...]
    score: float
    threshold: float

    @property
    def found(self) -> bool:
        """Whether the definition reached the threshold anywhere."""
        return bool(self.intervals)


@dataclass
class Analysis:
    """An explanation plus what follow-up questions need: the cached embeddings.

    Attributes:
        explanation: The answer.
        source: The file analysed.
        detector: The configured video scorer (definitions, normal descriptions).
        encoded: The video's frame embeddings (None for an image).
        image: The image (None for a video).
        image_embedding: (1, D) global CLIP embedding of the image.
        rule_refs: Definition text -> (rule id, rule text) for rules applied via CLIP.
        memory: The memory used, if any.
        queries: Definitions scored by follow-up questions, by text.
    """

    explanation: Explanation
    source: Path
    detector: VideoDetector
    encoded: EncodedVideo | None = None
    image: Image.Image | None = None
    image_embedding: torch.Tensor | None = field(default=None, repr=False)
    rule_refs: dict[str, tuple[str, str]] = field(default_factory=dict)
    memory: MemoryIndex | None = None
    queries: dict[str, DefinitionResult] = field(default_factory=dict)

    @property
    def kind(self) -> Literal["video", "image"]:
        """``video`` or ``image``."""
        return self.explanation.kind


class Analyzer:
    """Explained anomaly analysis of images and videos, and re-scoring for follow-ups.

    Args:
        encoder: A loaded CLIP (shared by every scorer).
        llm: A chat backend that writes the short texts from the evidence; None writes
            them from a template.
        embedder: A text embedder for memories built with it rather than with this CLIP.
        video: Video sampling, default definitions, smoothing and thresholds.
        image: WinCLIP settings for images.
        neighbours: Memory neighbours kept per interval.
        memory_k: Neighbours per memory score.
        max_keyframes: Most keyframes per analysis.
        generation: How the language model generates.

    The analyzer can be shared by threads (the Gradio demo): model calls are serialised,
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
        neighbours: int = 3,
        memory_k: int = 10,
        max_keyframes: int = 12,
        generation: GenerationSettings | None = None,
    ) -> None:
        self.encoder = encoder
        self.llm = llm
        self.embedder = embedder
        self.video_config = video or VideoConfig()
        self.image_config = image or WinClipConfig()
        self.neighbours = neighbours
        self.memory_k = memory_k
        self.max_keyframes = max_keyframes
        self.generation = generation or GenerationSettings(max_new_tokens=160)
        self._model_lock = threading.RLock()
        self._llm_lock = threading.Lock()
        self.llm_failures = 0

    @classmethod
    def from_config(
        cls, config: AnalyzerConfig | None = None, *, encoder: ClipEncoder | None = None
    ) -> Analyzer:
        """Load the models a config names and build the analyzer.

        Args:
            config: The settings (default: :class:`AnalyzerConfig` defaults).
            encoder: An already loaded CLIP to use instead of ``config.clip``.

        Returns:
            The analyzer.

        Raises:
            VladError: A model that cannot be loaded, or a bad setting.
        """
        config = config or AnalyzerConfig()
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
            neighbours=config.neighbours,
            memory_k=config.memory_k,
            max_keyframes=config.max_keyframes,
        )

    # ------------------------------------------------------------------- analysis

    def analyze(
        self,
        path: str | Path,
        *,
        definitions: Sequence[str] = (),
        scene: str | None = None,
        rules: RuleSetLike | str | Path | None = None,
        memory: MemoryIndex | str | Path | None = None,
        progress: ProgressFn | None = None,
    ) -> Analysis:
        """Score a video or image with every scorer that applies and explain the result.

        Args:
            path: A video or image file.
            definitions: What counts as anomalous, in words (default: the scene prompts'
                definitions for a video, WinCLIP's state words for an image).
            scene: What the camera shows ("a university campus walkway"): it joins the
                normal descriptions (and is the class name of an image).
            rules: A rule set (or its file): anomaly rules are scored as definitions,
                normal rules as normal descriptions; a rule that fires is cited.
            memory: A retrieval memory (or its folder).
            progress: Called with the fraction done and the current stage.

        Returns:
            The :class:`Analysis`: explanation and cached embeddings.

        Raises:
            InputError: The file cannot be read as an image or video, or the memory does
                not match the encoder (one sentence).
        """
        report = progress or _no_progress
        source = Path(path)
        if not source.exists():
            raise InputError(f"File '{path}' does not exist; check the path.")
        if source.is_file() and source.stat().st_size == 0:
            raise InputError(f"File '{source.name}' is empty; upload a video or image.")
        rule_set = _load_rules(rules)
        index = _load_memory(memory)
        user_definitions = _clean(definitions)
        scene = scene.strip() if scene and scene.strip() else None
        kind = _media_kind(source)
        with self._model_lock:
            if kind == "video":
                return self._analyze_video(source, user_definitions, scene, rule_set, index, report)
            return self._analyze_image(source, user_definitions, scene, rule_set, index, report)

    def _detector(
        self, definitions: tuple[str, ...], scene: str | None, rule_set: RuleSetLike | None
    ) -> tuple[VideoDetector, tuple[str, ...], dict[str, tuple[str, str]]]:
        """The video scorer for one request: definitions, normal descriptions, rule refs."""
        config = self.video_config
        base = TextDefinedScorer(self.encoder, scene_prompts=config.scene_prompts)
        defs = list(definitions or config.definitions or base.default_definitions())
        normal = list(config.normal or base.prompts.normal)
        if scene:
            normal.append(scene)
        refs: dict[str, tuple[str, str]] = {}
        if rule_set is not None:
            for rule in rule_set.anomaly():
                text = " ".join(str(rule.text).split())
                if text and text not in refs:
                    refs[text] = (str(rule.id), text)
                    if text not in defs:
                        defs.append(text)
            normal.extend(" ".join(str(r.text).split()) for r in rule_set.normal() if r.text)
        detector = VideoDetector(
            self.encoder,
            replace(config, definitions=tuple(defs), normal=tuple(dict.fromkeys(normal))),
        )
        return detector, tuple(defs), refs

    def _analyze_video(
        self,
        source: Path,
        definitions: tuple[str, ...],
        scene: str | None,
        rule_set: RuleSetLike | None,
        memory: MemoryIndex | None,
        report: ProgressFn,
    ) -> Analysis:
        from vlad.media.video import probe_video

        detector, defs, refs = self._detector(definitions, scene, rule_set)
        mode = self.memory_mode(memory) if memory is not None else None
        report(0.0, "Opening the video")
        info = probe_video(source)
        duration = max(info.duration_s, 1e-6)
        encoded = detector.encode(
            source, progress=lambda t: report(0.05 + 0.75 * min(t / duration, 1.0), "Encoding")
        )
        report(0.8, "Scoring")
        result = detector.score(encoded, defs, name=str(source))
        tracks = list(result.tracks)
        fused_values = result.fused.values.copy()
        intervals = list(result.intervals)
        memory_values: np.ndarray | None = None
        notes: list[str] = []
        if result.stopped_early:
            notes.append(result.stopped_early)
        if memory is not None and mode == "frames":
            raw = memory.respond(encoded.embeddings.numpy(), self.memory_k)
            memory_values = temporal.gaussian_smooth(
                encoded.times_s, raw, detector.config.smoothing_sigma_s
            )
            tracks.append(
                ScoreTrack(encoded.times_s, encoded.frame_indices, memory_values, MEMORY_TRACK)
            )
            fused_values = np.maximum(fused_values, memory_values)
            intervals.extend(
                _intervals(memory_values, encoded.times_s, encoded.duration_s, detector.config)
            )
        fused = ScoreTrack(encoded.times_s, encoded.frame_indices, fused_values, None)
        report(0.85, "Collecting evidence")
        evidence = self._video_evidence(
            intervals, fused, refs, memory, mode, memory_values, encoded, detector.config
        )
        report(0.9, "Drawing heat maps")
        keyframes = self._keyframes(detector, encoded, evidence)
        explanation = Explanation(
            input=str(source),
            kind="video",
            verdict="anomalous" if evidence else "normal",
            score=float(fused_values.max()) if len(fused_values) else 0.0,
            threshold=detector.config.threshold,
            low_threshold=detector.config.hysteresis_low,
            duration_s=float(encoded.duration_s),
            definitions=defs,
            scene=scene,
            fused=fused,
            tracks=tuple(tracks),
            intervals=tuple(e.interval for e in evidence),
            evidence=tuple(evidence),
            keyframes=tuple(keyframes),
            notes=tuple(notes),
        )
        report(0.95, "Writing the explanation")
        text, origin = self.write_text(explanation)
        report(1.0, "Done")
        return Analysis(
            explanation=replace(explanation, text=text, text_source=origin),
            source=source,
            detector=detector,
            encoded=encoded,
            rule_refs=refs,
            memory=memory,
        )

    def _video_evidence(
        self,
        intervals: Sequence[Interval],
        fused: ScoreTrack,
        refs: dict[str, tuple[str, str]],
        memory: MemoryIndex | None,
        mode: str | None,
        memory_values: np.ndarray | None,
        encoded: EncodedVideo,
        config: VideoConfig,
    ) -> list[Evidence]:
        """One evidence per event: overlapping intervals of all scorers merged."""
        evidence: list[Evidence] = []
        times = fused.times_s
        for number, (start, end, members) in enumerate(
            merge_spans(intervals, gap_s=config.merge_gap_s), start=1
        ):
            inside = np.flatnonzero((times >= start) & (times < end))
            if not len(inside):
                inside = np.array([int(np.argmin(np.abs(times - start)))])
            peak = int(inside[np.argmax(fused.values[inside])])
            best: dict[str, float] = {}
            for member in members:
                if member.definition is not None and member.definition != MEMORY_TRACK:
                    best[member.definition] = max(
                        best.get(member.definition, 0.0), member.peak_score
                    )
            items = [
                _definition_item(text, score, refs)
                for text, score in sorted(best.items(), key=lambda kv: -kv[1])
            ]
            memory_score = None
            if memory is not None and memory_values is not None:
                memory_score = float(memory_values[peak])
                items.extend(self._neighbour_items(memory, encoded.embeddings[peak].numpy()))
            elif memory is not None and mode == "text" and best and self.embedder is not None:
                top = max(best, key=lambda k: best[k])
                query = self.embedder.embed([top])[0]
                items.extend(self._neighbour_items(memory, query))
            top_definition = max(best, key=lambda k: best[k]) if best else MEMORY_TRACK
            interval = Interval(start, end, float(fused.values[peak]), top_definition)
            evidence.append(
                Evidence(
                    id=f"E{number}",
                    interval=interval,
                    peak_time_s=float(times[peak]),
                    items=tuple(items),
                    memory_score=memory_score,
                )
            )
        return evidence

    def _neighbour_items(self, memory: MemoryIndex, query: np.ndarray) -> list[EvidenceItem]:
        return [
            EvidenceItem("memory", n.text, float(n.similarity), label=n.label)
            for n in memory.explain(query, self.neighbours)
        ]

    def memory_mode(self, memory: MemoryIndex) -> Literal["frames", "text"]:
        """How a memory can be used: frame retrieval (this CLIP) or text (the embedder)."""
        if memory.embedder == self.encoder.name and memory.dim == self.encoder.embed_dim:
            return "frames"
        if self.embedder is not None and self.embedder.name == memory.embedder:
            memory.check_embedder(self.embedder)
            return "text"
        where = f"'{memory.folder}'" if memory.folder else "given"
        raise InputError(
            f"The memory {where} was built with the embedder '{memory.embedder}', which is "
            f"neither this CLIP ('{self.encoder.name}') nor the analyzer's text embedder; "
            f"rebuild it with --embedder clip:ARCH@WEIGHTS for this CLIP."
        )

    def _keyframes(
        self, detector: VideoDetector, encoded: EncodedVideo, evidence: Sequence[Evidence]
    ) -> list[KeyFrame]:
        """The peak frame of each evidence with its heat map (only those frames decoded)."""
        from vlad.media.video import open_video

        chosen = sorted(evidence, key=lambda e: -e.score)[: self.max_keyframes]
        wanted = {e.id for e in chosen}
        frames: list[KeyFrame] = []
        if not wanted:
            return frames
        with open_video(encoded.info.source, frames_fps=encoded.frames_fps) as reader:
            for item in evidence:
                if item.id not in wanted:
                    continue
                sample = int(np.argmin(np.abs(encoded.times_s - item.peak_time_s)))
                frame = reader.read_frame(int(encoded.frame_indices[sample]))
                frames.append(
                    self._keyframe(
                        detector, frame.image, item.definition, item.id, frame, item.score
                    )
                )
        return frames

    def _keyframe(
        self,
        detector: VideoDetector,
        pixels: np.ndarray,
        definition: str | None,
        evidence_id: str | None,
        frame: Any,
        score: float,
    ) -> KeyFrame:
        anomaly_map = None
        overlay = None
        if definition and definition != MEMORY_TRACK:
            anomaly_map = self.window_map(detector, Image.fromarray(pixels), definition)
        if anomaly_map is not None:
            from vlad.answer.render import heat_map_overlay

            overlay = np.asarray(heat_map_overlay(Image.fromarray(pixels), anomaly_map))
        return KeyFrame(
            evidence_id=evidence_id,
            frame_index=int(frame.index),
            time_s=float(frame.time_s),
            score=float(score),
            definition=definition,
            image=pixels,
            anomaly_map=anomaly_map,
            overlay=overlay,
        )

    @torch.inference_mode()
    def window_map(
        self, detector: VideoDetector, image: Image.Image, definition: str
    ) -> np.ndarray | None:
        """WinCLIP window map of one frame for one definition, at the frame's size.

        Args:
            detector: Gives the normal descriptions, templates and temperature.
            image: The RGB frame.
            definition: The definition the map is for.

        Returns:
            (H, W) float32 map in [0, 1], or None for a CLIP without a patch grid.
        """
        grid = self.encoder.grid_size
        if grid is None:
            return None
        scales = tuple(s for s in detector.config.map_scales if s <= min(grid))
        device = self.encoder.device
        covers = {
            s: wm.windows_covering(window_indices(grid, s), grid[0] * grid[1]).to(device)
            for s in scales
        }
        features = self.encoder.encode_images(
            self.encoder.preprocess([image]), window_scales=scales
        )
        pair = detector.scorer.text_pair(definition).to(device)
        _, patch_map = zero_shot_scores(features, pair, detector.config.temperature, covers)
        width, height = image.size  # PIL is (W, H)
        return wm.upsample(patch_map.view(1, *grid), (height, width))[0].float().cpu().numpy()

    def _analyze_image(
        self,
        source: Path,
        definitions: tuple[str, ...],
        scene: str | None,
        rule_set: RuleSetLike | None,
        memory: MemoryIndex | None,
        report: ProgressFn,
    ) -> Analysis:
        from vlad.answer.render import heat_map_overlay
        from vlad.media.image import load_image
        from vlad.pipeline.image import ImageDetector

        mode = self.memory_mode(memory) if memory is not None else None
        report(0.0, "Reading the image")
        image = load_image(source, name=source.name)
        detector, _, refs = self._detector(definitions or ("a defect",), scene, rule_set)
        scored = tuple(dict.fromkeys((*definitions, *refs)))
        winclip = replace(
            self.image_config,
            class_name=scene or self.image_config.class_name,
            definitions=tuple(dict.fromkeys((*self.image_config.definitions, *scored))),
            normal=tuple(
                dict.fromkeys(
                    (*self.image_config.normal, *(r.text for r in _normal_rules(rule_set)))
                )
            ),
        )
        report(0.2, "Scoring the image")
        image_detector = ImageDetector.from_encoder(self.encoder, winclip)
        [result] = list(image_detector.detect([image], names=[source.name]))
        if not hasattr(result, "score"):
            raise InputError(str(getattr(result, "error", f"Cannot read '{source.name}'.")))
        embedding = self.encoder.encode_images(self.encoder.preprocess([image])).image.float()
        probabilities = (
            detector.scorer.score(embedding, scored)[0] if scored else np.zeros(0, dtype=float)
        )
        score = float(result.score)
        threshold = float(winclip.threshold)
        zero = np.zeros(1)
        index = np.zeros(1, dtype=np.int64)
        tracks = [
            ScoreTrack(zero, index, np.array([p]), text)
            for text, p in zip(scored, probabilities, strict=True)
        ]
        items = [EvidenceItem("image", "WinCLIP image score", score)]
        items.extend(
            _definition_item(text, float(p), refs)
            for text, p in sorted(zip(scored, probabilities, strict=True), key=lambda kv: -kv[1])
            if p >= threshold
        )
        memory_score = None
        if memory is not None and mode == "frames":
            memory_score = float(memory.respond(embedding.cpu().numpy(), self.memory_k)[0])
            tracks.append(ScoreTrack(zero, index, np.array([memory_score]), MEMORY_TRACK))
            items.extend(self._neighbour_items(memory, embedding[0].cpu().numpy()))
        elif memory is not None and mode == "text" and scored and self.embedder is not None:
            top = scored[int(np.argmax(probabilities))]
            items.extend(self._neighbour_items(memory, self.embedder.embed([top])[0]))
        anomalous = score >= threshold
        top_definition = next((i.text for i in items if i.kind in ("definition", "rule")), None)
        evidence: tuple[Evidence, ...] = ()
        if anomalous:
            evidence = (
                Evidence(
                    id="E1",
                    interval=Interval(0.0, 0.0, score, top_definition),
                    peak_time_s=0.0,
                    items=tuple(items),
                    memory_score=memory_score,
                ),
            )
        pixels = np.asarray(image)
        report(0.8, "Drawing the heat map")
        overlay = None
        if result.anomaly_map is not None:
            overlay = np.asarray(heat_map_overlay(image, result.anomaly_map))
        keyframe = KeyFrame(
            evidence_id="E1" if anomalous else None,
            frame_index=0,
            time_s=0.0,
            score=score,
            definition=top_definition,
            image=pixels,
            anomaly_map=result.anomaly_map,
            overlay=overlay,
        )
        explanation = Explanation(
            input=str(source),
            kind="image",
            verdict="anomalous" if anomalous else "normal",
            score=score,
            threshold=threshold,
            low_threshold=threshold,
            duration_s=0.0,
            definitions=scored,
            scene=scene,
            fused=ScoreTrack(zero, index, np.array([score]), None),
            tracks=tuple(tracks),
            intervals=tuple(e.interval for e in evidence),
            evidence=evidence,
            keyframes=(keyframe,),
        )
        report(0.9, "Writing the explanation")
        text, origin = self.write_text(explanation)
        report(1.0, "Done")
        return Analysis(
            explanation=replace(explanation, text=text, text_source=origin),
            source=source,
            detector=detector,
            image=image,
            image_embedding=embedding.cpu(),
            rule_refs=refs,
            memory=memory,
        )

    # ------------------------------------------------------------------ follow-ups

    def score_definition(self, analysis: Analysis, definition: str) -> DefinitionResult:
        """Score a new definition on the cached embeddings (no video decoding).

        Only the peak frame of each interval found is read again, for its heat map.

        Args:
            analysis: A previous analysis.
            definition: What to look for ("a person riding a bicycle").

        Returns:
            The definition's track, intervals and keyframes.
        """
        text = " ".join(definition.split())
        if not text:
            raise InputError("The definition is empty; say what to look for.")
        if text in analysis.queries:
            return analysis.queries[text]
        detector = analysis.detector
        with self._model_lock:
            if analysis.encoded is None:
                result = self._score_image_definition(analysis, text)
            else:
                scored = detector.score(analysis.encoded, [text], name=str(analysis.source))
                track = scored.tracks[0]
                intervals = tuple(i for i in scored.intervals if i.definition == text)
                keyframes = self._definition_keyframes(analysis, track, intervals, text)
                result = DefinitionResult(
                    definition=text,
                    track=track,
                    intervals=intervals,
                    keyframes=tuple(keyframes),
                    score=float(track.values.max()) if len(track.values) else 0.0,
                    threshold=detector.config.threshold,
                )
        analysis.queries[text] = result
        return result

    def _definition_keyframes(
        self,
        analysis: Analysis,
        track: ScoreTrack,
        intervals: Sequence[Interval],
        definition: str,
    ) -> list[KeyFrame]:
        from vlad.media.video import open_video

        encoded = analysis.encoded
        assert encoded is not None
        keyframes = []
        if not intervals:
            return keyframes
        with open_video(encoded.info.source, frames_fps=encoded.frames_fps) as reader:
            for interval in list(intervals)[: self.max_keyframes]:
                inside = np.flatnonzero(
                    (track.times_s >= interval.start_s) & (track.times_s < interval.end_s)
                )
                if not len(inside):
                    continue
                peak = int(inside[np.argmax(track.values[inside])])
                frame = reader.read_frame(int(track.frame_indices[peak]))
                keyframes.append(
                    self._keyframe(
                        analysis.detector,
                        frame.image,
                        definition,
                        None,
                        frame,
                        float(track.values[peak]),
                    )
                )
        return keyframes

    def _score_image_definition(self, analysis: Analysis, text: str) -> DefinitionResult:
        assert analysis.image_embedding is not None and analysis.image is not None
        detector = analysis.detector
        probability = float(detector.scorer.score(analysis.image_embedding, [text])[0, 0])
        zero = np.zeros(1)
        track = ScoreTrack(zero, np.zeros(1, dtype=np.int64), np.array([probability]), text)
        threshold = float(self.image_config.threshold)
        found = probability >= threshold
        intervals = (Interval(0.0, 0.0, probability, text),) if found else ()
        frame = _StillFrame()
        keyframe = self._keyframe(
            detector, np.asarray(analysis.image), text, None, frame, probability
        )
        return DefinitionResult(
            definition=text,
            track=track,
            intervals=intervals,
            keyframes=(keyframe,) if found else (),
            score=probability,
            threshold=threshold,
        )

    def frame_at(self, analysis: Analysis, time_s: float) -> KeyFrame | None:
        """The sampled frame nearest a time, with the heat map of its top definition.

        Args:
            analysis: A previous analysis.
            time_s: The time asked about.

        Returns:
            The frame, or None for an image or a time outside the video.
        """
        encoded = analysis.encoded
        if encoded is None or not len(encoded.times_s):
            return None
        if time_s < 0 or time_s > analysis.explanation.duration_s + 0.5:
            return None
        from vlad.media.video import open_video

        explanation = analysis.explanation
        scores = explanation.scores_at(time_s)
        named = {k: v for k, v in scores.items() if k is not None and k != MEMORY_TRACK}
        definition = max(named, key=lambda k: named[k]) if named else None
        sample = int(np.argmin(np.abs(encoded.times_s - time_s)))
        evidence = explanation.evidence_at(time_s)
        with self._model_lock:
            with open_video(encoded.info.source, frames_fps=encoded.frames_fps) as reader:
                frame = reader.read_frame(int(encoded.frame_indices[sample]))
            return self._keyframe(
                analysis.detector,
                frame.image,
                definition,
                evidence.id if evidence else None,
                frame,
                scores[None],
            )

    # ----------------------------------------------------------------------- text

    def write_text(self, explanation: Explanation) -> tuple[str, Literal["llm", "template"]]:
        """The short text of an explanation: the model's, if it passes the checks.

        The model sees the facts only (:func:`~vlad.answer.explanation.facts`); its answer is
        kept sentence by sentence through :func:`~vlad.answer.explanation.ground_text`, and must
        then still cite an evidence id or an interval's time when the verdict is
        anomalous. Otherwise the template text is used.

        Args:
            explanation: The explanation (its ``text`` is ignored).

        Returns:
            The text and where it came from (``llm`` or ``template``).
        """
        if self.llm is None:
            return template_text(explanation), "template"
        conversation: Conversation = [
            {"role": "system", "content": SUMMARY_SYSTEM},
            {
                "role": "user",
                "content": "Facts:\n" + "\n".join(facts(explanation)) + "\n\nWrite the summary.",
            },
        ]
        answer = self.ask_llm(conversation)
        if answer is None:
            return template_text(explanation), "template"
        grounded = ground_text(answer, explanation, instructions=SUMMARY_SYSTEM)
        for reason in grounded.dropped:
            log.info("Dropped a sentence of the model's summary: %s", reason)
        usable = grounded.grounded if explanation.anomalous else grounded.kept > 0
        if not usable:
            return template_text(explanation), "template"
        return grounded.text, "llm"

    def ask_llm(
        self, conversation: Conversation, settings: GenerationSettings | None = None
    ) -> str | None:
        """One answer of the language model, or None (counted) when it fails or is absent.

        Args:
            conversation: OpenAI-format messages.
            settings: Generation settings (default: the analyzer's).

        Returns:
            The answer text, or None.
        """
        if self.llm is None:
            return None
        try:
            with self._llm_lock:
                [answer] = self.llm.chat([conversation], settings or self.generation)
        except VladError as exc:
            self.llm_failures += 1
            log.warning("The language model failed (%s); using the evidence template.", exc)
            return None
        except Exception as exc:  # a model crash must not take the answer down with it
            self.llm_failures += 1
            log.warning(
                "The language model failed (%s: %s); using the evidence template.",
                type(exc).__name__,
                exc,
            )
            return None
        return answer.strip() or None


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _StillFrame:
    index: int = 0
    time_s: float = 0.0


def _no_progress(_fraction: float, _stage: str) -> None:
    return None


def _clean(definitions: Sequence[str] | str) -> tuple[str, ...]:
    """Strip, collapse spaces, drop empty lines and repeats; a string is one per line."""
    if isinstance(definitions, str):
        definitions = definitions.splitlines()
    cleaned = (" ".join(str(d).split()) for d in definitions)
    return tuple(dict.fromkeys(d for d in cleaned if d))


def _definition_item(text: str, score: float, refs: dict[str, tuple[str, str]]) -> EvidenceItem:
    if text in refs:
        rule_id, rule_text = refs[text]
        return EvidenceItem("rule", rule_text, float(score), ref=rule_id)
    return EvidenceItem("definition", text, float(score))


def _normal_rules(rule_set: RuleSetLike | None) -> Sequence[RuleLike]:
    return tuple(rule_set.normal()) if rule_set is not None else ()


def _intervals(
    values: np.ndarray, times: np.ndarray, duration_s: float, config: VideoConfig
) -> list[Interval]:
    runs = temporal.hysteresis_runs(values, config.threshold, config.hysteresis_low)
    spans = temporal.runs_to_spans(
        runs,
        times,
        duration_s,
        merge_gap_s=config.merge_gap_s,
        min_duration_s=config.min_interval_s,
    )
    return [
        Interval(start_s, end_s, float(values[start:stop].max()), MEMORY_TRACK)
        for start, stop, start_s, end_s in spans
    ]


def _media_kind(path: Path) -> Literal["video", "image"]:
    """Whether a file is a video or an image, by suffix, then by trying to read it."""
    from vlad.media.video import is_video_path

    if is_video_path(path):
        return "video"
    from vlad.media.image import load_image

    try:
        load_image(path, name=path.name)
    except InputError as image_error:
        from vlad.media.video import probe_video

        try:
            probe_video(path)
        except InputError:
            raise image_error from None
        return "video"
    return "image"


def _load_rules(rules: RuleSetLike | str | Path | None) -> RuleSetLike | None:
    if rules is None or isinstance(rules, str | Path):
        if rules is None:
            return None
        from vlad.reasoning.rules import load_rules

        return load_rules(rules)
    return rules


def _load_memory(memory: MemoryIndex | str | Path | None) -> MemoryIndex | None:
    if memory is None:
        return None
    if isinstance(memory, str | Path):
        from vlad.scoring.memory import MemoryIndex

        return MemoryIndex.load(memory)
    return memory
