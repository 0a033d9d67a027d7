"""Wiring for videos: stream frames -> CLIP embeddings -> definition scores -> intervals.

Decoding runs in a background thread with a bounded queue, so it overlaps the CLIP
forward pass, and frames are dropped as soon as they are embedded: memory does not grow
with the video's length. The embeddings are kept (:class:`EncodedVideo`), so a video can be
scored again against new definitions without decoding it again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from vlad.answer.explanation import LocalizedFrame
from vlad.config import ClipConfig, VideoConfig
from vlad.encoders.clip import ClipEncoder, load_clip
from vlad.errors import InputError
from vlad.media.segments import segments_for
from vlad.media.video import Frame, VideoInfo, open_video
from vlad.pipeline.evidence import MEMORY_TRACK
from vlad.pipeline.intervals import cut_intervals
from vlad.pipeline.maps import frame_map
from vlad.pipeline.memory_fit import check_memory_fits
from vlad.scoring import temporal
from vlad.scoring.text_defined import TextDefinedScorer
from vlad.types import Interval, ScoreTrack, Segment
from vlad.utils.clock import file_clock
from vlad.utils.prefetch import prefetch

if TYPE_CHECKING:
    from vlad.reasoning.rules import RuleCitation
    from vlad.scoring.learned.scorer import AnomalyClipScorer
    from vlad.scoring.memory import MemoryIndex, Neighbor

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float], None]


@dataclass
class EncodedVideo:
    """The CLIP embeddings of a video's sampled frames, kept for re-scoring.

    Attributes:
        info: Metadata of the video.
        frame_indices: (N,) original index of each sampled frame.
        times_s: (N,) time of each sampled frame in seconds.
        embeddings: (N, D) global CLIP image embeddings (float32, CPU).
        frame_times_s: (M,) time of every decodable original frame.
        sample_fps: The sampling rate used (None: every frame).
        stopped_early: Why decoding stopped before the end, or None.
        encoder_name: Name of the CLIP that made the embeddings.
        frames_fps: The frame rate given for a folder of frames, to reopen it.
    """

    info: VideoInfo
    frame_indices: np.ndarray
    times_s: np.ndarray
    embeddings: torch.Tensor
    frame_times_s: np.ndarray
    sample_fps: float | None
    stopped_early: str | None = None
    encoder_name: str = ""
    frames_fps: float | None = None

    @property
    def duration_s(self) -> float:
        """Duration covered by the decodable frames."""
        if self.stopped_early is None or not len(self.frame_times_s):
            return self.info.duration_s
        step = 1.0 / self.info.fps if self.info.fps > 0 else 0.0
        return float(self.frame_times_s[-1]) + step


@dataclass(frozen=True)
class VideoResult:
    """Everything vlad found in one video.

    Attributes:
        input: The video as given.
        info: Its metadata.
        sample_fps: Frames per second scored.
        definitions: The anomaly definitions scored.
        tracks: One smoothed score track per definition.
        fused: The maximum over definitions, per sample.
        segments: Fixed-length segments with their scores.
        intervals: Anomalous intervals, found per definition (each names the definition
            that fired; intervals of different definitions may overlap), by start time.
        frame_scores: (M,) fused score on every original frame index.
        threshold: The score that opens an interval.
        low_threshold: The score that keeps one open.
        stopped_early: Why decoding stopped before the end, or None.
        localized: Peak-frame maps of the intervals, when computed.
        evidence: With a retrieval memory: the memory's nearest captions to each
            interval's mean frame embedding, one tuple per interval, in interval order.
        citations: With a rule set (``vlad detect --rules``): the rule each interval
            cites, with its peak frame and caption, one per interval (None where no rule
            fired), in interval order.
    """

    input: str
    info: VideoInfo
    sample_fps: float | None
    definitions: tuple[str, ...]
    tracks: tuple[ScoreTrack, ...]
    fused: ScoreTrack
    segments: tuple[Segment, ...]
    intervals: tuple[Interval, ...]
    frame_scores: np.ndarray = field(repr=False)
    threshold: float = 0.5
    low_threshold: float = 0.4
    stopped_early: str | None = None
    localized: tuple[LocalizedFrame, ...] = ()
    evidence: tuple[tuple[Neighbor, ...], ...] = ()
    citations: tuple[RuleCitation | None, ...] = ()

    @property
    def max_score(self) -> float:
        """Highest fused score over the video."""
        return float(self.fused.values.max()) if len(self.fused.values) else 0.0

    @property
    def label(self) -> str:
        """``"anomalous"`` when any interval was found, else ``"normal"``."""
        return "anomalous" if self.intervals else "normal"

    def to_record(self) -> dict[str, Any]:
        """Return the JSON-ready record printed by ``vlad detect VIDEO --json``."""
        record: dict[str, Any] = {
            "input": self.input,
            "kind": "video",
            "duration_s": round(self.info.duration_s, 3),
            "fps": round(self.info.fps, 3),
            "frame_count": self.info.frame_count,
            "sample_fps": self.sample_fps,
            "width": self.info.width,
            "height": self.info.height,
            "definitions": list(self.definitions),
            "threshold": self.threshold,
            "low_threshold": self.low_threshold,
            "score": round(self.max_score, 6),
            "label": self.label,
            "segments": [s.to_record() for s in self.segments],
            "intervals": [i.to_record() for i in self.intervals],
        }
        for interval, neighbors in zip(record["intervals"], self.evidence, strict=False):
            interval["neighbors"] = [n.to_record() for n in neighbors]
        for interval, citation in zip(record["intervals"], self.citations, strict=False):
            if citation is not None:
                interval["rule"] = citation.to_record()
        if self.stopped_early:
            record["stopped_early"] = self.stopped_early
        if self.localized:
            record["maps"] = [item.to_record() for item in self.localized]
        return record


@dataclass
class VideoTimes:
    """Seconds spent per stage over a video (decode runs in its own thread)."""

    wait_for_frames: float = 0.0
    encode: float = 0.0
    frames: int = 0


class VideoDetector:
    """Zero-shot anomaly detection on videos: text definitions and/or a caption memory.

    Args:
        encoder: A loaded CLIP.
        config: Sampling, definitions, smoothing and thresholds.
        memory: A Flashback retrieval memory built with this CLIP's text tower
            (``vlad memory build --embedder clip:ARCH@WEIGHTS``): each sampled frame is
            scored by :meth:`~vlad.scoring.memory.MemoryIndex.respond` into a track named
            :data:`MEMORY_TRACK`, and every interval gets the memory's nearest captions as
            evidence. Without definitions in ``config``, the memory's track is the only one.
        memory_k: Neighbours per frame for the memory's score and evidence.
        learned: AnomalyCLIP's learned-prompt scorer: it draws the peak-frame maps instead
            of WinCLIP's windows (the scores still come from the definitions).

    Raises:
        InputError: The memory was built with another embedder than this CLIP.
    """

    def __init__(
        self,
        encoder: ClipEncoder,
        config: VideoConfig | None = None,
        *,
        memory: MemoryIndex | None = None,
        memory_k: int = 10,
        learned: AnomalyClipScorer | None = None,
    ) -> None:
        if memory is not None:
            check_memory_fits(memory, encoder)
        if memory_k < 1:
            raise InputError(f"memory_k must be at least 1, got {memory_k}.", param="memory_k")
        self.memory = memory
        self.memory_k = memory_k
        self.learned = learned
        self.encoder = encoder
        self.config = config or VideoConfig()
        self.scorer = TextDefinedScorer(
            encoder,
            scene_prompts=self.config.scene_prompts,
            normal=self.config.normal,
            temperature=self.config.temperature,
        )
        self.times = VideoTimes()
        self.map_cache: dict[Any, Any] = {}
        """Vision passes of the peak frames of the video last encoded, by (source, frame
        index): an interval's map and its event's keyframe on the same frame, or two
        definitions peaking on it, take one pass (see :func:`~vlad.pipeline.maps.frame_map`)."""

    @classmethod
    def build(cls, clip: ClipConfig, config: VideoConfig | None = None) -> VideoDetector:
        """Load the CLIP and build the detector."""
        return cls(load_clip(clip), config)

    @property
    def definitions(self) -> tuple[str, ...]:
        """The definitions scored by default: the config's, or the scene prompts' own.

        With a memory and no definitions in the config, none: the memory scores alone.
        """
        if self.memory is not None and not self.config.definitions:
            return ()
        return self.config.definitions or self.scorer.default_definitions()

    def encode(
        self,
        source: str | Path,
        *,
        progress: ProgressCallback | None = None,
        on_frame: Callable[[Frame], None] | None = None,
    ) -> EncodedVideo:
        """Decode a video (streaming) and embed its sampled frames.

        Args:
            source: A video file, or a folder of frames when ``frames_fps`` is set.
            progress: Called with the video time (seconds) reached after each batch.
            on_frame: Called with each sampled frame, pixels included, on the decoding
                thread before its pixels are dropped (e.g. a
                :class:`~vlad.reasoning.perception.FrameKeeper`, so captions reuse the
                decoded frames).

        Returns:
            The embeddings and their timing, for :meth:`score`.

        Raises:
            InputError: A file that cannot be read as a video (one sentence).
        """
        config = self.config
        self.map_cache.clear()  # a new video: the last one's peak frames are not needed
        with open_video(source, frames_fps=config.frames_fps) as reader:
            info = reader.info
            frame_times = reader.timestamps()
            frames = prefetch(
                self._preprocessed(reader.iter_frames(config.sample_fps), on_frame),
                maxsize=2 * config.batch_size,
            )
            indices: list[int] = []
            times: list[float] = []
            chunks: list[torch.Tensor] = []
            batch: list[tuple[Frame, torch.Tensor]] = []
            wait_start = time.perf_counter()
            for item in frames:
                self.times.wait_for_frames += time.perf_counter() - wait_start
                batch.append(item)
                if len(batch) == config.batch_size:
                    chunks.append(self._embed(batch, indices, times, progress))
                    batch = []
                wait_start = time.perf_counter()
            if batch:
                chunks.append(self._embed(batch, indices, times, progress))
            stopped_early = reader.stopped_early
            decodable = reader.info.frame_count  # cut to where decoding stopped, if it did
        if not indices:
            raise InputError(
                f"Cannot read video '{source}': no frame could be decoded; check the file."
            )
        if stopped_early is not None:
            # Every frame before the stop counts (the warning's figure), not only those up
            # to the last sampled one.
            frame_times = frame_times[:decodable]
        return EncodedVideo(
            info=info,
            frame_indices=np.asarray(indices, dtype=np.int64),
            times_s=np.asarray(times, dtype=np.float64),
            embeddings=torch.cat(chunks),
            frame_times_s=np.asarray(frame_times, dtype=np.float64),
            sample_fps=config.sample_fps,
            stopped_early=stopped_early,
            encoder_name=self.encoder.name,
            frames_fps=config.frames_fps,
        )

    def _preprocessed(
        self, frames: Iterator[Frame], on_frame: Callable[[Frame], None] | None = None
    ) -> Iterator[tuple[Frame, torch.Tensor]]:
        """Resize and normalise on the decoding thread; the frame's pixels are dropped."""
        for frame in frames:
            if on_frame is not None:
                on_frame(frame)
            pixels = self.encoder.preprocess([Image.fromarray(frame.image)])[0]
            yield Frame(index=frame.index, time_s=frame.time_s, image=_EMPTY), pixels

    def _embed(
        self,
        batch: list[tuple[Frame, torch.Tensor]],
        indices: list[int],
        times: list[float],
        progress: ProgressCallback | None,
    ) -> torch.Tensor:
        start = time.perf_counter()
        pixels = torch.stack([p for _, p in batch])
        embedded = self.encoder.encode_images(pixels).image.float().cpu()
        self.times.encode += time.perf_counter() - start
        self.times.frames += len(batch)
        indices.extend(f.index for f, _ in batch)
        times.extend(f.time_s for f, _ in batch)
        if progress is not None:
            progress(batch[-1][0].time_s)
        return embedded

    def score(
        self,
        encoded: EncodedVideo,
        definitions: Sequence[str] | None = None,
        *,
        name: str | None = None,
    ) -> VideoResult:
        """Score encoded frames against definitions: no decoding, only text is embedded.

        With a memory, its Flashback score of each frame is one more track
        (:data:`MEMORY_TRACK`), and each interval gets the memory's nearest captions to its
        mean frame embedding as evidence.

        Args:
            encoded: From :meth:`encode`.
            definitions: Anomaly definitions (default: :attr:`definitions`).
            name: How the video is named in the result (default: its source).

        Returns:
            Tracks, segments, intervals, per-frame scores and, with a memory, evidence.
        """
        config = self.config
        definitions = tuple(definitions) if definitions else self.definitions
        frames = len(encoded.times_s)
        raw = (
            self.scorer.score(encoded.embeddings, definitions)  # (N, n_defs)
            if definitions
            else np.zeros((frames, 0), dtype=np.float64)
        )
        if self.memory is not None:
            queries = encoded.embeddings.float().numpy()
            memory_scores = self.memory.respond(queries, self.memory_k).astype(np.float64)
            raw = np.concatenate([raw, memory_scores[:, None]], axis=1)
            definitions = (*definitions, MEMORY_TRACK)
        times = encoded.times_s
        smoothed = np.stack(
            [
                temporal.gaussian_smooth(times, raw[:, k], config.smoothing_sigma_s)
                for k in range(raw.shape[1])
            ],
            axis=1,
        )
        tracks = tuple(
            ScoreTrack(times, encoded.frame_indices, smoothed[:, k], definitions[k])
            for k in range(len(definitions))
        )
        fused_values = smoothed.max(axis=1)
        fused = ScoreTrack(times, encoded.frame_indices, fused_values, None)
        duration = encoded.duration_s
        intervals = []
        for column, definition in enumerate(definitions):
            intervals.extend(
                cut_intervals(smoothed[:, column], times, duration, config, definition)
            )
        intervals.sort(key=lambda i: (i.start_s, -i.peak_score))
        info = encoded.info
        if encoded.stopped_early is not None:
            info = replace(info, duration_s=duration, frame_count=len(encoded.frame_times_s))
        segments = temporal.segment_scores(
            times, fused_values, segments_for(info, config.segment_seconds)
        )
        frame_scores = temporal.scores_at(times, fused_values, encoded.frame_times_s)
        evidence = self.explain_intervals(encoded, intervals) if self.memory is not None else ()
        return VideoResult(
            input=name or info.source,
            info=info,
            sample_fps=encoded.sample_fps,
            definitions=definitions,
            tracks=tracks,
            fused=fused,
            segments=tuple(segments),
            intervals=tuple(intervals),
            frame_scores=frame_scores,
            threshold=config.threshold,
            low_threshold=config.hysteresis_low,
            stopped_early=encoded.stopped_early,
            evidence=evidence,
        )

    def explain_intervals(
        self, encoded: EncodedVideo, intervals: Sequence[Interval]
    ) -> tuple[tuple[Neighbor, ...], ...]:
        """The memory's nearest captions to each interval's mean frame embedding.

        Args:
            encoded: The encoded video.
            intervals: Its intervals.

        Returns:
            One tuple of neighbours (best first) per interval; empty without a memory.
        """
        if self.memory is None:
            return ()
        embeddings = encoded.embeddings.float().numpy()
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        units = embeddings / np.maximum(norms, 1e-12)
        evidence = []
        for interval in intervals:
            inside = (encoded.times_s >= interval.start_s) & (encoded.times_s < interval.end_s)
            if not inside.any():  # shorter than the sampling step: the nearest sample
                inside[int(np.argmin(np.abs(encoded.times_s - interval.start_s)))] = True
            mean = units[inside].mean(axis=0)
            if not np.linalg.norm(mean) > 0:
                evidence.append(())
                continue
            evidence.append(tuple(self.memory.explain(mean, self.memory_k)))
        return tuple(evidence)

    def analyze(
        self,
        source: str | Path,
        definitions: Sequence[str] | None = None,
        *,
        progress: ProgressCallback | None = None,
        map_out: str | Path | None = None,
    ) -> tuple[VideoResult, EncodedVideo]:
        """Encode, score and localize a video in one call.

        Args:
            source: A video file or a frame folder (with ``frames_fps``).
            definitions: Anomaly definitions (default: :attr:`definitions`).
            progress: Called with the video time reached.
            map_out: Folder for the peak-frame overlays (None: maps are computed but not
                written).

        Returns:
            The result (with ``localized`` peak-frame maps) and the encoded video, which
            :meth:`score` can re-score against new definitions.
        """
        encoded = self.encode(source, progress=progress)
        result = self.score(encoded, definitions, name=str(source))
        localized = self.localize(encoded, result, map_out=map_out)
        return replace(result, localized=tuple(localized)), encoded

    def localize(
        self, encoded: EncodedVideo, result: VideoResult, *, map_out: str | Path | None = None
    ) -> list[LocalizedFrame]:
        """The map of each interval's peak frame, for the definition that fired.

        WinCLIP's window map, or the learned prompts' map when the detector has them.

        Only the peak frames are decoded again (random access), not the video.

        Args:
            encoded: The encoded video (to find and reopen the frames).
            result: Its scored result.
            map_out: Where to write ``<video>_<k>_<m>m<ss>s.png`` overlays, or None.

        Returns:
            One :class:`LocalizedFrame` per interval.
        """
        if not result.intervals:
            return []
        if self.encoder.grid_size is None:
            log.warning("CLIP %s has no patch grid; skipping peak-frame maps.", self.encoder.name)
            return []
        localized = []
        with open_video(result.info.source, frames_fps=encoded.frames_fps) as reader:
            for number, interval in enumerate(result.intervals):
                track = next(t for t in result.tracks if t.definition == interval.definition)
                inside = (track.times_s >= interval.start_s) & (track.times_s < interval.end_s)
                candidates = np.flatnonzero(inside)
                if not len(candidates):
                    continue
                peak = candidates[int(np.argmax(track.values[candidates]))]
                frame = reader.read_frame(int(track.frame_indices[peak]))
                image = Image.fromarray(frame.image)
                text = _map_text(result, number, interval)
                if text is None:
                    continue
                anomaly_map = frame_map(
                    self.encoder,
                    self.scorer,
                    image,
                    text,
                    scales=self.config.map_scales,
                    temperature=self.config.temperature,
                    learned=self.learned,
                    cache=self.map_cache,
                    key=(str(result.info.source), int(frame.index)),
                )
                if anomaly_map is None:
                    continue
                overlay_path = None
                if map_out is not None:
                    from vlad.answer.render import write_overlay

                    clock = file_clock(frame.time_s)
                    stem = f"{Path(result.input).stem}_{number + 1:02d}_{clock}s"
                    overlay_path = write_overlay(Path(map_out), stem, image, anomaly_map)
                localized.append(
                    LocalizedFrame(
                        interval=interval,
                        frame_index=frame.index,
                        time_s=frame.time_s,
                        anomaly_map=anomaly_map,
                        overlay_path=overlay_path,
                    )
                )
        return localized


_EMPTY = np.zeros((0, 0, 3), dtype=np.uint8)


def _map_text(result: VideoResult, number: int, interval: Interval) -> str | None:
    """Text that localizes an interval: its definition, or a memory's best caption.

    For the memory's track, the nearest anomalous caption; None when there is none.
    """
    if interval.definition != MEMORY_TRACK:
        return interval.definition or ""
    neighbors = result.evidence[number] if number < len(result.evidence) else ()
    return next((n.text for n in neighbors if n.label == "anomalous"), None)
