"""UCF-Crime (Sultani et al., CVPR 2018) test videos with their temporal annotation.

The download holds the videos in class folders (``Anomaly-Videos-Part-1/Abuse/Abuse028_x264.mp4``,
``Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4`` ...) and the file
``Temporal_Anomaly_Annotation_for_Testing_Videos.txt``, one test video per line::

    Abuse028_x264.mp4  Abuse  165  240  -1  -1
    Arson011_x264.mp4  Arson  150  420  680  1267
    Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1

(video, class, start and end frame of the first event, of the second event; -1 where there is
none). Frame numbers are read as 0-based indices with the end included, so an event ``165 240``
is the half-open interval ``(165, 241)``. Videos are found anywhere under the root by name.
"""

from __future__ import annotations

from pathlib import Path

from vlad.data.layout import VIDEO_SUFFIXES, root_folder
from vlad.data.manifest import ManifestRecord, merge_intervals
from vlad.errors import InputError

NAME = "UCF-Crime"
SOURCE = "ucf_crime"
ANNOTATION = "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
FPS = 30.0
NORMAL = "Normal"


def parse_annotation_line(line: str, where: str) -> tuple[str, str, tuple[tuple[int, int], ...]]:
    """One line of the temporal annotation: (video file, class, half-open intervals).

    Raises:
        InputError: Not six fields, a frame that is not an integer, a half-given event, an
            event ending before it starts, or a ``Normal`` video with an event.
    """
    fields = line.split()
    if len(fields) != 6:
        raise InputError(
            f"{where} has {len(fields)} fields; a line is 'VIDEO CLASS START END START END'."
        )
    video, category, *numbers = fields
    try:
        frames = [int(value) for value in numbers]
    except ValueError as exc:
        raise InputError(f"{where} has a frame number that is not an integer.") from exc
    pairs = []
    for start, end in (frames[0:2], frames[2:4]):
        if start == -1 and end == -1:
            continue
        if start < 0 or end < start:
            raise InputError(
                f"{where} has the event {start} {end}; give start <= end, or -1 -1 for none."
            )
        pairs.append((start, end + 1))
    if category == NORMAL and pairs:
        raise InputError(f"{where} gives events to a Normal video.")
    return video, category, merge_intervals(pairs)


def read_ucf_crime(root: str | Path) -> list[ManifestRecord]:
    """Read UCF-Crime's annotated test videos into records.

    Args:
        root: The download's folder; the annotation file and the videos may be anywhere
            under it.

    Returns:
        One test record per annotation line, in file order; ids ``ucf_crime/test/STEM``.

    Raises:
        InputError: The annotation file or a video it lists is missing, or a line is malformed.
    """
    folder = root_folder(root, NAME)
    found = sorted(folder.rglob(ANNOTATION))
    if not found:
        raise InputError(f"The {NAME} layout is incomplete: {ANNOTATION} is not under {folder}.")
    annotation = found[0]
    videos: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in VIDEO_SUFFIXES and path.is_file():
            videos.setdefault(path.name, path)
    records: list[ManifestRecord] = []
    for number, line in enumerate(annotation.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        name, category, intervals = parse_annotation_line(line, f"{annotation.name} line {number}")
        if name not in videos:
            raise InputError(
                f"The {NAME} layout is incomplete: the video {name} of {annotation.name} line "
                f"{number} is not under {folder}."
            )
        records.append(
            ManifestRecord(
                id=f"{SOURCE}/test/{Path(name).stem}",
                path=str(videos[name]),
                kind="video",
                split="test",
                source=SOURCE,
                category=category,
                fps=FPS,
                label=0 if category == NORMAL else 1,
                intervals=intervals,
            )
        )
    if not records:
        raise InputError(f"The {NAME} annotation {annotation} lists no video.")
    return records
