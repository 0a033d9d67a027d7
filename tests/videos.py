"""Writers of small synthetic videos for tests.

Every frame made by :func:`moving_square_frames` carries its own number as a row of black
and white cells at the top (see :func:`frame_number`), so a test can tell which frame a
decoder returned even after lossy compression. Videos are written with the ffmpeg binary
bundled with ``imageio-ffmpeg`` (raw RGB piped in), or with PyAV where exact timestamps
are needed (:func:`write_vfr_video`).
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

CODE_BITS = 12
"""Bits of the frame number drawn in every frame (frames 0..4095)."""

# Pixel formats that every player accepts for each encoder; MJPEG wants full-range YUV.
_PIXEL_FORMATS = {"libx264": "yuv420p", "mpeg4": "yuv420p", "mjpeg": "yuvj420p"}
# Near-lossless settings so that the frame-number cells survive at any size.
_QUALITY = {
    "libx264": ("-crf", "12", "-preset", "ultrafast"),
    "mpeg4": ("-q:v", "2"),
    "mjpeg": ("-q:v", "2"),
}


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _cell(height: int, width: int) -> int:
    """Side of one frame-number cell for a frame of this size."""
    return max(2, min(8, width // 8))


def code_rows(height: int, width: int) -> int:
    """Pixel rows at the top of a frame taken by its frame-number cells."""
    cell = _cell(height, width)
    per_row = max(1, width // cell)
    return -(-CODE_BITS // per_row) * cell


def draw_frame_number(image: np.ndarray, number: int) -> None:
    """Draw ``number`` in place as black/white cells (bit 0 first, row-major) at the top."""
    height, width = image.shape[:2]
    cell = _cell(height, width)
    per_row = max(1, width // cell)
    for bit in range(CODE_BITS):
        row, col = divmod(bit, per_row)
        value = 255 if (number >> bit) & 1 else 0
        image[row * cell : (row + 1) * cell, col * cell : (col + 1) * cell] = value


def frame_number(image: np.ndarray) -> int:
    """Read back the number drawn by :func:`draw_frame_number` (after lossy coding too)."""
    height, width = image.shape[:2]
    cell = _cell(height, width)
    per_row = max(1, width // cell)
    number = 0
    margin = cell // 4
    for bit in range(CODE_BITS):
        row, col = divmod(bit, per_row)
        block = image[
            row * cell + margin : (row + 1) * cell - margin,
            col * cell + margin : (col + 1) * cell - margin,
        ]
        if float(block.mean()) > 127.5:
            number |= 1 << bit
    return number


def moving_square_frames(
    n: int, height: int = 48, width: int = 64, *, square: int | None = None, seed: int = 0
) -> list[np.ndarray]:
    """Frames of a bright square moving over a fixed, smooth textured background.

    Args:
        n: Number of frames.
        height: Frame height in pixels (numpy's first axis).
        width: Frame width in pixels.
        square: Side of the square (default: a quarter of the free height, at least 2).
        seed: Seed of the background texture.

    Returns:
        ``n`` uint8 RGB arrays of shape (height, width, 3); frame ``i`` has ``i`` drawn at
        the top (read it with :func:`frame_number`) when the frame is big enough for it.
    """
    rng = np.random.default_rng(seed)
    coarse = rng.integers(40, 200, (height // 8 + 2, width // 8 + 2, 3))
    background = np.kron(coarse, np.ones((8, 8, 1)))[:height, :width].astype(np.uint8)
    top = code_rows(height, width) if height >= 2 * code_rows(height, width) else 0
    free = height - top
    side = square if square is not None else max(2, free // 4)
    side = max(1, min(side, free, width))
    frames = []
    for i in range(n):
        frame = background.copy()
        x = (3 * i) % max(1, width - side + 1)
        y = top + (2 * i) % max(1, free - side + 1)
        frame[y : y + side, x : x + side] = (250, 240, 60)
        if top:
            draw_frame_number(frame, i)
        frames.append(frame)
    return frames


def write_video(
    path: str | os.PathLike[str],
    frames: Sequence[np.ndarray],
    fps: float | str = 25,
    codec: str = "libx264",
    *,
    pix_fmt: str | None = None,
    extra_args: Sequence[str] = (),
) -> Path:
    """Write RGB frames as a constant-frame-rate video with the bundled ffmpeg.

    Args:
        path: Output file; its suffix picks the container (``.mp4``, ``.avi``, ``.mkv``...).
        frames: uint8 (H, W, 3) arrays, all the same size.
        fps: Frame rate, a number or an ffmpeg rational such as ``"30000/1001"``.
        codec: ffmpeg encoder: ``"libx264"``, ``"mpeg4"``, ``"mjpeg"`` or any other.
        pix_fmt: Encoded pixel format (default: the usual one for ``codec``). H.264 in
            ``yuv420p`` needs even sizes; ``yuv444p`` takes odd ones.
        extra_args: More ffmpeg output options (e.g. ``("-movflags", "+faststart")``).

    Returns:
        The path written.
    """
    path = Path(path)
    height, width = frames[0].shape[:2]
    pix_fmt = pix_fmt or _PIXEL_FORMATS.get(codec, "yuv420p")
    command = [
        ffmpeg_exe(), "-y", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps),
        "-i", "-",
        "-c:v", codec, "-pix_fmt", pix_fmt, *_QUALITY.get(codec, ()), *extra_args,
        str(path),
    ]  # fmt: skip
    data = b"".join(np.ascontiguousarray(f, dtype=np.uint8).tobytes() for f in frames)
    done = subprocess.run(command, input=data, capture_output=True, check=False)
    if done.returncode:
        raise RuntimeError(f"ffmpeg failed: {done.stderr.decode(errors='replace').strip()}")
    return path


def write_vfr_video(
    path: str | os.PathLike[str],
    frames: Sequence[np.ndarray],
    times_s: Sequence[float],
    codec: str = "libx264",
) -> Path:
    """Write a variable-frame-rate video: frame ``i`` is shown at ``times_s[i]``.

    Written with PyAV and millisecond timestamps, so use times that are whole milliseconds
    and a container that keeps them (``.mkv`` is safest; ``.mp4`` works too).

    Args:
        path: Output file.
        frames: uint8 (H, W, 3) arrays, all the same size (even sizes for H.264).
        times_s: Increasing presentation time of each frame, the first one 0.
        codec: PyAV encoder name.

    Returns:
        The path written.
    """
    import av

    path = Path(path)
    height, width = frames[0].shape[:2]
    base = Fraction(1, 1000)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=1000)
        stream.width, stream.height = width, height
        stream.pix_fmt = _PIXEL_FORMATS.get(codec, "yuv420p")
        stream.time_base = base
        stream.codec_context.time_base = base
        if codec == "libx264":
            stream.options = {"crf": "12", "preset": "ultrafast"}
        ticks = [round(t * 1000) for t in times_s]
        # Each frame lasts until the next one; the last one as long as the one before it.
        last = ticks[-1] - ticks[-2] if len(ticks) > 1 else 40
        durations = [*(b - a for a, b in itertools.pairwise(ticks)), last]
        for image, pts, duration in zip(frames, ticks, durations, strict=True):
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(image, dtype=np.uint8), format="rgb24"
            )
            frame.pts = pts
            frame.duration = duration
            frame.time_base = base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_audio_only(path: str | os.PathLike[str], seconds: float = 1.0) -> Path:
    """Write a sine tone with no video stream (the suffix picks the container, e.g. .m4a)."""
    path = Path(path)
    command = [
        ffmpeg_exe(), "-y", "-loglevel", "error",
        "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", str(path),
    ]  # fmt: skip
    subprocess.run(command, capture_output=True, check=True)
    return path


def write_frame_folder(
    folder: str | os.PathLike[str],
    frames: Sequence[np.ndarray],
    *,
    suffix: str = ".jpg",
    digits: int = 3,
) -> Path:
    """Save frames as ``000.jpg``, ``001.jpg`` ... (the layout of ShanghaiTech or Avenue).

    Args:
        folder: Folder to create (parents too) and fill.
        frames: uint8 (H, W, 3) arrays.
        suffix: Image suffix (``.png`` for lossless frames).
        digits: Zero padding of the numbers.

    Returns:
        The folder.
    """
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(frames):
        params = {"quality": 95} if suffix.lower() in (".jpg", ".jpeg") else {}
        Image.fromarray(image).save(folder / f"{i:0{digits}d}{suffix}", **params)
    return folder


def truncate(path: str | os.PathLike[str], fraction: float, out: str | os.PathLike[str]) -> Path:
    """Copy the first ``fraction`` of a file's bytes to ``out`` (a download cut short)."""
    data = Path(path).read_bytes()
    out = Path(out)
    out.write_bytes(data[: int(len(data) * fraction)])
    return out
