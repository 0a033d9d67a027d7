"""Streaming video ingestion: probe, sample at a target rate, segment, decode in chunks.

A *video* is a video file, or a folder of frame images read at a given frame rate (the
layout of the ShanghaiTech, Avenue and UCSD Ped2 test sets). :func:`open_video` returns a
:class:`VideoReader` whose :meth:`~VideoReader.iter_frames` decodes a few frames at a time,
so memory does not grow with the length of the video; :func:`prefetch` runs that decoding
on a background thread while the caller embeds the previous frames.

Time
----
Every frame keeps its true presentation time (the container's timestamps, relative to the
first frame), so variable-frame-rate videos (phones, screen recordings, many network
cameras) are sampled at the right moments. Sampling at ``fps`` takes, for each target
time ``k / fps`` before the end of the video, the latest frame shown at or before that
time (:meth:`VideoReader.sample_indices`).

Decoders
--------
Files are always probed with PyAV first: that is where every unreadable input (empty
file, text named ``.mp4``, audio only, unsupported codec, MP4 cut before its index) is
turned into an :class:`~vlad.errors.InputError` of one sentence, before any other decoder
sees the file. The probe reads every packet header once (not the pixels), which gives
exact timestamps, the number of frames really present and whether the file was cut short.

Pixels are then decoded by PyAV by default. decord is used only when asked for
(``backend="decord"``), and then only where it was checked to be right: it returns *wrong
frames without any error* for many ordinary files (after a seek or skip in MPEG-4 part 2
or MPEG-2 with B-frames, H.264 in AVI, H.264 or HEVC with open GOPs, MPEG-TS with
B-frames, MPEG-PS and WMV), arrays of the wrong shape for some frame widths and shifted
colours for odd heights; and decord 0.6 keeps decoding ahead to the end of the file after
every batch, so its memory grows with the video's length. When asked for, decord must
still agree with the probe on frame count, timestamps and the pixels of the first frame,
or PyAV is used; any decord error later switches the reader to PyAV for the remaining
frames.

Damaged files
-------------
A file cut short (an interrupted download or recording) gives the frames that can be
decoded: ``frame_count`` never counts frames that are missing, and
:attr:`VideoReader.stopped_early` says where the readable part ends (a warning is
logged). MKV, AVI and MPEG-TS keep working when cut; an MP4 keeps its index (``moov``) at
the end unless written with ``+faststart``, so a cut MP4 is usually wholly unreadable and
gives an InputError. A packet that cannot be decoded in the middle of a file is skipped
(a warning counts them); decoding that fails for good ends the iteration there, never
with an exception.

Pixels
------
Frames are (H, W, 3) uint8 RGB arrays at the stored size, turned upright when the file
carries a rotation (phone videos); non-square pixels are not resampled. In a frame
folder, an image whose size differs from the first one is resized (bilinear) to the
first image's size, with a warning, so that every frame of a video has the same shape;
an image that cannot be read is skipped with a warning.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import queue
import re
import threading
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, TypeAlias, TypeVar

import numpy as np

from vlad.errors import ConfigError, InputError
from vlad.media.image import IMAGE_EXTENSIONS, image_to_array, iter_image_paths, load_image
from vlad.types import Segment

__all__ = [
    "VIDEO_EXTENSIONS",
    "Backend",
    "Frame",
    "VideoInfo",
    "VideoReader",
    "is_video_path",
    "open_video",
    "prefetch",
    "probe_video",
    "segments_for",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".flv",
        ".ts", ".3gp", ".ogv",
    }
)  # fmt: skip
"""Lower-case file suffixes taken as videos by :func:`is_video_path`."""

Backend: TypeAlias = Literal["auto", "decord", "pyav"]
"""Decoder choice for :func:`open_video`: ``"auto"`` is PyAV; ``"decord"`` on request."""

# Times closer than this (seconds) are equal: keeps float rounding of k / fps or of a
# timestamp from picking the previous frame.
_TIME_EPS = 1e-6
# Largest decoded batch, in bytes, whatever ``chunk`` asks (4K frames are 25 MB each).
_MAX_BATCH_BYTES = 256 * 1024 * 1024
_MAX_DETAIL_CHARS = 160
# decord prefixes its messages with "[hh:mm:ss] /path/of/its/source.cc:123: ".
_RE_DECORD_PREFIX = re.compile(r"\[\d\d:\d\d:\d\d\] \S+:\d+: ")
# (container, codec) pairs where decord's seeking and skipping were checked frame by
# frame against PyAV (tests/test_video.py); everything else is decoded by PyAV.
_DECORD_CONTAINERS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "flv"})
_DECORD_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "mjpeg"})
_DECORD_INTRA_ONLY = frozenset({("avi", "mjpeg")})
# Mean absolute difference (0..255) under which decord's first frame matches PyAV's.
_DECORD_PIXEL_TOLERANCE = 2.0


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a video once it is opened.

    Attributes:
        source: The path as given.
        fps: Native frames per second; for a variable frame rate, the average
            ``(frame_count - 1) / (last time - first time)``.
        frame_count: Frames that can be decoded, as far as is known at open time (a file
            cut short counts only the frames present).
        duration_s: Seconds from the first frame to the end of the last one
            (``1 / fps`` for a single frame).
        width: Frame width in pixels (after any rotation).
        height: Frame height in pixels (after any rotation).
        backend: The decoder: ``"decord"``, ``"pyav"`` or ``"frames"`` (a frame folder).
    """

    source: str
    fps: float
    frame_count: int
    duration_s: float
    width: int
    height: int
    backend: str

    def to_record(self) -> dict[str, Any]:
        """Return the JSON-ready record of the video."""
        return {
            "source": self.source,
            "fps": round(self.fps, 6),
            "frame_count": self.frame_count,
            "duration_s": round(self.duration_s, 6),
            "width": self.width,
            "height": self.height,
            "backend": self.backend,
        }


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    Attributes:
        index: The frame's index in the video (0 for the first frame).
        time_s: Its presentation time in seconds from the first frame.
        image: uint8 RGB pixels of shape (H, W, 3); numpy is (H, W), PIL is (W, H).
    """

    index: int
    time_s: float
    image: np.ndarray = field(repr=False, compare=False)


# --------------------------------------------------------------------------- messages


def _printable(text: str) -> str:
    """Return ``text`` with control characters (newlines included) escaped."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _detail(exc: BaseException) -> str:
    """Return a short, one-line description of a decoder exception."""
    text = _RE_DECORD_PREFIX.sub("", " ".join(str(exc).split())) or type(exc).__name__
    text = _printable(text).rstrip(".")
    if len(text) > _MAX_DETAIL_CHARS:
        text = text[: _MAX_DETAIL_CHARS - 3] + "..."
    return text


