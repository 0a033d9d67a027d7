"""Evaluation runners: images, videos, anchors and tables.

- :mod:`~vlad.runners.evaluation.scoring`: manifest rows to inputs (a bad line is kept with
  its sentence) and their scoring through the batch runner's path (one pipeline,
  resumable per input, nothing scored twice).
- :mod:`~vlad.runners.evaluation.images`: ``vlad eval images`` (image AUROC, AP, F1-max,
  pixel AUROC and AUPRO per category and their mean).
- :mod:`~vlad.runners.evaluation.videos`: ``vlad eval videos`` (frame AUC and AP pooled over
  all frames, per category and per video).
- :mod:`~vlad.runners.evaluation.outputs`: results.json, results.md, inputs.csv and the
  ROC/PR curves.
- :mod:`~vlad.runners.evaluation.anchors` and :mod:`~vlad.runners.evaluation.table`: the
  published figures beside vlad's (``vlad eval run``, ``vlad eval table``).
"""
