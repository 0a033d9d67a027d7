"""FAISS index of a small memory: built on request, then used by default."""

from __future__ import annotations

import numpy as np
import pytest

from vlad.errors import InputError
from vlad.scoring import memory as mem
from vlad.scoring.memory import MemoryEntry, MemoryIndex, default_nprobe
from vlad.scoring.memory import index as memory_index

pytest.importorskip("faiss")


def clustered_memory(count: int = 2000, dim: int = 64, seed: int = 0) -> MemoryIndex:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim)).astype(np.float32)
    rows = centres[rng.integers(0, 40, count)] + 0.3 * rng.standard_normal((count, dim))
    entries = [
        MemoryEntry(f"caption {i}", "anomalous" if i % 5 == 0 else "normal") for i in range(count)
    ]
    return MemoryIndex.from_entries(entries, rows.astype(np.float32), embedder="test")


def test_default_nprobe_is_a_32nd_of_up_to_256_lists_then_a_64th():
    assert [default_nprobe(n) for n in (16, 64, 128, 256, 512, 1024, 4096)] == [
        4,
        4,
        4,
        8,
        8,
        16,
        64,
    ]


def test_small_memory_index_is_saved_and_used_by_auto_search(tmp_path, monkeypatch):
    memory = clustered_memory()
    queries = memory.embeddings[:50] + 0.05
    exact = memory.search(queries, 10, alpha=0.95, method="exact")[1]
    ann = memory.build_ann(progress=False)
    assert ann.factory == "IVF32,PQ8x4fs" and ann.nprobe == 4
    assert ann.info()["by_residual"] is False

    def no_exact(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("auto search of a memory with an index must not be exact")

    monkeypatch.setattr(memory_index, "exact_search", no_exact)
    approx = memory.search(queries, 10, alpha=0.95)[1]
    np.testing.assert_array_equal(approx, memory.search(queries, 10, alpha=0.95, method="ann")[1])
    assert approx.shape == exact.shape == (50, 10)
    monkeypatch.undo()
    memory.save(tmp_path / "m")
    loaded = MemoryIndex.load(tmp_path / "m")
    assert loaded.ann is not None and loaded.ann.info()["by_residual"] is False
    np.testing.assert_array_equal(loaded.search(queries, 10, alpha=0.95)[1], approx)


def test_without_an_index_a_small_memory_is_searched_exactly(monkeypatch):
    memory = clustered_memory(count=300)
    calls: list[int] = []
    real = mem.exact_search

    def counting(*args: object, **kwargs: object):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(memory_index, "exact_search", counting)
    memory.respond(memory.embeddings[:3])
    assert calls == [1] and memory.ann is None


def test_query_checks_still_refuse_nan_and_zero_and_survive_huge_values():
    memory = clustered_memory(count=300)
    bad = np.zeros((2, 64), dtype=np.float32)
    bad[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN or infinity"):
        memory.search(bad)
    with pytest.raises(InputError, match="all zeros"):
        memory.search(np.zeros(64, dtype=np.float32))
    huge = memory.embeddings[:2] * np.float32(1e30)  # squares overflow float32
    np.testing.assert_array_equal(
        memory.search(huge, 5, method="exact")[1],
        memory.search(memory.embeddings[:2], 5, method="exact")[1],
    )
