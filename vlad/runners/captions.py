"""Evaluate rule deduction on frame captions with frame labels (AnomalyRuler's layout).

The layout, per dataset folder ``ROOT/NAME``::

    test_frame/test_01.csv               image_path,label  (one row per frame, 1 = anomalous)
    test_frame_description/test_01.txt   one caption per line, line i = frame i
    rules.txt                            optional: the rules to judge by

A caption file may be one line shorter than its label file (the paper's captioner skipped
the last frame): the two are aligned on the shorter length. A larger difference is an
error, since it means the files do not belong together.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vlad.errors import ConfigError, InputError

if TYPE_CHECKING:
    from vlad.encoders.text import TextEmbedder
    from vlad.reasoning.deduction import Deduction
    from vlad.reasoning.llm import ChatBackend
    from vlad.reasoning.rules import RuleSet

logger = logging.getLogger(__name__)

LABEL_DIR = "test_frame"
CAPTION_DIR = "test_frame_description"
RULES_FILE = "rules.txt"
# Frames per video taken as normal references when a dataset has no rules file.
REFERENCE_FRAMES = 8


@dataclass(frozen=True)
class CaptionVideo:
    """One video of a caption dataset.

    Attributes:
        name: The video's name (the file stem, e.g. ``test_01``).
        captions: One caption per frame.
        labels: (N,) 0/1 frame labels, as many as captions.
    """

    name: str
    captions: tuple[str, ...]
    labels: np.ndarray


def _read_labels(path: Path) -> np.ndarray:
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            if reader.fieldnames is None or "label" not in reader.fieldnames:
                raise InputError(
                    f"The label file {path} has no 'label' column; it needs the header "
                    "'image_path,label'."
                )
            labels = []
            for row_number, row in enumerate(reader, start=2):
                value = (row.get("label") or "").strip()
                if value not in ("0", "1"):
                    raise InputError(
                        f"Line {row_number} of {path} has label {value!r}; labels are 0 or 1."
                    )
                labels.append(int(value))
    except UnicodeDecodeError as exc:
        raise InputError(f"The label file {path} is not UTF-8 text; export it as CSV.") from exc
    if not labels:
        raise InputError(f"The label file {path} has no rows; it needs one row per frame.")
    return np.asarray(labels, dtype=np.int8)


def load_caption_dataset(root: str | Path, dataset: str) -> list[CaptionVideo]:
    """Read every video of a caption dataset, labels aligned with captions.

    Args:
        root: Folder holding one folder per dataset.
        dataset: Dataset folder name, e.g. ``ped2``.

    Returns:
        The videos in name order.

    Raises:
        InputError: A folder or caption file is missing, a file is empty or unreadable, a
            label is not 0/1, or a caption file differs from its labels by more than one line.
    """
    folder = Path(root).expanduser() / dataset
    labels_dir = folder / LABEL_DIR
    if not folder.is_dir():
        raise InputError(
            f"There is no dataset folder {folder}; pass --root DIR holding a '{dataset}' folder."
        )
    if not labels_dir.is_dir():
        raise InputError(
            f"The dataset folder {folder} has no '{LABEL_DIR}' folder of label CSV files."
        )
    label_files = sorted(labels_dir.glob("*.csv"))
    if not label_files:
        raise InputError(f"The folder {labels_dir} holds no .csv label file.")
    videos = []
    for label_file in label_files:
        caption_file = folder / CAPTION_DIR / f"{label_file.stem}.txt"
        if not caption_file.is_file():
            raise InputError(
                f"The captions of {label_file.stem} are missing: expected {caption_file}."
            )
        labels = _read_labels(label_file)
        try:
            captions = caption_file.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise InputError(f"The caption file {caption_file} is not UTF-8 text.") from exc
        if not captions:
            raise InputError(f"The caption file {caption_file} is empty; it needs one per frame.")
        if abs(len(captions) - len(labels)) > 1:
            raise InputError(
                f"{caption_file} has {len(captions)} captions but {label_file} has "
                f"{len(labels)} labels; they must describe the same frames."
            )
        count = min(len(captions), len(labels))
        videos.append(CaptionVideo(label_file.stem, tuple(captions[:count]), labels[:count]))
    return videos


def dataset_rules_file(root: str | Path, dataset: str) -> Path | None:
    """The dataset's own ``rules.txt``, or None when it has none."""
    path = Path(root).expanduser() / dataset / RULES_FILE
    return path if path.is_file() else None


