"""Keyframes: the peak frame of each event (or a frame asked about) with its heat map."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from vlad.answer.explanation import Evidence, KeyFrame
from vlad.pipeline.evidence import MEMORY_TRACK
from vlad.pipeline.maps import frame_map
from vlad.pipeline.video import EncodedVideo, VideoDetector


def keyframe(
    detector: VideoDetector,
    pixels: np.ndarray,
    definition: str | None,
    evidence_id: str | None,
    frame: Any,
    score: float,
    *,
    source: str | None = None,
) -> KeyFrame:
    """A frame with the map of a definition (none for the memory's track).

    The map is WinCLIP's, or the learned prompts' when the detector has them.

    Args:
        detector: The video scorer (its CLIP, text pairs and map settings).
        pixels: uint8 RGB (H, W, 3).
        definition: What the map is for.
        evidence_id: The evidence the frame illustrates, or None.
        frame: Has ``index`` and ``time_s``.
        score: The fused score at that frame.
        source: The video the frame is from: its vision pass is shared through the
            detector's ``map_cache`` with the other maps of that frame (None: not shared).

    Returns:
        The keyframe, with its map and overlay when the CLIP has a patch grid.
    """
    anomaly_map = None
    overlay = None
    if definition and definition != MEMORY_TRACK:
        anomaly_map = frame_map(
            detector.encoder,
            detector.scorer,
            Image.fromarray(pixels),
            definition,
            scales=detector.config.map_scales,
            temperature=detector.config.temperature,
            learned=detector.learned,
            cache=detector.map_cache if source is not None else None,
            key=(source, int(frame.index)) if source is not None else None,
        )
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


def event_keyframes(
    detector: VideoDetector,
    encoded: EncodedVideo,
    evidence: Sequence[Evidence],
    max_keyframes: int,
) -> list[KeyFrame]:
    """The peak frame of each evidence with its heat map (only those frames decoded)."""
    from vlad.media.video import open_video

    chosen = sorted(evidence, key=lambda e: -e.score)[:max_keyframes]
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
                keyframe(
                    detector,
                    frame.image,
                    item.definition,
                    item.id,
                    frame,
                    item.score,
                    source=str(encoded.info.source),
                )
            )
    return frames
