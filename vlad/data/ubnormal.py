"""UBnormal (Acsintoae et al., CVPR 2022): scenes of rendered videos, tracks of anomalous objects.

The layout of the download, with the split lists of the project's repository
(``github.com/lilygeorgescu/UBnormal``, folder ``scripts/``) copied under the root::

    ROOT/Scene1/abnormal_scene_1_scenario_1.mp4
    ROOT/Scene1/abnormal_scene_1_scenario_1_annotations/abnormal_scene_1_scenario_1_tracks.txt
    ROOT/Scene1/normal_scene_1_scenario_1.mp4
    ROOT/scripts/{abnormal,normal}_{training,validation,test}_video_names.txt

A tracks file holds one anomalous object per line, ``object_id,first_frame,last_frame``
(0-based, the last frame included, as the project's ``write_frame_level_ground_truth.py``
reads it): the video's anomalous frames are the union of its tracks.
"""

from __future__ import annotations

from pathlib import Path

from vlad.data.layout import need_file, root_folder
from vlad.data.manifest import ManifestRecord, merge_intervals
from vlad.errors import InputError

NAME = "UBnormal"
SOURCE = "ubnormal"
FPS = 30.0
SPLITS: dict[str, str] = {"training": "train", "validation": "validation", "test": "test"}


def read_tracks(path: Path) -> tuple[tuple[int, int], ...]:
    """A tracks file's anomalous frames as half-open intervals.

    Raises:
        InputError: A line is not three comma-separated numbers with first <= last.
    """
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        try:
            first, last = (int(float(value)) for value in fields[1:3])
        except ValueError:
            first, last = -1, -1
        if len(fields) != 3 or first < 0 or last < first:
            raise InputError(
                f"{path.name} line {number} is {line.strip()!r}; a line is "
                "'object_id,first_frame,last_frame' with first <= last."
            )
        pairs.append((first, last + 1))
    return merge_intervals(pairs)


def _scene(video: str) -> str:
    """The scene number of a video name (``abnormal_scene_12_scenario_3_fog`` -> ``12``)."""
    parts = video.split("_")
    if len(parts) < 5 or parts[1] != "scene" or not parts[2].isdigit():
        raise InputError(
            f"The {NAME} video name {video!r} is not 'normal|abnormal_scene_N_scenario_M...'."
        )
    return parts[2]


def read_ubnormal(root: str | Path, *, split_dir: str = "scripts") -> list[ManifestRecord]:
    """Read UBnormal's videos of every split into records.

    Args:
        root: The download's folder (``Scene1/`` ... ``Scene29/``).
        split_dir: The folder of the split lists, relative to ``root``.

    Returns:
        Records per split (training, validation, test), abnormal then normal videos in list
        order; ids ``ubnormal/SPLIT/VIDEO``, category ``sceneN``.

    Raises:
        InputError: A split list, a video or an abnormal video's tracks file is missing, or
            a tracks line is malformed.
    """
    folder = root_folder(root, NAME)
    records: list[ManifestRecord] = []
    for split_name, split in SPLITS.items():
        for kind in ("abnormal", "normal"):
            names = need_file(
                folder / split_dir / f"{kind}_{split_name}_video_names.txt",
                NAME,
                "the split list",
            )
            for video in names.read_text(encoding="utf-8").split():
                scene = _scene(video)
                path = need_file(folder / f"Scene{scene}" / f"{video}.mp4", NAME, "the video")
                intervals: tuple[tuple[int, int], ...] = ()
                if kind == "abnormal":
                    tracks = path.parent / f"{video}_annotations" / f"{video}_tracks.txt"
                    intervals = read_tracks(need_file(tracks, NAME, "the tracks file"))
                records.append(
                    ManifestRecord(
                        id=f"{SOURCE}/{split}/{video}",
                        path=str(path),
                        kind="video",
                        split=split,
                        source=SOURCE,
                        category=f"scene{scene}",
                        fps=FPS,
                        label=1 if kind == "abnormal" else 0,
                        intervals=intervals,
                    )
                )
    return records
