"""ShanghaiTech Campus (Luo et al., ICCV 2017) as published, read into manifest records.

The layout of the download::

    ROOT/training/videos/01_001.avi ...        normal training videos (or training/frames/NAME/)
    ROOT/testing/frames/01_0014/000.jpg ...    test videos as frame folders
    ROOT/testing/test_frame_mask/01_0014.npy   one 0/1 label per frame of that video

``test_pixel_mask/`` (per-pixel masks) is not read: frame-level evaluation needs the labels only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vlad.data.layout import (
    VIDEO_SUFFIXES,
    count_frames,
    need_file,
    need_folder,
    root_folder,
    subfolders,
)
from vlad.data.manifest import ManifestRecord, intervals_from_labels
from vlad.errors import InputError

NAME = "ShanghaiTech Campus"
SOURCE = "shanghaitech"
MASK_DIR = "test_frame_mask"


def read_frame_mask(path: Path, frames: int) -> tuple[tuple[int, int], ...]:
    """The anomalous intervals of one test video from its ``test_frame_mask`` file.

    Raises:
        InputError: The file is not a 1-D array of 0/1 with one value per frame.
    """
    try:
        labels = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"The {NAME} frame mask {path} is not a readable .npy array.") from exc
    if labels.ndim != 1 or not np.isin(labels, (0, 1)).all():
        raise InputError(f"The {NAME} frame mask {path} must be a 1-D array of 0/1 labels.")
    if labels.shape[0] != frames:
        raise InputError(
            f"The {NAME} frame mask {path} has {labels.shape[0]} labels but its frame folder "
            f"has {frames} frames; they must match."
        )
    return intervals_from_labels(labels)


def read_shanghaitech(root: str | Path) -> list[ManifestRecord]:
    """Read ShanghaiTech Campus's training videos and labelled test frame folders.

    Args:
        root: The dataset folder (holding ``training/`` and ``testing/``).

    Returns:
        Training records (label 0), then test records; ids ``shanghaitech/SPLIT/NAME``,
            category the scene number (``01`` of ``01_0014``).

    Raises:
        InputError: The test frames or labels folder, or a video's label file, is missing;
            a label file does not match its frame folder.
    """
    folder = root_folder(root, NAME)
    testing = need_folder(folder / "testing" / "frames", NAME, "the test frame folder")
    masks = need_folder(folder / "testing" / MASK_DIR, NAME, "the frame-label folder")
    records: list[ManifestRecord] = []
    for video in sorted((folder / "training" / "videos").glob("*")):
        if video.is_file() and video.suffix.lower() in VIDEO_SUFFIXES:
            records.append(
                ManifestRecord(
                    id=f"{SOURCE}/train/{video.stem}",
                    path=str(video),
                    kind="video",
                    split="train",
                    source=SOURCE,
                    category=video.stem.split("_")[0],
                    label=0,
                )
            )
    training_frames = folder / "training" / "frames"
    if training_frames.is_dir():
        for video in subfolders(training_frames):
            records.append(
                ManifestRecord(
                    id=f"{SOURCE}/train/{video.name}",
                    path=str(video),
                    kind="frames",
                    split="train",
                    source=SOURCE,
                    category=video.name.split("_")[0],
                    label=0,
                    frames=count_frames(video, NAME),
                )
            )
    videos = subfolders(testing)
    if not videos:
        raise InputError(f"The {NAME} test folder {testing} holds no video folders.")
    for video in videos:
        frames = count_frames(video, NAME)
        mask = need_file(masks / f"{video.name}.npy", NAME, "the frame labels")
        intervals = read_frame_mask(mask, frames)
        records.append(
            ManifestRecord(
                id=f"{SOURCE}/test/{video.name}",
                path=str(video),
                kind="frames",
                split="test",
                source=SOURCE,
                category=video.name.split("_")[0],
                label=1 if intervals else 0,
                frames=frames,
                intervals=intervals,
            )
        )
    return records
