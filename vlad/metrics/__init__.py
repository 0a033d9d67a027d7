"""Metrics, in pure numpy: detection and segmentation, captioning, temporal grounding.

- :mod:`vlad.metrics.detection`: AUROC, AP, F1-max, pixel AUROC, AUPRO, frame-level AUC/AP.
- :mod:`vlad.metrics.captioning`: BLEU-1..4, ROUGE-L and CIDEr-D as coco-caption
  (``pycocoevalcap``) computes them, with its PTB-style tokenisation done in Python.
- :mod:`vlad.metrics.temporal`: temporal IoU of spans and recall/precision at IoU thresholds.

Every name stays importable from ``vlad.metrics`` (the module was one file before 0.2).
"""

from __future__ import annotations

from vlad.metrics.captioning import (
    PUNCTUATIONS,
    CaptionScores,
    bleu,
    caption_scores,
    cider_d,
    rouge_l,
    tokenize,
)
from vlad.metrics.detection import (
    aupro,
    auroc,
    average_precision,
    f1_max,
    frame_ap,
    frame_auc,
    pixel_auroc,
)
from vlad.metrics.temporal import (
    IOU_THRESHOLDS,
    SpanMatch,
    best_iou,
    match_spans,
    recall_at_iou,
    temporal_iou,
)

__all__ = [
    "IOU_THRESHOLDS",
    "PUNCTUATIONS",
    "CaptionScores",
    "SpanMatch",
    "aupro",
    "auroc",
    "average_precision",
    "best_iou",
    "bleu",
    "caption_scores",
    "cider_d",
    "f1_max",
    "frame_ap",
    "frame_auc",
    "match_spans",
    "pixel_auroc",
    "recall_at_iou",
    "rouge_l",
    "temporal_iou",
    "tokenize",
]