def _error(name: str, problem: str, action: str) -> InputError:
    """Build the one-line error ``Cannot read video 'name': problem; action.``."""
    return InputError(f"Cannot read video '{_printable(name)}': {problem}; {action}.")


def _looks_like_text(head: bytes) -> bool:
    """Whether the first bytes of a file are plain text."""
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def _open_failure(name: str, head: bytes, exc: BaseException) -> InputError:
    """Explain why FFmpeg could not open a file, from its first bytes."""
    stripped = head.lstrip()
    if stripped.startswith(b"version https://git-lfs"):
        return _error(
            name,
            "it is a Git LFS pointer, not the video itself",
            "run 'git lfs pull' in its repository to fetch the real file",
        )
    if stripped[:15].lower().startswith((b"<!doctype html", b"<html")):
        return _error(
            name,
            "it is an HTML page, not a video (probably a failed download)",
            "download the video again",
        )
    if head[4:8] == b"ftyp":
        return _error(
            name,
            "it is an MP4/MOV file whose index (moov atom) is missing, usually because the "
            "file was cut short or the recording never finished",
            "copy it again, or repair it with a tool such as untrunc",
        )
    if _looks_like_text(head):
        return _error(
            name,
            "it is a text file, not a video",
            "pass a video file (MP4, MKV, AVI, MOV, WebM...)",
        )
    return _error(
        name,
        f"it is damaged or not a video format FFmpeg can read (FFmpeg: {_detail(exc)})",
        "check the file, or re-encode it to H.264 MP4",
    )


def _check_fps(value: float | None, what: str, *, allow_none: bool) -> float | None:
    """Return ``value`` as a positive finite float (or None when allowed)."""
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not (math.isfinite(float(value)) and float(value) > 0)
    ):
        raise ConfigError(
            f"{what} must be a positive number of frames per second, not {value!r}; "
            "pass e.g. 1 or 25."
        )
    return float(value)


def _check_chunk(chunk: int) -> int:
    """Return ``chunk`` as a positive int."""
    if isinstance(chunk, bool) or not isinstance(chunk, numbers.Integral) or chunk < 1:
        raise ConfigError(f"chunk must be a positive whole number of frames, not {chunk!r}.")
    return int(chunk)


# --------------------------------------------------------------------------- paths


def is_video_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has a video suffix (:data:`VIDEO_EXTENSIONS`, any case).

    Only the name is looked at; the file need not exist.
    """
    return os.path.splitext(os.fsdecode(os.fspath(path)))[1].lower() in VIDEO_EXTENSIONS


# --------------------------------------------------------------------------- sources


class _Stopped(Exception):
    """Decoding cannot go past frame ``index`` (raised by a source, never to a user)."""

    def __init__(self, index: int, detail: str) -> None:
        super().__init__(detail)
        self.index = index
        self.detail = detail


class _Source(Protocol):
    """What a decoder gives the reader."""

    name: str

    def frames(self, indices: np.ndarray, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, image)`` for the sorted ``indices``, skipping undecodable ones."""
        ...

    def read(self, index: int) -> np.ndarray | None:
        """Decode one frame, or return None when it cannot be decoded."""
        ...

    def close(self) -> None:
        """Release the decoder."""
        ...


def _rotate(image: np.ndarray, quarter_turns: int) -> np.ndarray:
    """Turn ``image`` upright (counter-clockwise quarter turns, as ffmpeg's autorotate)."""
    if quarter_turns % 4 == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, quarter_turns))


