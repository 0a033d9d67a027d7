"""Learned prompts (AnomalyCLIP): the model, its settings, prompt files, training and scoring.

Modules: :mod:`~vlad.scoring.learned.config` (settings), :mod:`~vlad.scoring.learned.model`
(``AnomalyClipModel``), :mod:`~vlad.scoring.learned.checkpoint` (prompt files in vlad's and
the authors' formats), :mod:`~vlad.scoring.learned.math` (pure tensor maths). Import them
directly; nothing heavy is imported with the package.
"""
