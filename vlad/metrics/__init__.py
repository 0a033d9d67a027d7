"""Metrics, in pure numpy: detection and segmentation, captioning, temporal grounding.

- :mod:`vlad.metrics.detection`: AUROC, AP, F1-max, pixel AUROC, AUPRO (both at once with
  ``pixel_metrics``), frame-level AUC/AP, ROC and precision-recall curves.
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
    pixel_metrics,
    pr_curve,
    roc_curve,
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
    "pixel_metrics",
    "pr_curve",
    "recall_at_iou",
    "roc_curve",
    "rouge_l",
    "temporal_iou",
    "tokenize",
]
