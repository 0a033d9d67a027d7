"""Tests of vlad.media.video: every video is written here, tiny, with the bundled ffmpeg or PyAV."""

from __future__ import annotations

import logging
import math
import subprocess
import tracemalloc
import weakref
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tests.videos import (
    ffmpeg_exe,
    frame_number,
    moving_square_frames,
    truncate,
    write_audio_only,
    write_frame_folder,
    write_vfr_video,
    write_video,
)
from vlad.errors import ConfigError, InputError
from vlad.media.segments import segments_for
from vlad.media.video import (
    VIDEO_EXTENSIONS,
    Frame,
    VideoInfo,
    is_video_path,
    open_video,
    prefetch,
    probe_video,
)

N = 50  # frames in the standard test videos: 2 s at 25 fps
FPS = 25
RAW_RGB = ("-f", "rawvideo", "-pix_fmt", "rgb24")
VFR_TIMES = [0.0, 0.04, 0.08, 0.5, 0.54, 0.58, 1.2, 1.24, 1.28, 1.32, 2.0, 2.04]


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return moving_square_frames(N)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory, frames: list[np.ndarray]) -> dict[str, Path]:
    """The shared test videos (about 1 s to write them all)."""
    folder = tmp_path_factory.mktemp("videos")
    out = {
        "h264.mp4": write_video(folder / "h264.mp4", frames, FPS, "libx264"),
        "h264.mkv": write_video(folder / "h264.mkv", frames, FPS, "libx264"),
        # MPEG-4 part 2 with B-frames and short GOPs: decord returns wrong frames here.
        "mpeg4.avi": write_video(
            folder / "mpeg4.avi", frames, FPS, "mpeg4", extra_args=("-bf", "2", "-g", "10")
        ),
        "mpeg4.mp4": write_video(folder / "mpeg4.mp4", frames, FPS, "mpeg4"),
        "mjpeg.avi": write_video(folder / "mjpeg.avi", frames, FPS, "mjpeg"),
        "vfr.mkv": write_vfr_video(
            folder / "vfr.mkv", moving_square_frames(len(VFR_TIMES)), VFR_TIMES
        ),
    }
    return out


def numbers(items: list[Frame]) -> list[int]:
    return [frame_number(f.image) for f in items]


def assert_one_line(exc: pytest.ExceptionInfo[InputError], name: str) -> None:
    text = str(exc.value)
    assert "\n" not in text and text.endswith(".")
    assert f"'{name}'" in text


# ----------------------------------------------------------------------------- helpers


def test_frame_numbers_survive_compression(videos: dict[str, Path]) -> None:
    container = av.open(str(videos["mjpeg.avi"]))
    decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    container.close()
    assert [frame_number(f) for f in decoded] == list(range(N))


def test_is_video_path() -> None:
    assert is_video_path("clip.MP4") and is_video_path(Path("a/b.mkv")) and is_video_path("x.ts")
    assert not is_video_path("frame.jpg") and not is_video_path("video") and not is_video_path("")
    assert {".mp4", ".avi", ".mkv", ".mov", ".webm", ".ogv", ".3gp"} <= VIDEO_EXTENSIONS
    assert all(ext == ext.lower() and ext.startswith(".") for ext in VIDEO_EXTENSIONS)


# ----------------------------------------------------------------------------- metadata


@pytest.mark.parametrize(
    ("name", "backend"),
    [
        # "auto" decodes with PyAV (decord's read-ahead makes memory grow with length)
        ("h264.mp4", "pyav"),
        ("h264.mkv", "pyav"),
        ("mpeg4.avi", "pyav"),
        ("mpeg4.mp4", "pyav"),
        ("mjpeg.avi", "pyav"),
    ],
)
def test_metadata(videos: dict[str, Path], name: str, backend: str) -> None:
    info = probe_video(videos[name])
    assert info == VideoInfo(
        source=str(videos[name]),
        fps=25.0,
        frame_count=N,
        duration_s=2.0,
        width=64,
        height=48,
        backend=backend,
    )
    assert info.to_record()["frame_count"] == N


@pytest.mark.parametrize("name", ["h264.mp4", "h264.mkv", "mpeg4.avi", "mjpeg.avi"])
def test_timestamps_are_exact_for_constant_frame_rate(videos: dict[str, Path], name: str) -> None:
    with open_video(videos[name]) as reader:
        stamps = reader.timestamps()
    np.testing.assert_array_equal(stamps, np.arange(N) / FPS)


