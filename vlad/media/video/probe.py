"""Probing: what a video file or frame folder holds, learned before any pixel is decoded.

Files are always probed with PyAV first: that is where every unreadable input (empty
file, text named ``.mp4``, audio only, unsupported codec, MP4 cut before its index) is
turned into an :class:`~vlad.errors.InputError` of one sentence, before any decoder sees
the file. The probe reads every packet header once (not the pixels), which gives exact
timestamps, the number of frames really present and whether the file was cut short.

A frame folder is probed by listing its images (natural order) and reading the first one.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vlad.errors import ConfigError, InputError
from vlad.media.image import IMAGE_EXTENSIONS, image_to_array, iter_image_paths, load_image
from vlad.media.video.errors import (
    decoder_detail,
    open_failure,
    printable,
    video_error,
    warn_once,
)
from vlad.media.video.records import VideoInfo

__all__ = [
    "FileProbe",
    "FolderProbe",
    "check_fps",
    "check_source",
    "probe_file",
    "probe_folder",
    "probe_video",
    "video_stream_position",
]

log = logging.getLogger(__name__)


def check_fps(value: float | None, what: str, *, allow_none: bool, param: str) -> float | None:
    """Return ``value`` as a positive finite float (or None when allowed).

    Raises:
        ConfigError: Naming ``what`` (the parameter ``param``) when the value is not a
            positive finite number.
    """
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not (math.isfinite(float(value)) and float(value) > 0)
    ):
        raise ConfigError(
            f"{what} must be a positive number of frames per second, not {value!r}; "
            "pass e.g. 1 or 25.",
            param=param,
        )
    return float(value)


@dataclass
class FileProbe:
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


def video_stream_position(container: Any) -> int:
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


def probe_file(path: Path, name: str) -> FileProbe:
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
        raise video_error(
            name, f"it cannot be opened ({decoder_detail(exc)})", "check its permissions"
        ) from exc
    if size == 0:
        raise video_error(name, "the file is empty (0 bytes)", "copy or download it again")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except Exception as exc:  # FFmpeg raises many types here; each becomes one sentence
        raise open_failure(name, head, exc) from exc
    with container:
        return _probe_container(container, str(path), name)


def _probe_container(container: Any, path: str, name: str) -> FileProbe:
    """The body of :func:`probe_file` once the container is open."""
    position = video_stream_position(container)
    if position < 0:
        if container.streams.video:
            problem = "it has no video stream, only a cover picture"
        elif container.streams.audio:
            problem = "it has no video stream (audio only)"
        else:
            problem = "it has no video stream"
        raise video_error(name, problem, "pass a file with video")
    stream = container.streams.video[position]
    context = stream.codec_context
    if context is None:
        raise video_error(
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
            read_error = decoder_detail(exc)
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
        raise video_error(name, "its video stream holds no frames", "pass a file with video")
    if first_frame is None:
        detail = f" (FFmpeg: {decoder_detail(decode_error)})" if decode_error is not None else ""
        raise video_error(
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
            f"'{printable(name)}' is missing or damaged"
        )
        warn_once(log, path, f"Video '{printable(name)}': {stopped_early}.")

    info = VideoInfo(
        source=name,
        fps=fps,
        frame_count=count,
        duration_s=duration,
        width=width,
        height=height,
        backend="pyav",
    )
    return FileProbe(
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


@dataclass
class FolderProbe:
    """What listing a frame folder learned: its images, in order, and the video they make."""

    info: VideoInfo
    times: np.ndarray  # (frame_count,) float64: frame i at i / fps
    paths: list[Path]


def check_source(source: str | os.PathLike[str]) -> tuple[Path, str]:
    """Check that a video source exists.

    Args:
        source: A video file or a frame folder.

    Returns:
        ``(path, name)``: the path, and the source as given (for messages).

    Raises:
        InputError: When the source is missing or a broken symbolic link.
    """
    text = os.fsdecode(os.fspath(source))
    path = Path(text)
    if not text or not path.exists():
        what = "is a broken symbolic link" if text and path.is_symlink() else "does not exist"
        raise InputError(
            f"Cannot find video '{printable(text)}': it {what}; check the path and its spelling."
        )
    return path, text


def probe_folder(folder: Path, name: str, frames_fps: float | None) -> FolderProbe:
    """List a folder of frame images and read the first one.

    Args:
        folder: The folder.
        name: The source as given, for messages.
        frames_fps: The frame rate of its images (checked already); None is an error.

    Returns:
        The folder's frames and metadata (``backend="frames"``).

    Raises:
        InputError: Without ``frames_fps``, or when the folder holds no image.
    """
    if frames_fps is None:
        raise video_error(
            name,
            "it is a folder",
            "pass the frame rate of its images as frames_fps to read them as the frames of a video",
            param="frames_fps",
        )
    paths = iter_image_paths([folder], recursive=False)
    if not paths:
        suffixes = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise video_error(
            name,
            f"the folder holds no frame images ({suffixes})",
            "pass a folder of frames or a video file",
        )
    first = image_to_array(load_image(paths[0]))
    height, width = first.shape[:2]
    count = len(paths)
    info = VideoInfo(
        source=name,
        fps=frames_fps,
        frame_count=count,
        duration_s=count / frames_fps,
        width=width,
        height=height,
        backend="frames",
    )
    return FolderProbe(info, np.arange(count, dtype=np.float64) / frames_fps, paths)


def probe_video(source: str | os.PathLike[str], *, frames_fps: float | None = None) -> VideoInfo:
    """Return a video's metadata (the :attr:`VideoReader.info` of :func:`open_video`).

    Args:
        source: A video file or a frame folder.
        frames_fps: Frame rate of a frame folder.

    Returns:
        The metadata (``backend`` is ``"pyav"`` for a file, ``"frames"`` for a folder).

    Raises:
        InputError: As :func:`open_video`.
        ConfigError: When ``frames_fps`` is not a positive number.
    """
    frames_fps = check_fps(frames_fps, "frames_fps", allow_none=True, param="frames_fps")
    path, name = check_source(source)
    if path.is_dir():
        return probe_folder(path, name, frames_fps).info
    return probe_file(path, name).info
