"""``vlad batch``: explain many inputs into one resumable output folder.

- :mod:`~vlad.runners.batch.store`: the folder layout, :class:`ResultStore`, settings hash.
- :mod:`~vlad.runners.batch.inputs`: files, folders, globs, frame folders and manifests to
  input items with stable unique ids.
- :mod:`~vlad.runners.batch.local`: the one-machine engine (models loaded once, decoding
  overlapped with encoding, language-model texts batched).
"""