# ----------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("fps", [1, 2.5, 5, 7, 10, 24.9, 25, 100])
def test_sample_indices_constant_frame_rate(videos: dict[str, Path], fps: float) -> None:
    with open_video(videos["h264.mp4"]) as reader:
        indices = reader.sample_indices(fps)
    # Target k / fps < 2 s; the frame shown then is floor(k * 25 / fps) (exact arithmetic).
    targets = [k for k in range(1000) if k / fps < 2.0 - 1e-9]
    expected = sorted({min(N - 1, math.floor(k * 25 / fps + 1e-9)) for k in targets})
    assert indices.tolist() == expected
    assert indices.dtype == np.int64 and indices[0] == 0


def test_sample_indices_every_frame_and_bad_rates(videos: dict[str, Path]) -> None:
    with open_video(videos["h264.mp4"]) as reader:
        assert reader.sample_indices(None).tolist() == list(range(N))
        assert reader.sample_indices(5).tolist() == list(range(0, N, 5))
        for bad in (0, -1, float("nan"), float("inf"), True, "2"):
            with pytest.raises(ConfigError, match="positive number"):
                reader.sample_indices(bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="chunk"):
            reader.iter_frames(1, chunk=0)


@pytest.mark.parametrize("name", ["h264.mp4", "h264.mkv", "mpeg4.avi", "mpeg4.mp4", "mjpeg.avi"])
@pytest.mark.parametrize("fps", [None, 7, 2])
def test_iter_frames_returns_the_right_frames(
    videos: dict[str, Path], name: str, fps: float | None
) -> None:
    with open_video(videos[name]) as reader:
        expected = reader.sample_indices(fps).tolist()
        got = list(reader.iter_frames(fps))
        assert reader.stopped_early is None
    assert [f.index for f in got] == expected
    assert numbers(got) == expected
    assert [f.time_s for f in got] == [i / FPS for i in expected]
    assert all(f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 for f in got)


@pytest.mark.parametrize("name", ["h264.mp4", "mpeg4.avi"])
def test_chunk_size_does_not_change_results(videos: dict[str, Path], name: str) -> None:
    results = []
    for chunk in (1, 3, 16, 1000):
        with open_video(videos[name]) as reader:
            results.append(list(reader.iter_frames(9, chunk=chunk)))
    for other in results[1:]:
        assert [f.index for f in other] == [f.index for f in results[0]]
        for a, b in zip(other, results[0], strict=True):
            np.testing.assert_array_equal(a.image, b.image)


@pytest.mark.parametrize("name", ["h264.mp4", "h264.mkv", "mpeg4.avi", "mjpeg.avi"])
@pytest.mark.parametrize("backend", ["auto", "pyav"])
def test_read_frame_random_access(videos: dict[str, Path], name: str, backend: str) -> None:
    order = [37, 3, 49, 0, 21, 20, 44, 10]
    with open_video(videos[name], backend=backend) as reader:  # type: ignore[arg-type]
        got = [reader.read_frame(i) for i in order]
        with pytest.raises(IndexError):
            reader.read_frame(N)
        with pytest.raises(IndexError):
            reader.read_frame(-1)
    assert numbers(got) == order
    assert [f.index for f in got] == order
    assert [f.time_s for f in got] == [i / FPS for i in order]
    with pytest.raises(ValueError, match="closed"):
        reader.read_frame(0)


def test_variable_frame_rate(videos: dict[str, Path]) -> None:
    path = videos["vfr.mkv"]
    # The writer really made uneven timestamps.
    container = av.open(str(path))
    stream = container.streams.video[0]
    pts = [float(p.pts * stream.time_base) for p in container.demux(stream) if p.size]
    container.close()
    assert len(set(np.round(np.diff(pts), 6))) > 2
    for backend in ("auto", "pyav"):
        with open_video(path, backend=backend) as reader:  # type: ignore[arg-type]
            np.testing.assert_allclose(reader.timestamps(), VFR_TIMES, atol=1e-9)
            assert reader.info.frame_count == len(VFR_TIMES)
            assert reader.info.fps == pytest.approx(11 / 2.04)
            # Targets 0, 0.5, 1.0, 1.5, 2.0 s: the frames shown then.
            assert reader.sample_indices(2).tolist() == [0, 3, 5, 9, 10]
            got = list(reader.iter_frames(2))
            assert numbers(got) == [0, 3, 5, 9, 10]
            assert [f.time_s for f in got] == pytest.approx([0, 0.5, 0.58, 1.32, 2.0])
            assert frame_number(reader.read_frame(7).image) == 7


