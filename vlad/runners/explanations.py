"""Score explanations (timed sentences per video) against reference descriptions.

Both sides are in the UCA layout (UCF-Crime Annotation, CVPR 2024)::

    {video: {"timestamps": [[start_s, end_s], ...], "sentences": [text, ...]}, ...}

``timestamps`` may be left out (then sentences are paired in order and no temporal figure is
made); other keys (``duration``) are ignored.

How a prediction is scored against a reference, per video:

- **Pairing.** Each reference sentence is one item. When both sides have timestamps,
  predicted and reference sentences are paired one to one by their spans
  (:func:`vlad.metrics.match_spans`: the largest summed IoU); else the i-th predicted
  sentence is paired with the i-th reference sentence. A reference sentence left without a
  partner is scored against the empty sentence (a missing description costs).
- **Captioning.** BLEU-1..4, ROUGE-L and CIDEr-D (:mod:`vlad.metrics.captioning`, the
  coco-caption figures) over all the items of all the videos scored; per video, BLEU over
  that video's items and the mean ROUGE-L and CIDEr-D of its items.
- **METEOR** (on request): coco-caption's METEOR 1.5, run through the ``pycocoevalcap``
  package (the ``parity`` extra) on Java; vlad has no METEOR of its own.
- **Embedding similarity.** The cosine of each item's two sentences under a text embedder
  (MiniLM by default; 0 for an unpaired one): the mean over items, and per video.
- **Temporal.** Per reference span, its best IoU with any predicted span of the video (0
  when the video has none), pooled over videos: the mean and recall at IoU 0.3 / 0.5 / 0.7;
  per predicted span, its best IoU with the reference spans: precision at the same
  thresholds. Only made when some prediction has timestamps.

Videos are those present in both files; reference videos without a prediction are counted
and named in the figures, not scored.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vlad.errors import InputError, MissingDependencyError
from vlad.metrics import (
    IOU_THRESHOLDS,
    best_iou,
    bleu,
    cider_d,
    match_spans,
    recall_at_iou,
    rouge_l,
    tokenize,
)
from vlad.utils.extras import require_extra

if TYPE_CHECKING:
    from vlad.encoders.text import TextEmbedder

__all__ = [
    "ExplainedVideo",
    "ExplanationReport",
    "evaluate_explanations",
    "format_explanation_figures",
    "load_explanations",
    "meteor",
    "parse_explanations",
]

_LAYOUT = '{video: {"timestamps": [[start, end], ...], "sentences": [text, ...]}}'


@dataclass(frozen=True)
class ExplainedVideo:
    """The sentences of one video, with the span each describes when known.

    Attributes:
        name: Video id.
        sentences: One text per described span.
        timestamps: ``(start, end)`` per sentence, or None when the file gives none.
    """

    name: str
    sentences: tuple[str, ...]
    timestamps: tuple[tuple[float, float], ...] | None = None


@dataclass
class ExplanationReport:
    """Figures of an explanation evaluation.

    Attributes:
        figures: Every corpus figure (``BLEU-1`` ... ``CIDEr-D``, ``embedding_cosine``,
            ``tIoU``, ``R@0.5`` ...), counts and settings.
        videos: One record per scored video with its own figures.
    """

    figures: dict[str, Any]
    videos: list[dict[str, Any]] = field(default_factory=list)


def parse_explanations(data: object, *, param: str, source: str) -> dict[str, ExplainedVideo]:
    """Read the UCA layout from parsed JSON.

    Args:
        data: The parsed JSON.
        param: The parameter the data came in by (named in errors).
        source: What to call the data in errors (a file name).

    Returns:
        Video id -> its sentences, in the file's order.

    Raises:
        InputError: The data is not in the UCA layout.
    """
    if not isinstance(data, dict) or not data:
        raise InputError(
            f"{param} {source} is not in the UCA layout; give a JSON object {_LAYOUT}.",
            param=param,
        )
    videos: dict[str, ExplainedVideo] = {}
    for name, entry in data.items():
        sentences = entry.get("sentences") if isinstance(entry, dict) else None
        if not isinstance(sentences, list) or any(not isinstance(s, str) for s in sentences):
            raise InputError(
                f"{param} {source} is not in the UCA layout: video '{name}' has no list of "
                f"sentences; give {_LAYOUT}.",
                param=param,
            )
        raw = entry.get("timestamps")
        spans: tuple[tuple[float, float], ...] | None = None
        if raw is not None:
            spans = _read_spans(raw, len(sentences), name=name, param=param, source=source)
        videos[str(name)] = ExplainedVideo(str(name), tuple(sentences), spans)
    return videos


def _read_spans(
    raw: object, count: int, *, name: str, param: str, source: str
) -> tuple[tuple[float, float], ...]:
    where = f"{param} {source}: video '{name}'"
    if not isinstance(raw, list) or len(raw) != count:
        given = len(raw) if isinstance(raw, list) else "no list of"
        raise InputError(
            f"{where} has {given} timestamps for {count} sentences; give one [start, end] "
            "per sentence.",
            param=param,
        )
    spans = []
    for pair in raw:
        ok = (
            isinstance(pair, list | tuple)
            and len(pair) == 2
            and all(isinstance(t, int | float) and not isinstance(t, bool) for t in pair)
            and all(math.isfinite(t) for t in pair)
        )
        if not ok or pair[1] < pair[0]:
            raise InputError(
                f"{where} has the timestamp {json.dumps(pair)}; give [start, end] in seconds "
                "with start <= end.",
                param=param,
            )
        spans.append((float(pair[0]), float(pair[1])))
    return tuple(spans)


def load_explanations(path: Path | str, *, param: str = "predictions") -> dict[str, ExplainedVideo]:
    """Read a UCA-layout JSON file.

    Args:
        path: The file.
        param: The parameter the path came in by (named in errors).

    Returns:
        Video id -> its sentences.

    Raises:
        InputError: The file is missing, not JSON, or not in the UCA layout.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{param} file {path} does not exist; give a JSON file.", param=param)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise InputError(
            f"{param} file {path} is not JSON{where}; give a file in the layout {_LAYOUT}.",
            param=param,
        ) from None
    return parse_explanations(data, param=param, source=str(path))