@dataclass
class _FileProbe:
    """What the PyAV probe learned about a file."""

    path: str
    name: str
    info: VideoInfo
    times: np.ndarray  # (frame_count,) float64 seconds from the first frame
    pts: np.ndarray | None  # (frame_count,) int64 presentation timestamps, or None
    first_frame: np.ndarray  # (H, W, 3) before rotation, for the decord check
    container_format: str
    codec: str
    leading_frames: bool  # a frame shown before a key frame that precedes it in the file
    stopped_early: str | None
    quarter_turns: int
    end_pos: int | None  # byte offset of a cut file's partial last packet, if known
    pts_in_order: bool  # decoded frames carry presentation timestamps (not AVI's)


class _PyAVSource:
    """Decodes with PyAV: sequentially, frames identified by their timestamps."""

    name = "pyav"

    def __init__(self, probe: _FileProbe) -> None:
        self._probe = probe
        self._pts_index: dict[int, int] | None = (
            None if probe.pts is None else {int(p): i for i, p in enumerate(probe.pts)}
        )

    def close(self) -> None:
        """Nothing is held between calls."""

    def read(self, index: int) -> np.ndarray | None:
        """Decode one frame (seeking to the key frame before it)."""
        wanted = np.asarray([index])
        attempts = (True, False) if self._pts_index is not None and index > 0 else (False,)
        for seek in attempts:
            decoding = self._decode(wanted, seek=seek)
            image = None
            try:
                while True:
                    _, image = next(decoding)
            except StopIteration as done:
                if done.value is None:  # the seek missed: decode from the start
                    continue
                return image
            except _Stopped:
                return None
        return None

    def frames(self, indices: np.ndarray, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield the wanted frames; raise :class:`_Stopped` when the stream ends too soon."""
        if not len(indices):
            return
        produced = None
        if self._pts_index is not None and indices[0] > 0:
            produced = yield from self._decode(indices, seek=True)
        if produced is None:  # no seek, or it did not reach the first wanted frame
            produced = yield from self._decode(indices, seek=False)
        assert produced is not None
        if produced:
            log.warning(
                "Video '%s': %d sampled frame(s) could not be decoded and were skipped.",
                self._probe.name,
                produced,
            )

    def _decode(
        self, indices: np.ndarray, *, seek: bool
    ) -> Generator[tuple[int, np.ndarray], None, int | None]:
        """Decode the wanted frames, from the start or from the key frame before the first.

        Returns:
            How many wanted frames were skipped as undecodable, or None when a seek did
            not lead exactly to the first wanted frame (nothing was yielded then).

        Raises:
            _Stopped: When the stream ends before the last wanted frame.
        """
        import av

        probe = self._probe
        wanted = [int(i) for i in indices]
        position = 0  # next wanted index
        last_decoded = -1
        missing = 0
        previous = -1
        container = av.open(probe.path, metadata_errors="ignore")
        try:
            stream = container.streams.video[_video_stream_position(container)]
            stream.thread_type = "AUTO"
            if seek:
                assert probe.pts is not None
                try:
                    container.seek(int(probe.pts[wanted[0]]), stream=stream, backward=True)
                except Exception as exc:  # an unseekable file: decode from the start
                    log.debug("Seek failed in '%s': %s.", probe.name, _detail(exc))
                    return None
            for frame in _decoded_frames(container, stream, probe.end_pos):
                index, exact = self._index_of(frame, previous)
                if index is None:
                    continue
                # After a seek, only an exact timestamp tells where decoding resumed, and
                # the first wanted frame must not be passed (an imprecise seek, or an open
                # GOP whose leading frames cannot be decoded from there): else start over.
                if seek and ((previous < 0 and not exact) or (position == 0 and index > wanted[0])):
                    return None
                previous = last_decoded = index
                while position < len(wanted) and wanted[position] < index:
                    missing += 1
                    position += 1
                if position == len(wanted):
                    break
                if wanted[position] == index:
                    position += 1
                    image = frame.to_ndarray(format="rgb24")
                    yield index, _rotate(image, probe.quarter_turns)
                    if position == len(wanted):
                        break
        finally:
            container.close()
        if seek and last_decoded < 0:
            return None
        if position < len(wanted):
            raise _Stopped(last_decoded + 1, "the rest cannot be decoded")
        return missing

    def _index_of(self, frame: Any, previous: int) -> tuple[int | None, bool]:
        """Index of a decoded frame and whether its timestamp says so (else: counted).

        A frame whose timestamp is not in the table follows the previous one; a frame
        before the first kept one (undecodable leading frames) gets None. When the
        container's timestamps are in file order (AVI), only the first frame after a seek
        (a key frame, first in both orders) is found by timestamp; the rest are counted.
        """
        by_pts = self._pts_index is not None and frame.pts is not None
        if by_pts and (self._probe.pts_in_order or previous < 0):
            index = self._pts_index.get(int(frame.pts))  # type: ignore[union-attr]
            if index is not None:
                return index, True
            if self._probe.pts_in_order and frame.pts < int(self._probe.pts[0]):  # type: ignore[index]
                return None, False
        index = previous + 1
        return (index if index < len(self._probe.times) else None), False


def _decoded_frames(container: Any, stream: Any, end_pos: int | None = None) -> Iterator[Any]:
    """Decode a stream's packets, tolerating bad packets and a damaged end of file.

    Args:
        container: An open PyAV container.
        stream: Its video stream.
        end_pos: Byte offset of a cut file's partial last packet: decoding stops before
            it, since feeding it to a frame-threaded decoder loses the frames it holds.
    """
    import av

    packets = container.demux(stream)
    context = stream.codec_context
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except (av.FFmpegError, OSError, EOFError) as exc:  # a read error: the file ends
            log.debug("Demuxing stopped: %s", _detail(exc))
            break
        if packet.size == 0 or packet.is_discard:
            continue
        if end_pos is not None and packet.pos is not None and packet.pos >= end_pos:
            break
        try:
            frames = context.decode(packet)
        except (av.FFmpegError, ValueError) as exc:  # one bad packet: skip its frame
            log.debug("Skipping a packet that cannot be decoded: %s", _detail(exc))
            continue
        yield from frames
    try:
        yield from context.decode(None)
    except (av.FFmpegError, ValueError) as exc:
        log.debug("Flushing the decoder failed: %s", _detail(exc))


def _video_stream_position(container: Any) -> int:
    """Position (among the video streams) of the stream vlad decodes, or -1."""
    for position, stream in enumerate(container.streams.video):
        if not _is_cover_picture(stream):
            return position
    return -1


def _is_cover_picture(stream: Any) -> bool:
    """Whether a video stream is an attached picture (album art), not a video."""
    import av

    try:
        return bool(stream.disposition & av.stream.Disposition.attached_pic)
    except AttributeError:  # pragma: no cover - older PyAV
        return False


class _DecordSource:
    """Decodes with decord: batches of frames by index (only where decord is right)."""

    name = "decord"

    def __init__(self, reader: Any, probe: _FileProbe) -> None:
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
                yield index, _rotate(batch[offset].copy(), self._probe.quarter_turns)
            del batch


class _FolderSource:
    """Reads a folder of frame images."""

    name = "frames"

    def __init__(self, paths: list[Path], name: str, height: int, width: int) -> None:
        self._paths = paths
        self._name = name
        self._size = (height, width)

    def close(self) -> None:
        """Nothing is held between calls."""

    def read(self, index: int) -> np.ndarray | None:
        """Load one frame (an unreadable image raises its own InputError)."""
        return self._load(index)

    def frames(self, indices: np.ndarray, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield the wanted frames; an unreadable image is skipped with a warning."""
        for index in indices:
            try:
                image = self._load(int(index))
            except InputError as exc:
                log.warning("Skipping frame %d of '%s': %s", int(index), self._name, exc)
                continue
            yield int(index), image

    def _load(self, index: int) -> np.ndarray:
        """Load frame ``index`` as (H, W, 3), resized to the first frame's size."""
        from PIL import Image

        path = self._paths[index]
        image = load_image(path)
        height, width = self._size
        if image.size != (width, height):  # PIL is (W, H)
            log.warning(
                "Frame '%s' is %dx%d, not %dx%d like the first frame; resizing it.",
                _printable(str(path)),
                image.size[0],
                image.size[1],
                width,
                height,
            )
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        return image_to_array(image)


# --------------------------------------------------------------------------- the reader


class VideoReader:
    """A video opened for streaming: timestamps, sampling, chunked decoding.

    Build it with :func:`open_video`. A reader is not thread-safe: iterate it from one
    thread at a time (:func:`prefetch` runs the whole iteration on its own thread).

    Attributes:
        info: The video's metadata. After an early stop, ``frame_count`` and
            ``duration_s`` describe the part that could be decoded; after a switch from
            decord to PyAV, ``backend`` is ``"pyav"``.
        stopped_early: None, or one sentence saying where decoding stopped and why, e.g.
            ``"decoding stopped at frame 212 (8.48 s) of 300; the rest of 'x.mp4' is
            missing or damaged"``. Set at open time when the file is known to be cut
            short, or during iteration when decoding fails for good.
    """

    def __init__(
        self,
        info: VideoInfo,
        times: np.ndarray,
        source: _Source,
        *,
        probe: _FileProbe | None = None,
        stopped_early: str | None = None,
    ) -> None:
        self.info = info
        self.stopped_early = stopped_early
        self._times = times
        self._source: _Source | None = source
        self._probe = probe

    # ------------------------------------------------------------------ context

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VideoReader({self.info!r})"

    def close(self) -> None:
        """Release the decoder; iterating or reading afterwards raises ValueError."""
        if self._source is not None:
            self._source.close()
            self._source = None

    def _open_source(self) -> _Source:
        if self._source is None:
            raise ValueError(f"The video '{self.info.source}' is closed.")
        return self._source

    # ------------------------------------------------------------------ time

    def timestamps(self) -> np.ndarray:
        """Return the start time (seconds from the first frame) of every frame.

        Returns:
            A new float64 array of shape (frame_count,), non-decreasing, starting at 0.
        """
        return self._times.copy()

    def sample_indices(self, fps: float | None) -> np.ndarray:
        """Return the frames to decode for sampling at ``fps``.

        For each target time ``k / fps`` before the end of the video, the frame shown at
        that moment: the latest frame whose timestamp is at or before it. Exact for
        constant frame rates, and right for variable ones (a frame shown for a long time
        may serve several targets; it is listed once).

        Args:
            fps: Samples per second, or None for every frame. A rate above the video's
                own gives every frame.

        Returns:
            Sorted, unique int64 frame indices, always starting with 0.

        Raises:
            ConfigError: When ``fps`` is not a positive number.
        """
        fps = _check_fps(fps, "The sampling rate fps", allow_none=True)
        count = len(self._times)
        if fps is None:
            return np.arange(count, dtype=np.int64)
        duration = self.info.duration_s
        steps = np.arange(max(1, math.ceil(duration * fps - _TIME_EPS)), dtype=np.float64)
        targets = steps / fps
        targets = targets[(targets < duration - _TIME_EPS) | (steps == 0)]
        chosen = np.searchsorted(self._times, targets + _TIME_EPS, side="right") - 1
        return np.unique(np.clip(chosen, 0, count - 1)).astype(np.int64)

    # ------------------------------------------------------------------ decoding

    def iter_frames(self, fps: float | None = None, *, chunk: int = 16) -> Iterator[Frame]:
        """Decode the frames sampled at ``fps``, a few at a time.

        Only ``chunk`` decoded frames are held at once (fewer for very large frames), so
        memory does not depend on the video's length. A damaged end of file ends the
        iteration quietly and sets :attr:`stopped_early` (with a logged warning).

        Args:
            fps: Samples per second (see :meth:`sample_indices`), or None for every frame.
            chunk: Frames decoded per batch by decord; PyAV and frame folders decode one
                frame at a time.

        Returns:
            An iterator of :class:`Frame` in time order.

        Raises:
            ConfigError: When ``fps`` or ``chunk`` is out of range.
            ValueError: When the reader is closed.
        """
        indices = self.sample_indices(fps)
        chunk = _check_chunk(chunk)
        frame_bytes = max(1, self.info.width * self.info.height * 3)
        chunk = max(1, min(chunk, _MAX_BATCH_BYTES // frame_bytes))
        self._open_source()
        return self._iterate(indices, chunk)

    def _iterate(self, indices: np.ndarray, chunk: int) -> Iterator[Frame]:
        position = 0
        while position < len(indices):
            source = self._open_source()
            try:
                for index, image in source.frames(indices[position:], chunk):
                    position = int(np.searchsorted(indices, index, side="right"))
                    yield Frame(index=index, time_s=float(self._times[index]), image=image)
                return
            except _Stopped as stop:
                self._stop_at(stop.index)
                return
            except Exception as exc:
                if source.name != "decord" or self._probe is None:
                    raise
                self._switch_to_pyav(exc)

    def read_frame(self, index: int) -> Frame:
        """Decode one frame by its index (random access), e.g. to re-read a peak frame.

        Args:
            index: Frame index in ``[0, info.frame_count)``.

        Returns:
            The frame.

        Raises:
            IndexError: When ``index`` is out of range.
            InputError: When that frame cannot be decoded.
            ValueError: When the reader is closed.
        """
        count = len(self._times)
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"A frame index must be an integer, not {type(index).__name__}.")
        if not 0 <= index < count:
            raise IndexError(f"Frame index {index} is out of range for {count} frames.")
        index = int(index)
        source = self._open_source()
        try:
            image = source.read(index)
        except Exception as exc:
            if source.name != "decord" or self._probe is None:
                raise
            self._switch_to_pyav(exc)
            image = self._open_source().read(index)
        if image is None:
            raise InputError(
                f"Cannot read frame {index} ({self._times[index]:.2f} s) of video "
                f"'{_printable(self.info.source)}': it cannot be decoded; the file is "
                "damaged there, so pick another frame or re-copy the file."
            )
        return Frame(index=index, time_s=float(self._times[index]), image=image)

    def _switch_to_pyav(self, exc: BaseException) -> None:
        assert self._probe is not None
        log.warning(
            "decord failed on '%s' (%s); decoding the rest with PyAV.",
            self._probe.name,
            _detail(exc),
        )
        if self._source is not None:
            self._source.close()
        self._source = _PyAVSource(self._probe)
        self.info = replace(self.info, backend="pyav")

    def _stop_at(self, index: int) -> None:
        """Record that frames from ``index`` on cannot be decoded."""
        count = len(self._times)
        index = max(0, min(index, count))
        if index >= count:
            return
        time_s = float(self._times[index])
        self.stopped_early = (
            f"decoding stopped at frame {index} ({time_s:.2f} s) of {count}; "
            f"the rest of '{_printable(self.info.source)}' is damaged"
        )
        log.warning("Video '%s': %s.", _printable(self.info.source), self.stopped_early)
        self._times = self._times[:index]
        self.info = replace(self.info, frame_count=index, duration_s=time_s)


# --------------------------------------------------------------------------- probing


def _probe_file(path: Path, name: str) -> _FileProbe:
    """Read a file's packet headers with PyAV and decode its first frame.

    Raises:
        InputError: For anything that is not a readable video (one sentence).
    """
    import av

    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        raise _error(
            name, f"it cannot be opened ({_detail(exc)})", "check its permissions"
        ) from exc
    if size == 0:
        raise _error(name, "the file is empty (0 bytes)", "copy or download it again")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except Exception as exc:  # FFmpeg raises many types here; each becomes one sentence
        raise _open_failure(name, head, exc) from exc
    with container:
        return _probe_container(container, str(path), name)


def _probe_container(container: Any, path: str, name: str) -> _FileProbe:
    """The body of :func:`_probe_file` once the container is open."""
    position = _video_stream_position(container)
    if position < 0:
        if container.streams.video:
            problem = "it has no video stream, only a cover picture"
        elif container.streams.audio:
            problem = "it has no video stream (audio only)"
        else:
            problem = "it has no video stream"
        raise _error(name, problem, "pass a file with video")
    stream = container.streams.video[position]
    context = stream.codec_context
    if context is None:
        raise _error(
            name,
            "its video codec is not supported by this FFmpeg build",
            "convert it to H.264, e.g. with 'ffmpeg -i IN -c:v libx264 OUT.mp4'",
        )
    codec = str(getattr(context.codec, "canonical_name", None) or context.name)
    time_base = stream.time_base or Fraction(1, 1)

    # (pts, duration, key frame, corrupt, byte offset) of each video packet, file order
    records: list[tuple[int | None, int, bool, bool, int | None]] = []
    other_end = 0.0  # end time (s) of the other streams' packets, to judge the duration
    read_error: str | None = None
    seen = 0  # video packets in the file, hidden ones included (stream.frames counts them)
    first_frame: Any = None
    decode_error: BaseException | None = None
    packets = container.demux()
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except Exception as exc:  # a read error: the file ends here
            read_error = _detail(exc)
            break
        if packet.stream.index != stream.index:
            if packet.pts is not None and packet.time_base is not None:
                end = (packet.pts + (packet.duration or 0)) * packet.time_base
                other_end = max(other_end, float(end))
            continue
        if packet.size == 0:
            continue
        seen += 1
        if packet.is_discard:  # an edit list hides it: the decoder drops its frame
            continue
        pts = packet.pts if packet.pts is not None else packet.dts
        records.append(
            (pts, packet.duration or 0, packet.is_keyframe, packet.is_corrupt, packet.pos)
        )
        if first_frame is None:
            try:
                frames = context.decode(packet)
            except Exception as exc:  # keep trying: decoders may need a key frame first
                decode_error = exc
            else:
                if frames:
                    first_frame = frames[0]
    if first_frame is None and records:
        try:
            frames = context.decode(None)
        except Exception as exc:
            decode_error = exc
        else:
            if frames:
                first_frame = frames[0]
    if not records:
        raise _error(name, "its video stream holds no frames", "pass a file with video")
    if first_frame is None:
        detail = f" (FFmpeg: {_detail(decode_error)})" if decode_error is not None else ""
        raise _error(
            name,
            f"no frame of its {codec} video stream can be decoded{detail}",
            "copy the file again, or re-encode it to H.264 MP4",
        )

    # A partial last packet of a cut file decodes to a half-grey frame: leave it out.
    partial_tail = False
    end_pos: int | None = None
    while len(records) > 1 and records[-1][3]:
        end_pos = records.pop()[4]
        partial_tail = True
    if end_pos is not None and end_pos < 0:
        end_pos = None
    declared = int(stream.frames or 0)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    pts_known = all(r[0] is not None for r in records)
    leading = False
    if pts_known:
        highest_key: int | None = None
        for pts, _, key, _, _ in records:
            assert pts is not None
            if key:
                highest_key = pts if highest_key is None else max(highest_key, pts)
            elif highest_key is not None and pts < highest_key:
                leading = True
                break
        all_pts = sorted(int(r[0]) for r in records)  # type: ignore[arg-type]
        # Frames before the first one the decoder gives (no key frame yet) do not exist.
        first_pts = first_frame.pts
        if first_pts is not None and int(first_pts) in set(all_pts):
            all_pts = [p for p in all_pts if p >= int(first_pts)]
        pts_array = np.asarray(all_pts, dtype=np.int64)
        origin = int(pts_array[0])
        video_start = float(origin * time_base)
        # (p * num) / den: an exact integer product, then one correctly rounded division,
        # so that frame k of a 25 fps video is at exactly k / 25 (as the sampling targets).
        scaled = (pts_array - origin) * time_base.numerator
        times = scaled.astype(np.float64) / float(time_base.denominator)
        if len(set(all_pts)) != len(all_pts):  # broken timestamps: count frames instead
            pts_array_or_none: np.ndarray | None = None
        else:
            pts_array_or_none = pts_array
        durations = {int(r[0]): r[1] for r in records}  # type: ignore[arg-type]
        last_duration = durations.get(int(pts_array[-1]), 0)
        end_exact: Fraction | None = (int(pts_array[-1]) - origin + last_duration) * time_base
    else:
        if not rate:
            rate = Fraction(25)
        times = np.arange(len(records), dtype=np.float64) / float(rate)
        pts_array_or_none = None
        last_duration = 0
        end_exact = None
        video_start = 0.0
    count = len(times)

    fps = _native_fps(times, rate)
    if end_exact is not None and last_duration > 0:
        duration = float(end_exact)
    else:
        duration = float(times[-1]) + 1.0 / fps

    first_image = first_frame.to_ndarray(format="rgb24")
    try:
        rotation = int(first_frame.rotation or 0)
    except (AttributeError, TypeError, ValueError):
        rotation = 0
    quarter_turns = round(rotation / 90) % 4
    height, width = first_image.shape[:2]
    if quarter_turns % 2:
        height, width = width, height

    stopped_early = None
    cut = read_error is not None or partial_tail or declared > seen
    declared_duration = (
        container.duration / 1e6 if container.duration and container.duration > 0 else None
    )
    # What the packets cover, on the container's clock (which starts at start_time).
    start = container.start_time / 1e6 if container.start_time is not None else 0.0
    covered = max(video_start + duration, other_end) - start
    # Container durations of MPEG streams are guessed from the bit rate: not evidence.
    if (
        declared_duration is not None
        and container.format.name not in ("mpegts", "mpeg", "mpegvideo")
        and declared_duration > covered + max(0.5, 2.0 / fps)
    ):
        cut = True
    if cut:
        if declared > seen:
            total = f" of {declared}"
        elif declared_duration is not None and declared_duration > duration:
            total = f" of about {declared_duration:.2f} s"
        else:
            total = ""
        stopped_early = (
            f"decoding stopped at frame {count} ({duration:.2f} s){total}; the rest of "
            f"'{_printable(name)}' is missing or damaged"
        )
        log.warning("Video '%s': %s.", _printable(name), stopped_early)

    info = VideoInfo(
        source=name,
        fps=fps,
        frame_count=count,
        duration_s=duration,
        width=width,
        height=height,
        backend="pyav",
    )
    return _FileProbe(
        path=path,
        name=name,
        info=info,
        times=times,
        pts=pts_array_or_none,
        first_frame=first_image,
        container_format=str(container.format.name),
        codec=codec,
        leading_frames=leading,
        stopped_early=stopped_early,
        quarter_turns=quarter_turns,
        end_pos=end_pos,
        # AVI has no presentation times: FFmpeg numbers its packets in file order, so
        # with B-frames a decoded frame's timestamp is not its place in time.
        pts_in_order=str(container.format.name) != "avi" or not context.has_b_frames,
    )


def _native_fps(times: np.ndarray, rate: Fraction | None) -> float:
    """Frames per second from the timestamps, preferring the container's exact rate."""
    span = float(times[-1] - times[0]) if len(times) > 1 else 0.0
    measured = (len(times) - 1) / span if span > 0 else None
    if rate:
        declared = float(rate)
        if measured is None or abs(declared - measured) <= 1e-3 * measured:
            return declared
    if measured is not None:
        return measured
    return 25.0  # no rate anywhere: the common PAL rate, for a one-frame file


def _decord_threads() -> int:
    """Decoder threads for decord: the cores, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def _decord_source(probe: _FileProbe, *, forced: bool) -> _DecordSource | None:
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

        reader = decord.VideoReader(probe.path, ctx=decord.cpu(0), num_threads=_decord_threads())
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
        log.log(level, "Not using decord for '%s': %s.", probe.name, _detail(exc))
        return None
    return _DecordSource(reader, probe)


# --------------------------------------------------------------------------- opening


def _open_folder(folder: Path, name: str, frames_fps: float | None) -> VideoReader:
    """A reader over a folder of frame images."""
    if frames_fps is None:
        raise _error(
            name,
            "it is a folder",
            "pass the frame rate of its images with frames_fps (the CLI's --frames-fps) "
            "to read them as the frames of a video",
        )
    paths = iter_image_paths([folder], recursive=False)
    if not paths:
        suffixes = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise _error(
            name,
            f"the folder holds no frame images ({suffixes})",
            "pass a folder of frames or a video file",
        )
    first = image_to_array(load_image(paths[0]))
    height, width = first.shape[:2]
    count = len(paths)
    times = np.arange(count, dtype=np.float64) / frames_fps
    info = VideoInfo(
        source=name,
        fps=frames_fps,
        frame_count=count,
        duration_s=count / frames_fps,
        width=width,
        height=height,
        backend="frames",
    )
    return VideoReader(info, times, _FolderSource(paths, name, height, width))


def open_video(
    source: str | os.PathLike[str],
    *,
    frames_fps: float | None = None,
    backend: Backend = "auto",
) -> VideoReader:
    """Open a video file, or a folder of frames, for streaming.

    Args:
        source: A video file, or a folder whose image files (natural order, not
            recursive) are the frames.
        frames_fps: Frame rate of a frame folder (needed for folders; ignored for files).
            Frame ``i`` is at ``i / frames_fps`` seconds.
        backend: ``"auto"`` (PyAV: bounded memory on long videos), ``"pyav"``,
            or ``"decord"`` (whenever decord agrees with the probe, whatever the format).

    Returns:
        The reader; use it as a context manager, or call :meth:`VideoReader.close`.

    Raises:
        InputError: When the source is missing, a folder without ``frames_fps`` or
            without images, or a file that is not a readable video (one sentence naming
            the file, what is wrong and what to do).
        ConfigError: When ``frames_fps`` or ``backend`` is out of range.
    """
    text = os.fsdecode(os.fspath(source))
    frames_fps = _check_fps(frames_fps, "frames_fps", allow_none=True)
    if backend not in ("auto", "decord", "pyav"):
        raise ConfigError(f"backend must be 'auto', 'decord' or 'pyav', not {backend!r}.")
    path = Path(text)
    if not text or not path.exists():
        what = "is a broken symbolic link" if text and path.is_symlink() else "does not exist"
        raise InputError(
            f"Cannot find video '{_printable(text)}': it {what}; check the path and its spelling."
        )
    if path.is_dir():
        return _open_folder(path, text, frames_fps)
    probe = _probe_file(path, text)
    source: _Source | None = None
    # "auto" decodes with PyAV: decord 0.6 keeps decoding ahead to the end of the file
    # after every get_batch and queues RGB frames, so memory grows with the video's length
    # (bench/bench_video.py: peak RSS 2.4x for 5 min vs 30 s with decord, 1.005x with
    # PyAV, which also used less CPU). decord stays available on request.
    if backend == "decord":
        source = _decord_source(probe, forced=True)
    if source is None:
        source = _PyAVSource(probe)
    info = replace(probe.info, backend=source.name)
    return VideoReader(info, probe.times, source, probe=probe, stopped_early=probe.stopped_early)


def probe_video(source: str | os.PathLike[str], *, frames_fps: float | None = None) -> VideoInfo:
    """Return a video's metadata (the :attr:`VideoReader.info` of :func:`open_video`).

    Args:
        source: A video file or a frame folder.
        frames_fps: Frame rate of a frame folder.

    Returns:
        The metadata.

    Raises:
        InputError: As :func:`open_video`.
    """
    with open_video(source, frames_fps=frames_fps) as reader:
        return reader.info


# --------------------------------------------------------------------------- segments


def segments_for(
    info: VideoInfo, segment_seconds: float, *, timestamps: np.ndarray | None = None
) -> list[Segment]:
    """Cut a video into fixed-length segments covering ``[0, duration)``.

    Segment ``k`` spans ``[k * segment_seconds, (k + 1) * segment_seconds)`` (the last one
    ends at the duration, so it may be shorter) and holds the frames whose timestamp falls
    inside, as the index range ``[start_frame, end_frame)``. Without ``timestamps``,
    frame ``i`` is taken to be at ``i / fps``.

    Args:
        info: The video's metadata.
        segment_seconds: Length of a segment in seconds.
        timestamps: The frames' times (:meth:`VideoReader.timestamps`), for a variable
            frame rate.

    Returns:
        The segments, in order, with ``score`` None.

    Raises:
        ConfigError: When ``segment_seconds`` is not a positive number.
    """
    if (
        isinstance(segment_seconds, bool)
        or not isinstance(segment_seconds, numbers.Real)
        or not (math.isfinite(float(segment_seconds)) and segment_seconds > 0)
    ):
        raise ConfigError(
            f"segment_seconds must be a positive number of seconds, not {segment_seconds!r}; "
            "pass e.g. 4."
        )
    seconds = float(segment_seconds)
    duration = float(info.duration_s)
    count = max(1, math.ceil(duration / seconds - _TIME_EPS))
    if timestamps is None:
        times = np.arange(info.frame_count, dtype=np.float64) / info.fps
    else:
        times = np.asarray(timestamps, dtype=np.float64)
    segments = []
    for k in range(count):
        start = k * seconds
        end = min((k + 1) * seconds, duration) if k < count - 1 else duration
        first = int(np.searchsorted(times, start - _TIME_EPS, side="left"))
        last = (
            len(times)
            if k == count - 1
            else int(np.searchsorted(times, end - _TIME_EPS, side="left"))
        )
        segments.append(
            Segment(index=k, start_s=start, end_s=end, start_frame=first, end_frame=last)
        )
    return segments


# --------------------------------------------------------------------------- prefetch

_ITEM, _DONE, _FAILED = 0, 1, 2
_PUT_WAIT_S = 0.05
_JOIN_WAIT_S = 10.0


def prefetch(items: Iterable[T], *, maxsize: int = 8) -> Iterator[T]:
    """Run an iterable on a background thread, ``maxsize`` items ahead of the consumer.

    Decoding then overlaps the consumer's own work (embedding, scoring). Items arrive in
    order; an exception raised by the producer is raised in the consumer, with its
    traceback. The thread starts at the first ``next()``; when the consumer stops early
    (``close()``, ``break`` out of a ``for`` loop that owns the iterator, or garbage
    collection), the producer stops at its next item and closes ``items`` when it is a
    generator, so no thread is left running.

    Args:
        items: Any iterable, e.g. :meth:`VideoReader.iter_frames`.
        maxsize: Items buffered at most (bounds memory).

    Returns:
        An iterator over the same items.

    Raises:
        ConfigError: When ``maxsize`` is not a positive integer.
    """
    if isinstance(maxsize, bool) or not isinstance(maxsize, numbers.Integral) or maxsize < 1:
        raise ConfigError(f"maxsize must be a positive whole number, not {maxsize!r}.")
    return _prefetched(items, int(maxsize))


def _prefetched(items: Iterable[T], maxsize: int) -> Iterator[T]:
    buffer: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize)
    stop = threading.Event()

    def put(kind: int, value: Any) -> bool:
        while not stop.is_set():
            try:
                buffer.put((kind, value), timeout=_PUT_WAIT_S)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put(_ITEM, item):
                    return
            put(_DONE, None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(_FAILED, exc)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:  # nobody is left to receive it
                    log.debug("Closing the prefetched iterable failed: %s", _detail(exc))

    thread = threading.Thread(target=produce, name="vlad-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = buffer.get()
            if kind == _ITEM:
                yield value
            elif kind == _DONE:
                return
            else:
                raise value
    finally:
        stop.set()
        thread.join(_JOIN_WAIT_S)
