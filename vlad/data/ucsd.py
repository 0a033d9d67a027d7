"""UCSD Ped2 and CUHK Avenue as frame folders with their ``.mat`` ground truth.

The layout is the one most video-anomaly code reads (introduced with the future-frame
prediction code of Liu et al., CVPR 2018, and kept by MNAD, AnomalyRuler and others)::

    ROOT/training/frames/01/000.jpg ...    normal training videos, one folder per video
    ROOT/testing/frames/01/000.jpg ...     test videos
    ROOT/ped2.mat  (or ROOT/avenue.mat)    variable ``gt``: a cell array with one cell per
                                            test video in folder-name order; each cell a 2xK
                                            matrix of [first; last] anomalous frames, 1-based
                                            and inclusive, one column per event

A frame folder holds ``.jpg``, ``.png``, ``.tif`` or ``.bmp`` frames in name order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from vlad.data.layout import count_frames, need_file, need_folder, root_folder, subfolders
from vlad.data.manifest import ManifestRecord, merge_intervals
from vlad.errors import InputError


@dataclass(frozen=True)
class FrameBenchmark:
    """A benchmark of frame folders with a ``.mat`` ground truth.

    Attributes:
        source: Registry name (``ped2``, ``avenue``).
        title: The benchmark's name for messages.
        mat_file: The ground-truth file's name under the root.
        fps: The recording's frame rate.
    """

    source: str
    title: str
    mat_file: str
    fps: float


PED2 = FrameBenchmark("ped2", "UCSD Ped2", "ped2.mat", 10.0)
AVENUE = FrameBenchmark("avenue", "CUHK Avenue", "avenue.mat", 25.0)


def read_mat_intervals(path: Path, videos: int, title: str) -> list[tuple[tuple[int, int], ...]]:
    """The anomalous intervals per test video from a ``.mat`` file's ``gt`` cell array.

    Args:
        path: The ``.mat`` file.
        videos: How many test videos there are (the cells must match).
        title: The benchmark's name for messages.

    Returns:
        Per video, half-open 0-based ``(start, stop)`` pairs (the file's 1-based inclusive
        ``[first, last]`` become ``(first - 1, last)``).

    Raises:
        InputError: The file is unreadable, has no ``gt``, a cell is not 2xK of frame
            numbers >= 1, or the number of cells differs from ``videos``.
    """
    try:
        content = scipy.io.loadmat(str(path))
    except (OSError, ValueError, NotImplementedError, scipy.io.matlab.MatReadError) as exc:
        raise InputError(f"The {title} ground truth {path} is not a readable .mat file.") from exc
    if "gt" not in content:
        raise InputError(f"The {title} ground truth {path} has no 'gt' variable.")
    gt = content["gt"]
    cells = list(gt.ravel()) if gt.dtype == object else [gt]
    if len(cells) != videos:
        raise InputError(
            f"The {title} ground truth {path} describes {len(cells)} videos but the test "
            f"folder holds {videos}; they must match."
        )
    result = []
    for index, cell in enumerate(cells, start=1):
        events = np.asarray(cell)
        if events.size == 0:
            result.append(())
            continue
        if events.ndim == 1 and events.size == 2:
            events = events.reshape(2, 1)
        if events.ndim != 2 or events.shape[0] != 2:
            raise InputError(
                f"Cell {index} of the {title} ground truth {path} has shape {events.shape}; "
                "it must be 2xK ([first; last] frame per event)."
            )
        if not np.all(np.equal(np.mod(events, 1), 0)) or events.min() < 1:
            raise InputError(
                f"Cell {index} of the {title} ground truth {path} holds values that are not "
                "frame numbers >= 1."
            )
        pairs = [(int(first) - 1, int(last)) for first, last in events.T]
        if any(stop <= start for start, stop in pairs):
            raise InputError(
                f"Cell {index} of the {title} ground truth {path} has an event ending before it "
                "starts."
            )
        result.append(merge_intervals(pairs))
    return result


def read_frame_benchmark(root: str | Path, benchmark: FrameBenchmark) -> list[ManifestRecord]:
    """Read the training and test frame folders of Ped2 or Avenue into records.

    Args:
        root: The dataset folder (holding ``training/``, ``testing/`` and the ``.mat`` file).
        benchmark: :data:`PED2` or :data:`AVENUE`.

    Returns:
        Training records (label 0), then test records with intervals; ids
        ``SOURCE/SPLIT/VIDEO``.

    Raises:
        InputError: A folder or the ground truth is missing, a frame folder is empty, the
            ground truth and the test folders disagree, or an event ends after its video.
    """
    title = benchmark.title
    folder = root_folder(root, title)
    testing = need_folder(folder / "testing" / "frames", title, "the test frame folder")
    mat = need_file(folder / benchmark.mat_file, title, "the ground truth")
    records: list[ManifestRecord] = []
    training = folder / "training" / "frames"
    if training.is_dir():
        for video in subfolders(training):
            records.append(_record(benchmark, video, "train", count_frames(video, title), ()))
    videos = subfolders(testing)
    if not videos:
        raise InputError(f"The {title} test folder {testing} holds no video folders.")
    intervals = read_mat_intervals(mat, len(videos), title)
    for video, pairs in zip(videos, intervals, strict=True):
        frames = count_frames(video, title)
        if pairs and pairs[-1][1] > frames:
            raise InputError(
                f"The {title} ground truth marks frame {pairs[-1][1]} of video {video.name}, "
                f"which has {frames} frames; the frame folder or {mat.name} is incomplete."
            )
        records.append(_record(benchmark, video, "test", frames, pairs))
    return records


def _record(
    benchmark: FrameBenchmark,
    video: Path,
    split: str,
    frames: int,
    intervals: tuple[tuple[int, int], ...],
) -> ManifestRecord:
    return ManifestRecord(
        id=f"{benchmark.source}/{split}/{video.name}",
        path=str(video),
        kind="frames",
        split=split,
        source=benchmark.source,
        fps=benchmark.fps,
        label=1 if intervals else 0,
        frames=frames,
        intervals=intervals,
    )


def read_ped2(root: str | Path) -> list[ManifestRecord]:
    """Read UCSD Ped2 (see :func:`read_frame_benchmark`)."""
    return read_frame_benchmark(root, PED2)


def read_avenue(root: str | Path) -> list[ManifestRecord]:
    """Read CUHK Avenue (see :func:`read_frame_benchmark`)."""
    return read_frame_benchmark(root, AVENUE)
