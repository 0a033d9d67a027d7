"""Dataset records and their readers.

They depend on ``vlad.errors``, ``vlad.types`` and ``vlad.utils`` only (plus numpy, scipy
and Pillow).

:mod:`vlad.data.manifest` holds the one manifest schema (:class:`ManifestRecord`, JSON Lines
read and written with checks); one module per benchmark layout reads a download into records:
:mod:`~vlad.data.mvtec`, :mod:`~vlad.data.visa`, :mod:`~vlad.data.ucsd` (UCSD Ped2 and CUHK
Avenue), :mod:`~vlad.data.shanghaitech`, :mod:`~vlad.data.ubnormal`,
:mod:`~vlad.data.ucf_crime`, :mod:`~vlad.data.xd_violence`, and AnomalyRuler's frame captions
(:mod:`vlad.data.captions`, as records through :mod:`~vlad.data.anomalyruler`).
:mod:`vlad.data.registry` names them, with where to get each and its licence.
"""