def _pairs(prediction: ExplainedVideo, reference: ExplainedVideo) -> list[int | None]:
    """For each reference sentence, the index of its predicted partner (None: none)."""
    partner: list[int | None] = [None] * len(reference.sentences)
    if prediction.timestamps is not None and reference.timestamps is not None:
        for match in match_spans(prediction.timestamps, reference.timestamps):
            partner[match.reference] = match.predicted
    else:
        for index in range(min(len(prediction.sentences), len(reference.sentences))):
            partner[index] = index
    return partner


def _cosines(
    embedder: TextEmbedder, hypotheses: Sequence[str], references: Sequence[str]
) -> np.ndarray:
    texts = sorted({t for t in (*hypotheses, *references) if t})
    if not texts:
        return np.zeros(len(hypotheses))
    rows = np.asarray(embedder.embed(texts), dtype=np.float64)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    rows = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
    index = {text: i for i, text in enumerate(texts)}
    values = np.zeros(len(hypotheses))
    for k, (hyp, ref) in enumerate(zip(hypotheses, references, strict=True)):
        if hyp and ref:
            values[k] = float(rows[index[hyp]] @ rows[index[ref]])
    return values


def meteor(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> float:
    """coco-caption's METEOR of tokenised hypotheses, each against one reference.

    Args:
        hypotheses: One token list per item.
        references: One reference token list per item.

    Returns:
        The corpus METEOR of ``pycocoevalcap`` (Java's METEOR 1.5).

    Raises:
        MissingDependencyError: Java or the ``pycocoevalcap`` package is missing.
    """
    require_extra("pycocoevalcap", extra="parity", feature="METEOR", library="pycocoevalcap")
    if shutil.which("java") is None:
        raise MissingDependencyError(
            "METEOR runs on Java, which is not installed; install a Java runtime "
            "(apt-get install default-jre-headless) or leave METEOR out."
        )
    from pycocoevalcap.meteor.meteor import Meteor

    # Its scorer takes space-joined tokens; an empty hypothesis is one space-free word.
    gts = {i: [" ".join(ref)] for i, ref in enumerate(references)}
    res = {i: [" ".join(hyp)] for i, hyp in enumerate(hypotheses)}
    scorer = Meteor()
    try:
        score, _ = scorer.compute_score(gts, res)
    finally:
        del scorer  # closes the Java process
    return float(score)


def _rounded(mapping: Mapping[float, float], prefix: str) -> dict[str, float]:
    return {f"{prefix}@{t:g}": value for t, value in mapping.items()}


def evaluate_explanations(
    predictions: Mapping[str, ExplainedVideo],
    references: Mapping[str, ExplainedVideo],
    *,
    embedder: TextEmbedder | None = None,
    thresholds: Sequence[float] = IOU_THRESHOLDS,
    with_meteor: bool = False,
) -> ExplanationReport:
    """Score predicted explanations against references (see the module's notes).

    Args:
        predictions: Video id -> predicted sentences (from :func:`load_explanations`).
        references: Video id -> reference sentences.
        embedder: Text embedder for the embedding similarity; None leaves it out.
        thresholds: IoU thresholds of temporal recall and precision.
        with_meteor: Add coco-caption's METEOR (needs Java and ``pycocoevalcap``).

    Returns:
        The corpus figures and one record per video.

    Raises:
        InputError: No video is in both, or the references of the common videos hold no
            sentence.
        MissingDependencyError: METEOR is asked for without Java or ``pycocoevalcap``.
    """
    started = time.perf_counter()
    common = [name for name in references if name in predictions]
    if not common:
        raise InputError(
            "predictions shares no video id with the references; predict the videos they name.",
            param="predictions",
        )
    hypotheses: list[str] = []
    targets: list[str] = []
    owner: list[int] = []
    paired = 0
    for v, name in enumerate(common):
        prediction, reference = predictions[name], references[name]
        for ref_index, pred_index in enumerate(_pairs(prediction, reference)):
            hypotheses.append("" if pred_index is None else prediction.sentences[pred_index])
            targets.append(reference.sentences[ref_index])
            owner.append(v)
            paired += pred_index is not None
    if not targets:
        raise InputError(
            "references hold no sentence for the videos predicted; give reference sentences.",
            param="references",
        )
    hyp_tokens = [tokenize(t) for t in hypotheses]
    ref_tokens = [[tokenize(t)] for t in targets]
    corpus_bleu = bleu(hyp_tokens, ref_tokens, 4)
    rouge, item_rouge = rouge_l(hyp_tokens, ref_tokens)
    cider, item_cider = cider_d(hyp_tokens, ref_tokens)
    cosine = _cosines(embedder, hypotheses, targets) if embedder is not None else None
    owners = np.asarray(owner)

    timed = any(predictions[name].timestamps is not None for name in common)
    ref_best: list[np.ndarray] = []
    pred_best: list[np.ndarray] = []
    records: list[dict[str, Any]] = []
    for v, name in enumerate(common):
        prediction, reference = predictions[name], references[name]
        items = np.flatnonzero(owners == v)
        record: dict[str, Any] = {
            "video": name,
            "predicted_sentences": len(prediction.sentences),
            "reference_sentences": len(reference.sentences),
        }
        if items.size:
            video_bleu = bleu([hyp_tokens[i] for i in items], [ref_tokens[i] for i in items], 4)
            record.update({f"BLEU-{k + 1}": value for k, value in enumerate(video_bleu)})
            record["ROUGE-L"] = float(item_rouge[items].mean())
            record["CIDEr-D"] = float(item_cider[items].mean())
            if cosine is not None:
                record["embedding_cosine"] = float(cosine[items].mean())
        if timed and reference.timestamps is not None:
            spans = prediction.timestamps or ()
            best = best_iou(np.asarray(spans).reshape(-1, 2), reference.timestamps)
            ref_best.append(best)
            if spans:
                pred_best.append(best_iou(reference.timestamps, spans))
            if best.size:
                record["tIoU"] = float(best.mean())
                record.update(_rounded(recall_at_iou(best, thresholds), "R"))
        records.append(record)

    figures: dict[str, Any] = {
        "videos": len(common),
        "reference_videos": len(references),
        "missing_videos": [name for name in references if name not in predictions],
        "items": len(targets),
        "paired_items": paired,
    }
    figures.update({f"BLEU-{k + 1}": value for k, value in enumerate(corpus_bleu)})
    figures["ROUGE-L"] = rouge
    figures["CIDEr-D"] = cider
    figures["METEOR"] = (
        meteor(hyp_tokens, [refs[0] for refs in ref_tokens]) if with_meteor else None
    )
    figures["embedding_cosine"] = float(cosine.mean()) if cosine is not None else None
    figures["embedder"] = getattr(embedder, "name", None) if embedder is not None else None
    pooled_ref = np.concatenate(ref_best) if ref_best else np.zeros(0)
    if timed and pooled_ref.size:
        figures["tIoU"] = float(pooled_ref.mean())
        figures.update(_rounded(recall_at_iou(pooled_ref, thresholds), "R"))
        if pred_best:
            figures.update(_rounded(recall_at_iou(np.concatenate(pred_best), thresholds), "P"))
    else:
        figures["tIoU"] = None
    figures["wall_s"] = time.perf_counter() - started
    return ExplanationReport(figures=figures, videos=records)


def format_explanation_figures(figures: Mapping[str, Any]) -> str:
    """The figures of an explanation evaluation as an aligned table for people.

    Args:
        figures: :attr:`ExplanationReport.figures`.

    Returns:
        One line per figure.
    """

    def number(value: Any) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    missing = len(figures["missing_videos"])
    lines = [
        f"videos            {figures['videos']} scored of {figures['reference_videos']} "
        f"referenced" + (f" ({missing} without a prediction)" if missing else ""),
        f"sentences         {figures['items']} references, {figures['paired_items']} paired "
        "with a prediction",
    ]
    for name in ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D"):
        lines.append(f"{name:<17} {number(figures.get(name))}")
    embedder = figures.get("embedder")
    lines.append(
        f"{'embedding cosine':<17} {number(figures.get('embedding_cosine'))}"
        + (f" ({embedder})" if embedder else "")
    )
    lines.append(f"{'temporal IoU':<17} {number(figures.get('tIoU'))}")
    for key in figures:
        if key.startswith(("R@", "P@")):
            kind = "recall" if key.startswith("R") else "precision"
            lines.append(f"{kind + ' ' + key[1:]:<17} {number(figures[key])}")
    lines.append(f"{'wall time':<17} {figures['wall_s']:.1f} s")
    return "\n".join(lines)