def dataset_rules(
    root: str | Path,
    dataset: str,
    videos: Sequence[CaptionVideo],
    *,
    rules_path: str | Path | None = None,
    llm: ChatBackend | None = None,
    embedder: TextEmbedder | None = None,
    definitions: Sequence[str] = (),
) -> tuple[RuleSet, str]:
    """The rules to judge by, and a sentence saying where they came from.

    ``rules_path`` when given; else the dataset's ``rules.txt``; else rules induced by
    ``llm`` from the first :data:`REFERENCE_FRAMES` captions of each video, taken as
    normal references (benchmarks start most videos with normal frames).
    """
    from vlad.reasoning.rules import load_rules

    own = dataset_rules_file(root, dataset)
    if rules_path is not None:
        rules, how = load_rules(rules_path), f"rules from {rules_path}"
    elif own is not None:
        rules, how = load_rules(own), f"the dataset's rules ({own})"
    else:
        if llm is None or embedder is None:
            raise ConfigError(
                f"The dataset {dataset} has no {RULES_FILE}; pass --rules FILE or an --llm to "
                "induce rules from its first frames."
            )
        from vlad.reasoning.induction import induce_rules

        references = [c for v in videos for c in v.captions[:REFERENCE_FRAMES] if c.strip()]
        rules = induce_rules(references, llm, embedder, batches=3, per_batch=10)
        how = (
            f"rules induced by {llm.name} from the first {REFERENCE_FRAMES} captions of each "
            f"of the {len(videos)} videos, taken as normal references"
        )
    if definitions:
        rules = rules.with_definitions(definitions)
    return rules, how


def evaluate_captions(
    videos: Sequence[CaptionVideo],
    rules: RuleSet,
    *,
    method: str = "retrieval",
    embedder: TextEmbedder | None = None,
    backend: ChatBackend | None = None,
    smooth: float = 16.0,
    llm_budget: float = 0.05,
    scene_prior: bool = True,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, Any], list[list[Deduction]]]:
    """Judge every caption and score the judgements against the labels.

    Args:
        videos: The dataset's videos.
        rules: The rules to judge by.
        method: ``keywords``, ``retrieval``, ``hybrid`` or ``llm``.
        embedder: Text embedder (``retrieval``, ``hybrid``).
        backend: Chat backend (``hybrid``, ``llm``).
        smooth: Perception smoothing width in frames.
        llm_budget: LLM calls per frame for ``hybrid``.
        scene_prior: Learn normal references from the captions themselves (no labels).
        progress: Called with the number of frames judged so far.

    Returns:
        The figures (``auc``, ``ap``, ``frames``, ``llm_calls_per_frame``,
        ``tokens_per_frame``, ``wall_s``, ``method``, ...) and the deductions.
    """
    from vlad.metrics import frame_ap, frame_auc
    from vlad.reasoning.deduction import RuleDeducer

    deducer = RuleDeducer(
        rules,
        embedder=embedder,
        method=method,
        backend=backend,
        smooth=smooth,
        llm_budget=llm_budget,
        scene_prior=scene_prior,
    )
    start = time.perf_counter()
    deductions = deducer.deduce([list(v.captions) for v in videos], progress=progress)
    wall = time.perf_counter() - start
    labels = [v.labels for v in videos]
    scores = [np.array([d.score for d in frames]) for frames in deductions]
    stats = deducer.stats
    figures: dict[str, Any] = {
        "method": method,
        "frames": stats.frames,
        "videos": len(videos),
        "auc": frame_auc(labels, scores),
        "ap": frame_ap(labels, scores),
        "llm_calls_per_frame": stats.llm_calls_per_frame,
        "tokens_per_frame": stats.llm_tokens / stats.frames if stats.frames else 0.0,
        "llm_parse_failures": stats.parse_failures,
        "clauses_embedded": stats.clauses,
        "wall_s": wall,
        "smooth_frames": smooth,
        "scene_prior": scene_prior and method in ("retrieval", "hybrid"),
    }
    if deducer.matcher is not None:
        figures["scene_references"] = len(deducer.matcher.scene_references)
    predicted = np.concatenate([[d.verdict == "anomalous" for d in f] for f in deductions])
    truth = np.concatenate(labels).astype(bool)
    figures["accuracy"] = float((predicted == truth).mean())
    return figures, deductions