def test_decord_and_pyav_agree(videos: dict[str, Path]) -> None:
    for name in ("h264.mp4", "h264.mkv", "mjpeg.avi", "vfr.mkv"):
        with open_video(videos[name], backend="decord") as fast:
            a = list(fast.iter_frames(6))
            assert fast.info.backend == "decord"
            fast_info = fast.info
        with open_video(videos[name], backend="pyav") as slow:
            b = list(slow.iter_frames(6))
            assert slow.info.backend == "pyav"
        assert fast_info == VideoInfo(**{**slow.info.__dict__, "backend": "decord"})
        assert [(f.index, f.time_s) for f in a] == [(f.index, f.time_s) for f in b]
        for x, y in zip(a, b, strict=True):
            assert np.abs(x.image.astype(int) - y.image).max() <= 2


def test_open_gop_uses_pyav(tmp_path: Path, frames: list[np.ndarray]) -> None:
    # decord returns wrong frames after a seek into an open GOP; vlad must not use it.
    path = write_video(
        tmp_path / "opengop.mp4",
        moving_square_frames(60),
        FPS,
        "libx264",
        extra_args=("-g", "30", "-bf", "3", "-x264-params", "open-gop=1"),
    )
    with open_video(path) as reader:
        assert reader.info.backend == "pyav"
        got = list(reader.iter_frames(3.3))
        assert numbers(got) == [f.index for f in got] == reader.sample_indices(3.3).tolist()
        assert frame_number(reader.read_frame(41).image) == 41


# ----------------------------------------------------------------------------- shapes


def test_one_frame_video(tmp_path: Path) -> None:
    path = write_video(tmp_path / "one.mp4", moving_square_frames(1), FPS, "libx264")
    with open_video(path) as reader:
        assert reader.info.frame_count == 1
        assert reader.info.fps == 25.0
        assert reader.info.duration_s == pytest.approx(0.04)
        assert reader.sample_indices(1).tolist() == [0]
        assert reader.sample_indices(1000).tolist() == [0]
        (frame,) = list(reader.iter_frames(1))
        assert (frame.index, frame.time_s, frame_number(frame.image)) == (0, 0.0, 0)
        assert frame_number(reader.read_frame(0).image) == 0
    assert len(segments_for(reader.info, 4)) == 1


@pytest.mark.parametrize(
    ("codec", "suffix", "pix_fmt"),
    [("mjpeg", ".avi", None), ("mpeg4", ".avi", None), ("libx264", ".mkv", "yuv444p")],
)
def test_odd_size(tmp_path: Path, codec: str, suffix: str, pix_fmt: str | None) -> None:
    # H.264 in yuv420p refuses odd sizes; MJPEG, MPEG-4 part 2 and 4:4:4 H.264 take them.
    source = moving_square_frames(6, height=17, width=33)
    path = write_video(tmp_path / f"odd{suffix}", source, FPS, codec, pix_fmt=pix_fmt)
    with open_video(path) as reader:
        assert (reader.info.height, reader.info.width) == (17, 33)
        assert reader.info.backend == "pyav"  # decord shifts the colours of odd heights
        got = list(reader.iter_frames())
    assert [f.image.shape for f in got] == [(17, 33, 3)] * 6
    assert numbers(got) == list(range(6))
    for frame, original in zip(got, source, strict=True):
        assert np.abs(frame.image.astype(int) - original).mean() < 12


def test_width_that_decord_gets_wrong_falls_back_to_pyav(tmp_path: Path) -> None:
    # decord 0.6 returns (24, 48, 4) arrays for this size; the agreement check catches it.
    source = moving_square_frames(5, height=24, width=48)
    path = write_video(tmp_path / "w48.mp4", source, FPS, "libx264")
    with open_video(path) as reader:
        assert reader.info.backend == "pyav"
        got = list(reader.iter_frames())
    assert [f.image.shape for f in got] == [(24, 48, 3)] * 5
    assert numbers(got) == list(range(5))


