"""XD-Violence (Wu et al., ECCV 2020): labels in the file names, test intervals in a text file.

A video's name ends with its labels, ``..._label_A.mp4`` for a normal video and up to three
codes otherwise (``..._label_B2-0-0.mp4``, ``..._label_G-B2-B6.mp4``; ``0`` fills an unused
place): B1 fighting, B2 shooting, B4 riot, B5 abuse, B6 car accident, G explosion.

``annotations.txt`` gives the anomalous frames of each anomalous test video, one video per line,
the name (with or without ``.mp4``) then pairs of start and end frames::

    Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6 27 123 204 323

Frames are read as 0-based indices with the end included (``27 123`` -> ``(27, 124)``).
Layout read: ``ROOT/annotations.txt`` and the videos anywhere under ``ROOT``; videos under a
folder whose name starts with ``train`` (any case) form the training split, the others the
test split.
"""

from __future__ import annotations

from pathlib import Path

from vlad.data.layout import VIDEO_SUFFIXES, need_file, root_folder
from vlad.data.manifest import ManifestRecord, merge_intervals
from vlad.errors import InputError

NAME = "XD-Violence"
SOURCE = "xd_violence"
ANNOTATION = "annotations.txt"
FPS = 24.0
CLASSES: dict[str, str] = {
    "A": "Normal",
    "B1": "Fighting",
    "B2": "Shooting",
    "B4": "Riot",
    "B5": "Abuse",
    "B6": "Car accident",
    "G": "Explosion",
}


def labels_of(name: str) -> tuple[str, ...]:
    """The class names encoded in a video's file name.

    >>> labels_of("Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6.mp4")
    ('Explosion', 'Shooting', 'Car accident')

    Raises:
        InputError: The name has no ``_label_`` part or an unknown code.
    """
    stem = Path(name).stem if Path(name).suffix.lower() in VIDEO_SUFFIXES else name
    if "_label_" not in stem:
        raise InputError(f"The {NAME} video {name} has no '_label_' part in its name.")
    codes = [code for code in stem.rsplit("_label_", 1)[1].split("-") if code != "0"]
    unknown = [code for code in codes if code not in CLASSES]
    if not codes or unknown:
        raise InputError(
            f"The {NAME} video {name} has the unknown label code {(unknown or [''])[0]!r}; "
            f"codes are {', '.join(CLASSES)}."
        )
    if "A" in codes and len(codes) > 1:
        raise InputError(f"The {NAME} video {name} is labelled both normal (A) and anomalous.")
    return tuple(CLASSES[code] for code in codes)


def parse_annotations(path: Path) -> dict[str, tuple[tuple[int, int], ...]]:
    """``annotations.txt``: video stem -> half-open anomalous intervals.

    Raises:
        InputError: A line has an odd number of frames, a non-integer, an event ending
            before it starts, or repeats a video.
    """
    result: dict[str, tuple[tuple[int, int], ...]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path.name} line {number}"
        name = fields[0]
        stem = Path(name).stem if Path(name).suffix.lower() in VIDEO_SUFFIXES else name
        try:
            frames = [int(value) for value in fields[1:]]
        except ValueError as exc:
            raise InputError(f"{where} has a frame number that is not an integer.") from exc
        if not frames or len(frames) % 2:
            raise InputError(f"{where} has {len(frames)} frame numbers; give start and end pairs.")
        pairs = []
        for start, end in zip(frames[0::2], frames[1::2], strict=True):
            if start < 0 or end < start:
                raise InputError(f"{where} has the event {start} {end}; give 0 <= start <= end.")
            pairs.append((start, end + 1))
        if stem in result:
            raise InputError(f"{where} repeats the video {stem}.")
        result[stem] = merge_intervals(pairs)
    return result


def read_xd_violence(root: str | Path) -> list[ManifestRecord]:
    """Read XD-Violence's videos into records, test intervals from ``annotations.txt``.

    Args:
        root: The folder holding ``annotations.txt`` and the videos.

    Returns:
        Records in path order; ids ``xd_violence/SPLIT/STEM``; category the classes joined
        with ``+`` (``Explosion+Shooting``), ``Normal`` for normal videos.

    Raises:
        InputError: ``annotations.txt`` is missing or malformed, no video is found, a name
            has no label, an anomalous test video has no intervals, an annotated video is
            missing or labelled normal.
    """
    folder = root_folder(root, NAME)
    annotation = need_file(folder / ANNOTATION, NAME, "the test annotation")
    intervals = parse_annotations(annotation)
    videos = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
    )
    if not videos:
        raise InputError(f"The {NAME} layout is incomplete: {folder} holds no video.")
    records: list[ManifestRecord] = []
    seen: set[str] = set()
    for video in videos:
        classes = labels_of(video.name)
        relative = video.relative_to(folder).parts[:-1]
        split = "train" if any(p.lower().startswith("train") for p in relative) else "test"
        normal = classes == ("Normal",)
        pairs: tuple[tuple[int, int], ...] = ()
        if split == "test":
            seen.add(video.stem)
            if video.stem in intervals:
                if normal:
                    raise InputError(
                        f"{ANNOTATION} gives events to {video.name}, which its name labels normal."
                    )
                pairs = intervals[video.stem]
            elif not normal:
                raise InputError(
                    f"The {NAME} layout is incomplete: the anomalous test video {video.name} "
                    f"has no line in {ANNOTATION}."
                )
        records.append(
            ManifestRecord(
                id=f"{SOURCE}/{split}/{video.stem}",
                path=str(video),
                kind="video",
                split=split,
                source=SOURCE,
                category="+".join(classes),
                fps=FPS,
                label=0 if normal else 1,
                intervals=pairs,
            )
        )
    missing = sorted(set(intervals) - seen)
    if missing:
        raise InputError(
            f"The {NAME} layout is incomplete: the test video {missing[0]} of {ANNOTATION} is "
            f"not under {folder}."
        )
    return records
