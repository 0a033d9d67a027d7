"""Whether a retrieval memory can be used with this CLIP, and how: the one check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from vlad.errors import InputError

if TYPE_CHECKING:
    from vlad.encoders.clip import ClipEncoder
    from vlad.encoders.text import TextEmbedder
    from vlad.scoring.memory import MemoryIndex

MemoryMode = Literal["frames", "text"]


def memory_mode(
    memory: MemoryIndex, encoder: ClipEncoder, embedder: TextEmbedder | None = None
) -> MemoryMode:
    """How a memory can be used: ``frames`` or ``text``.

    A memory built with this CLIP's text tower scores every frame embedding (``frames``).
    A memory of another text embedder can only explain, by its nearest captions, the
    definitions that fired, when that embedder is given (``text``).

    Args:
        memory: The memory.
        encoder: The CLIP that embeds the frames.
        embedder: The pipeline's text embedder, if any.

    Returns:
        The mode.

    Raises:
        InputError: Neither fits (one sentence naming the ``embedder`` parameter).
    """
    if memory.embedder == encoder.name and memory.dim == int(encoder.embed_dim):
        return "frames"
    if embedder is not None and embedder.name == memory.embedder:
        memory.check_embedder(embedder)
        return "text"
    where = f"Memory '{memory.folder}'" if memory.folder else "The memory"
    raise InputError(
        f"{where} was built with embedder '{memory.embedder}' (dim {memory.dim}), not with "
        f"this CLIP '{encoder.name}' (dim {encoder.embed_dim}) nor the pipeline's text "
        "embedder; rebuild it with embedder=clip:ARCH@WEIGHTS naming the same CLIP.",
        param="embedder",
    )


def check_memory_fits(memory: MemoryIndex, encoder: ClipEncoder) -> None:
    """Make sure a memory can score this CLIP's frame embeddings.

    Raises:
        InputError: The memory was built with another embedder (or dimension).
    """
    memory_mode(memory, encoder, None)