def test_rotated_video_is_turned_upright(tmp_path: Path) -> None:
    plain = write_video(tmp_path / "plain.mp4", moving_square_frames(3), FPS, "libx264")
    rotated = tmp_path / "rotated.mp4"
    command = [ffmpeg_exe(), "-loglevel", "error", "-display_rotation", "90", "-i", str(plain)]
    subprocess.run([*command, "-c", "copy", str(rotated)], check=True)
    upright = subprocess.run(
        [*command[:3], "-i", str(rotated), "-frames:v", "1", *RAW_RGB, "-"],
        capture_output=True,
        check=True,
    ).stdout  # ffmpeg itself applies the rotation
    with open_video(rotated) as reader:
        assert (reader.info.width, reader.info.height) == (48, 64)
        image = reader.read_frame(0).image
    assert image.shape == (64, 48, 3)
    expected = np.frombuffer(upright, np.uint8).reshape(64, 48, 3)
    assert np.abs(image.astype(int) - expected).mean() < 2


# ----------------------------------------------------------------------------- folders


def test_frame_folder(tmp_path: Path, frames: list[np.ndarray]) -> None:
    folder = write_frame_folder(tmp_path / "01", frames[:12], suffix=".png")
    (folder / "notes.txt").write_text("not a frame")
    with open_video(folder, frames_fps=10) as reader:
        assert reader.info == VideoInfo(str(folder), 10.0, 12, 1.2, 64, 48, "frames")
        np.testing.assert_array_equal(reader.timestamps(), np.arange(12) / 10)
        got = list(reader.iter_frames(5))
        assert [f.index for f in got] == [0, 2, 4, 6, 8, 10]
        assert [f.time_s for f in got] == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
        for frame in got:
            np.testing.assert_array_equal(frame.image, frames[frame.index])  # PNG: lossless
        np.testing.assert_array_equal(reader.read_frame(7).image, frames[7])


def test_frame_folder_natural_order_and_jpeg(tmp_path: Path, frames: list[np.ndarray]) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(12):  # 1.jpg ... 12.jpg: "10" must come after "9"
        Image.fromarray(frames[i]).save(folder / f"{i + 1}.jpg", quality=95)
    with open_video(folder, frames_fps=25) as reader:
        assert numbers(list(reader.iter_frames())) == list(range(12))


