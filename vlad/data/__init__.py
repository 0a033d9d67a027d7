"""Dataset records and their readers (they depend on ``vlad.errors`` and ``vlad.types`` only).

Benchmark readers go here, one module per dataset layout: today
:mod:`vlad.data.captions` (AnomalyRuler's frame captions with frame labels); the evaluation
issue adds the video benchmarks (UCSD Ped2, CUHK Avenue, ShanghaiTech, UCF-Crime, XD-Violence)
and the manifest schema of a batch run.
"""
