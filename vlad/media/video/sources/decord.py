"""The decord decoder, used on request and only where it was checked to be right."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from vlad.media.video.errors import decoder_detail
from vlad.media.video.probe import FileProbe
from vlad.media.video.sources.base import rotate

__all__ = ["DecordSource", "decord_source"]

log = logging.getLogger(__name__)

# (container, codec) pairs where decord's seeking and skipping were checked frame by
# frame against PyAV (tests/media/test_video.py); everything else is decoded by PyAV.
_DECORD_CONTAINERS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "flv"})
_DECORD_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "mjpeg"})
_DECORD_INTRA_ONLY = frozenset({("avi", "mjpeg")})
# Mean absolute difference (0..255) under which decord's first frame matches PyAV's.
_DECORD_PIXEL_TOLERANCE = 2.0


class DecordSource:
    """Decodes with decord: batches of frames by index (only where decord is right)."""

    name = "decord"

    def __init__(self, reader: Any, probe: FileProbe) -> None:
        self._reader = reader
        self._probe = probe
        height, width = probe.first_frame.shape[:2]
        self._shape = (height, width, 3)

    def close(self) -> None:
        """Drop the decord reader (its file is closed when it is freed)."""
        self._reader = None

    def read(self, index: int) -> np.ndarray | None:
        """Decode one frame."""
        for _, image in self.frames(np.asarray([index]), 1):
            return image
        return None

    def frames(self, indices: np.ndarray, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield the wanted frames, ``chunk`` at a time; decord errors propagate."""
        if self._reader is None:
            raise RuntimeError("the decord reader is closed")
        for start in range(0, len(indices), chunk):
            batch_indices = [int(i) for i in indices[start : start + chunk]]
            batch = self._reader.get_batch(batch_indices).asnumpy()
            if batch.shape != (len(batch_indices), *self._shape) or batch.dtype != np.uint8:
                raise RuntimeError(f"decord returned frames of shape {batch.shape}")
            for offset, index in enumerate(batch_indices):
                # A copy, so that a frame kept by the caller does not keep its whole batch.
                yield index, rotate(batch[offset].copy(), self._probe.quarter_turns)
            del batch


def decord_threads() -> int:
    """Decoder threads for decord: the cores, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def decord_source(probe: FileProbe, *, forced: bool) -> DecordSource | None:
    """A decord source when decord is known to be right for this file, else None."""
    height, width = probe.first_frame.shape[:2]
    reasons = []
    if not forced:
        known = (
            probe.container_format in _DECORD_CONTAINERS and probe.codec in _DECORD_CODECS
        ) or (probe.container_format, probe.codec) in _DECORD_INTRA_ONLY
        if not known:
            reasons.append(f"{probe.codec} in {probe.container_format} is not on its list")
        if height % 2 or width % 2:
            reasons.append("the frame size is odd")
        if probe.leading_frames:
            reasons.append("the stream has open GOPs")
        if probe.stopped_early is not None:
            reasons.append("the file is cut short")
    if probe.pts is None:
        reasons.append("the timestamps are missing or repeated")
    if reasons:
        log.debug("Not using decord for '%s': %s.", probe.name, "; ".join(reasons))
        return None
    try:
        import decord

        reader = decord.VideoReader(probe.path, ctx=decord.cpu(0), num_threads=decord_threads())
        if len(reader) != probe.info.frame_count:
            raise RuntimeError(f"it counts {len(reader)} frames, not {probe.info.frame_count}")
        stamps = np.asarray(reader.get_frame_timestamp(range(len(reader))), dtype=np.float64)
        starts = stamps[:, 0] - stamps[0, 0]
        tolerance = max(1e-3, 0.25 / probe.info.fps)
        if np.max(np.abs(starts - probe.times)) > tolerance:
            raise RuntimeError("its timestamps differ from the container's")
        first = reader.get_batch([0]).asnumpy()
        if first.shape != (1, *probe.first_frame.shape):
            raise RuntimeError(f"its first frame has shape {first.shape[1:]}")
        difference = np.abs(first[0].astype(np.int16) - probe.first_frame).mean()
        if difference > _DECORD_PIXEL_TOLERANCE:
            raise RuntimeError(f"its first frame differs from PyAV's by {difference:.1f}")
    except Exception as exc:  # decord raises its own types, RuntimeError and IndexError
        level = logging.WARNING if forced else logging.DEBUG
        log.log(level, "Not using decord for '%s': %s.", probe.name, decoder_detail(exc))
        return None
    return DecordSource(reader, probe)