def test_frame_folder_odd_frame_is_resized(
    tmp_path: Path, frames: list[np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    folder = write_frame_folder(tmp_path / "f", frames[:4], suffix=".png")
    Image.fromarray(frames[2]).resize((80, 60)).save(folder / "002.png")
    with (
        caplog.at_level(logging.WARNING, logger="vlad.media.video"),
        open_video(folder, frames_fps=25) as reader,
    ):
        got = list(reader.iter_frames())
    assert [f.image.shape for f in got] == [(48, 64, 3)] * 4
    assert numbers(got) == [0, 1, 2, 3]
    assert "is 80x60, not 64x48" in caplog.text


def test_frame_folder_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no frames here")
    with pytest.raises(InputError, match="holds no frame images") as exc:
        open_video(empty, frames_fps=25)
    assert_one_line(exc, str(empty))
    with pytest.raises(
        InputError, match=r"it is a folder; pass the frame rate .*frames_fps"
    ) as exc:
        open_video(empty)
    # The library names the parameter; the CLI says --frames-fps.
    assert exc.value.param == "frames_fps"
    assert "--frames-fps" in exc.value.for_surface({"frames_fps": "--frames-fps"})
    with pytest.raises(ConfigError, match="frames_fps"):
        open_video(empty, frames_fps=0)


# ----------------------------------------------------------------------------- streaming


def test_streaming_does_not_accumulate_frames(tmp_path: Path) -> None:
    # 300 frames of 160x120 are 17 MB decoded; the reader must hold only a chunk.
    path = write_video(tmp_path / "long.mp4", moving_square_frames(300, 120, 160), FPS, "libx264")
    for backend in ("auto", "pyav"):
        alive: list[weakref.ref[np.ndarray]] = []
        most_alive = 0
        with open_video(path, backend=backend) as reader:  # type: ignore[arg-type]
            tracemalloc.start()
            count = 0
            for frame in reader.iter_frames(chunk=8):
                assert frame_number(frame.image) == frame.index
                alive.append(weakref.ref(frame.image))
                most_alive = max(most_alive, sum(r() is not None for r in alive[-50:]))
                count += 1
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert count == 300
        assert most_alive <= 2  # the caller's frame (and the previous, being dropped)
        assert peak < 4_000_000, f"{backend}: peak {peak / 1e6:.1f} MB"


# ----------------------------------------------------------------------------- prefetch


def test_prefetch_of_frames_matches_direct(videos: dict[str, Path]) -> None:
    with open_video(videos["h264.mp4"]) as reader:
        direct = [(f.index, f.time_s) for f in reader.iter_frames(5)]
        ahead = [(f.index, f.time_s) for f in prefetch(reader.iter_frames(5), maxsize=2)]
    assert ahead == direct
    with pytest.raises(ConfigError, match="maxsize"):
        prefetch([1], maxsize=0)


# ----------------------------------------------------------------------------- bad inputs


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.mp4"
    with pytest.raises(InputError, match=r"^Cannot find video .*: it does not exist; check") as e:
        open_video(path)
    assert_one_line(e, str(path))


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"the file is empty \(0 bytes\)") as exc:
        open_video(path)
    assert_one_line(exc, str(path))


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"hello, this is not a video\n", "it is a text file, not a video"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n", "Git LFS"),
        (b"<!DOCTYPE html><html><body>404</body></html>", "HTML page"),
        (bytes(range(256)) * 4, "damaged or not a video format FFmpeg can read"),
    ],
)
def test_not_a_video(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(InputError, match=match) as exc:
        open_video(path)
    assert_one_line(exc, str(path))


def test_audio_only(tmp_path: Path) -> None:
    path = write_audio_only(tmp_path / "tone.m4a")
    with pytest.raises(InputError, match=r"no video stream \(audio only\); pass a file with video"):
        open_video(path)


def test_unsupported_codec(tmp_path: Path, videos: dict[str, Path]) -> None:
    data = videos["h264.mkv"].read_bytes()
    assert data.count(b"V_MPEG4/ISO/AVC") == 1
    path = tmp_path / "unknown.mkv"
    path.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_MPEG4/ISO/XYZ"))
    with pytest.raises(InputError, match="video codec is not supported") as exc:
        open_video(path)
    assert_one_line(exc, str(path))


def _scramble(path: Path, out: Path, which: slice) -> Path:
    """Overwrite the payload of some video packets with noise (the index stays valid)."""
    container = av.open(str(path))
    spans = [(p.pos, p.size) for p in container.demux(video=0) if p.size][which]
    container.close()
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    for pos, size in spans:
        data[pos : pos + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    out.write_bytes(bytes(data))
    return out


def test_undecodable_stream(tmp_path: Path, videos: dict[str, Path]) -> None:
    path = _scramble(videos["mjpeg.avi"], tmp_path / "noise.avi", slice(None))
    with pytest.raises(InputError, match="no frame of its mjpeg video stream can be decoded"):
        open_video(path)


@pytest.mark.parametrize("backend", ["auto", "pyav"])
def test_damaged_tail_stops_early(
    tmp_path: Path, videos: dict[str, Path], backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = _scramble(videos["mjpeg.avi"], tmp_path / "tail.avi", slice(30, None))
    with caplog.at_level(logging.WARNING, logger="vlad.media.video"):
        with open_video(path, backend=backend) as reader:  # type: ignore[arg-type]
            assert reader.info.frame_count == N  # the index promises them all
            got = list(reader.iter_frames())
        assert numbers(got) == list(range(30))
        assert reader.stopped_early == (
            f"decoding stopped at frame 30 (1.20 s) of {N}; the rest of '{path}' is damaged"
        )
        assert reader.info.frame_count == 30
        assert reader.info.backend == "pyav"  # decord, if used, failed and handed over
    assert "decoding stopped at frame 30" in caplog.text


def test_one_damaged_frame_is_skipped(
    tmp_path: Path, videos: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    path = _scramble(videos["mjpeg.avi"], tmp_path / "hole.avi", slice(10, 11))
    with caplog.at_level(logging.WARNING, logger="vlad.media.video"), open_video(path) as reader:
        got = list(reader.iter_frames())
        assert reader.stopped_early is None
        with pytest.raises(InputError, match=r"Cannot read frame 10 \(0.40 s\) of video") as exc:
            reader.read_frame(10)
        assert frame_number(reader.read_frame(11).image) == 11
    assert numbers(got) == [f.index for f in got] == [i for i in range(N) if i != 10]
    assert "1 sampled frame(s) could not be decoded" in caplog.text
    assert_one_line(exc, str(path))


@pytest.mark.parametrize(
    ("name", "total"), [("h264.mkv", "about 2.00 s"), ("mjpeg.avi", "50"), ("mpeg4.avi", "50")]
)
def test_truncated_file_gives_its_readable_part(
    tmp_path: Path, videos: dict[str, Path], name: str, total: str, caplog: pytest.LogCaptureFixture
) -> None:
    # MKV and AVI keep their index at the start: a cut file still opens.
    path = truncate(videos[name], 0.6, tmp_path / f"cut_{name}")
    with caplog.at_level(logging.WARNING, logger="vlad.media.video"), open_video(path) as reader:
        count = reader.info.frame_count
        duration = reader.info.duration_s
        assert 10 < count < N
        assert duration == pytest.approx(reader.timestamps()[-1] + 1 / FPS)
        assert reader.info.backend == "pyav"
        got = list(reader.iter_frames())
        message = reader.stopped_early
    assert [f.index for f in got] == list(range(count))
    # Each frame is the one shown at its time. With B-frames, the cut may take a frame
    # shown before the last one kept (MPEG-4 AVI here): its time is then skipped.
    assert numbers(got) == [round(f.time_s * FPS) for f in got]
    assert numbers(got)[: count - 1] == list(range(count - 1))
    assert message == (
        f"decoding stopped at frame {count} ({duration:.2f} s) of {total}; "
        f"the rest of '{path}' is missing or damaged"
    )
    assert message in caplog.text


def test_longer_audio_is_not_taken_for_a_cut(tmp_path: Path, videos: dict[str, Path]) -> None:
    # The container lasts 3 s (its audio), the video 2 s: nothing is missing.
    path = tmp_path / "with_audio.mkv"
    command = [ffmpeg_exe(), "-loglevel", "error", "-i", str(videos["h264.mkv"])]
    command += ["-f", "lavfi", "-i", "sine=duration=3", "-c:v", "copy", "-c:a", "libopus"]
    subprocess.run([*command, str(path)], check=True)
    with open_video(path, frames_fps=10) as reader:  # frames_fps is for folders only
        assert (reader.info.frame_count, reader.info.fps) == (N, 25.0)
        assert reader.stopped_early is None
        assert numbers(list(reader.iter_frames(5))) == list(range(0, N, 5))


def test_truncated_mp4_is_unreadable(tmp_path: Path, videos: dict[str, Path]) -> None:
    # A plain MP4 keeps its index (moov) at the end: cut, nothing can be found.
    path = truncate(videos["h264.mp4"], 0.6, tmp_path / "cut.mp4")
    with pytest.raises(InputError, match=r"moov atom\) is missing.*cut short") as exc:
        open_video(path)
    assert_one_line(exc, str(path))


def test_truncated_faststart_mp4_gives_its_readable_part(
    tmp_path: Path, frames: list[np.ndarray]
) -> None:
    # With +faststart the index comes first: the frames before the cut can be read.
    whole = write_video(
        tmp_path / "fast.mp4", frames, FPS, "libx264", extra_args=("-movflags", "+faststart")
    )
    path = truncate(whole, 0.6, tmp_path / "cut_fast.mp4")
    with open_video(path) as reader:
        count = reader.info.frame_count
        got = list(reader.iter_frames())
        assert reader.stopped_early is not None
        assert reader.stopped_early.startswith(f"decoding stopped at frame {len(got)} (")
        assert f"of {N}; the rest of '{path}'" in reader.stopped_early
    assert 10 < len(got) <= count < N
    assert numbers(got) == [round(f.time_s * FPS) for f in got]


def test_truncated_mpeg_ts_ends_quietly(tmp_path: Path, frames: list[np.ndarray]) -> None:
    # MPEG-TS has no index and no declared length: a cut stream just ends sooner.
    whole = write_video(tmp_path / "cam.ts", frames, FPS, "libx264")
    path = truncate(whole, 0.6, tmp_path / "cut.ts")
    with open_video(path) as reader:
        got = list(reader.iter_frames())
        assert reader.stopped_early is None
    assert 10 < len(got) < N
    assert numbers(got) == [round(f.time_s * FPS) for f in got]


def test_directory_without_fps_and_bad_backend(tmp_path: Path, videos: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="frames_fps") as exc:
        open_video(tmp_path)
    assert_one_line(exc, str(tmp_path))
    with pytest.raises(ConfigError, match="backend"):
        open_video(videos["h264.mp4"], backend="opencv")  # type: ignore[arg-type]
