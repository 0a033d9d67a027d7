"""Flashback scoring maths: pure NumPy functions, no index, no files.

Flashback (zero-shot real-time video anomaly detection) scores a query embedding by its K
nearest captions of a memory. For a query q (L2-normalised) and a memory entry i with unit
embedding e_i, the *penalised similarity* is

    s_i = alpha * (q . e_i)   if entry i is anomalous,
    s_i =          q . e_i    if entry i is normal,

which equals scaling the anomalous embeddings by alpha (Flashback's "scaled anomaly
penalization", alpha = 0.95), so that ties and near-ties go to the normal side. The K
neighbours are the K entries with the largest s_i (ties broken by the lower entry index,
that is the earlier caption): :func:`exact_search` and :func:`top_k`. With weights
w_i = max(s_i, 0) over those neighbours,

    score = sum_i w_i * [i is anomalous] / sum_i w_i

(:func:`flashback_scores`), a number in [0, 1]; when every weight is 0 (no neighbour points
the query's way) the score is 0, for lack of evidence of an anomaly.

:func:`near_duplicate_mask` drops near-duplicate captions of one label when a memory is built.
"""

from __future__ import annotations

import numpy as np

from vlad.errors import ConfigError

__all__ = [
    "check_alpha",
    "exact_search",
    "flashback_scores",
    "near_duplicate_mask",
    "top_k",
]

_BLOCK_BYTES = 64 * 2**20  # similarity block of the exact search


def check_alpha(alpha: float) -> None:
    """Check an anomaly penalisation.

    Args:
        alpha: The factor on anomalous entries' similarities.

    Raises:
        ConfigError: When alpha is outside (0, 1] (``param="alpha"``).

    Example:
        >>> check_alpha(0.95)
        >>> check_alpha(0)
        Traceback (most recent call last):
        ...
        vlad.errors.ConfigError: alpha must be in (0, 1], got 0.
    """
    if not 0 < alpha <= 1:
        raise ConfigError(f"alpha must be in (0, 1], got {alpha}.", param="alpha")


def flashback_scores(similarities: np.ndarray, anomalous: np.ndarray) -> np.ndarray:
    """Similarity-weighted share of anomalous neighbours, per query.

    Args:
        similarities: (Q, K) penalised similarities of each query's K neighbours.
        anomalous: (Q, K) booleans, True where the neighbour is anomalous.

    Returns:
        Float32 (Q,) scores in [0, 1]: sum(w * anomalous) / sum(w) with w = max(sim, 0),
        and 0 for a query whose weights are all 0.

    Example:
        Neighbours at 0.75 (normal) and 0.25 (anomalous) give 0.25 / 1.0; a negative
        similarity weighs nothing; no positive weight at all gives 0.

        >>> sims = np.array([[0.75, 0.25], [0.5, -0.25], [-0.125, -0.25]])
        >>> anomalous = np.array([[False, True], [True, False], [True, True]])
        >>> flashback_scores(sims, anomalous).tolist()
        [0.25, 1.0, 0.0]
    """
    weights = np.clip(np.asarray(similarities, dtype=np.float64), 0.0, None)
    total = weights.sum(axis=1)
    hits = (weights * np.asarray(anomalous, dtype=bool)).sum(axis=1)
    scores = np.divide(hits, total, out=np.zeros_like(total), where=total > 0)
    return scores.astype(np.float32)


def top_k(
    scores: np.ndarray, k: int, ids: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The k largest scores of each row, ties broken by the lower id.

    Args:
        scores: (Q, N) scores (finite or -inf).
        k: How many to keep (at most N).
        ids: (Q, N) integer ids used for tie-breaking and returned in place of column
            positions; None means the column positions themselves.

    Returns:
        (values, ids), both (Q, min(k, N)), each row sorted by descending score and then
        ascending id.

    Example:
        Two entries tie at 0.5 for the second place: the lower id wins.

        >>> values, ids = top_k(np.array([[0.5, 0.75, 0.5, 0.25]]), 2)
        >>> values.tolist(), ids.tolist()
        ([[0.75, 0.5]], [[1, 0]])
    """
    n_queries, n = scores.shape
    k = min(int(k), n)
    if k <= 0:
        return np.zeros((n_queries, 0), np.float32), np.zeros((n_queries, 0), np.int64)
    width = min(k + 1, n)  # one more than k, to see ties across the cut
    pos = _largest(scores, width)
    vals = np.take_along_axis(scores, pos, axis=1)
    keys = pos if ids is None else np.take_along_axis(ids, pos, axis=1)
    order = np.lexsort((keys, -vals), axis=1)
    pos = np.take_along_axis(pos, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    if width > k:
        for row in np.flatnonzero(vals[:, k - 1] == vals[:, k]):
            pos[row, :k] = _tied_row(scores[row], k, None if ids is None else ids[row])
            vals[row, :k] = scores[row, pos[row, :k]]
    pos, vals = pos[:, :k], vals[:, :k]
    out_ids = pos if ids is None else np.take_along_axis(ids, pos, axis=1)
    return vals.astype(np.float32, copy=False), out_ids.astype(np.int64, copy=False)


def _largest(scores: np.ndarray, width: int) -> np.ndarray:
    """Column positions of the ``width`` largest scores of each row, in no set order."""
    n_queries, n = scores.shape
    if width >= n:
        return np.broadcast_to(np.arange(n), (n_queries, n))
    if n >= 2048:  # torch's top-k is several times faster than a full argpartition here
        import torch

        block = torch.from_numpy(np.ascontiguousarray(scores))
        return torch.topk(block, width, dim=1, sorted=False).indices.numpy()
    return np.argpartition(scores, n - width, axis=1)[:, n - width :]


def _tied_row(row: np.ndarray, k: int, ids: np.ndarray | None) -> np.ndarray:
    """Positions of the top k of one row whose k-th value is tied beyond the cut."""
    keys = np.arange(row.size) if ids is None else ids
    threshold = np.sort(row)[-k]
    above = np.flatnonzero(row > threshold)
    tied = np.flatnonzero(row == threshold)
    tied = tied[np.argsort(keys[tied], kind="stable")][: k - above.size]
    chosen = np.concatenate([above, tied])
    return chosen[np.lexsort((keys[chosen], -row[chosen]))]


def exact_search(
    embeddings: np.ndarray,
    queries: np.ndarray,
    k: int,
    *,
    column_scale: np.ndarray | None = None,
    block_bytes: int = _BLOCK_BYTES,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k inner-product search, in query blocks of bounded size.

    Args:
        embeddings: (N, D) float32 rows (may be memory-mapped).
        queries: (Q, D) float32 rows.
        k: Neighbours per query (at most N).
        column_scale: Optional (N,) factors applied to each entry's score before ranking
            (alpha for anomalous entries, 1 otherwise).
        block_bytes: Size budget of one (queries x N) similarity block.

    Returns:
        (scores, indices), both (Q, min(k, N)), sorted as in :func:`top_k`.

    Example:
        The query is closer to the second entry (1.0 against 0.75), but that entry is
        anomalous and penalised by 0.5, so the normal first entry comes first.

        >>> entries = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
        >>> query = np.array([[0.75, 1.0]], np.float32)
        >>> scores, rows = exact_search(entries, query, 2, column_scale=np.array([1.0, 0.5]))
        >>> scores.tolist(), rows.tolist()
        ([[0.75, 0.5]], [[0, 1]])
    """
    n = embeddings.shape[0]
    rows = max(1, min(queries.shape[0], block_bytes // (4 * max(n, 1))))
    # one reused block: fresh large arrays cost a page fault per 4 KiB on every block
    buffer = np.empty((rows, n), dtype=np.float32)
    scores_out, index_out = [], []
    for start in range(0, queries.shape[0], rows):
        block = queries[start : start + rows]
        sims = buffer[: block.shape[0]]
        np.matmul(block, embeddings.T, out=sims)
        if column_scale is not None:
            sims *= column_scale
        vals, idx = top_k(sims, k)
        scores_out.append(vals)
        index_out.append(idx)
    if not scores_out:
        k = min(k, n)
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    return np.concatenate(scores_out), np.concatenate(index_out)


def near_duplicate_mask(
    embeddings: np.ndarray,
    groups: np.ndarray,
    threshold: float,
    *,
    block: int = 1024,
) -> np.ndarray:
    """Greedy near-duplicate removal inside each group (label), keeping the first seen.

    An entry is dropped when its cosine similarity to an entry already kept in the same
    group is at or above ``threshold``. Entries of different groups never remove each other.

    Args:
        embeddings: (N, D) unit rows.
        groups: (N,) group of each row (e.g. the anomalous flag).
        threshold: Cosine similarity that counts as a duplicate.
        block: Rows compared per matrix product.

    Returns:
        Boolean (N,) mask of the rows to keep.

    Example:
        Rows 0 and 1 are one direction: the later is dropped. Row 2 is the same direction
        in another group, so it stays.

        >>> rows = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], np.float32)
        >>> near_duplicate_mask(rows, np.array([0, 0, 1, 0]), 0.95).tolist()
        [True, False, True, True]
    """
    keep = np.zeros(embeddings.shape[0], dtype=bool)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        kept = np.zeros((0, embeddings.shape[1]), dtype=np.float32)
        for start in range(0, members.size, block):
            rows = members[start : start + block]
            vectors = np.asarray(embeddings[rows], dtype=np.float32)
            dropped = np.zeros(rows.size, dtype=bool)
            if kept.shape[0]:
                dropped = (vectors @ kept.T).max(axis=1) >= threshold
            within = vectors @ vectors.T
            chosen: list[int] = []
            for j in np.flatnonzero(~dropped):
                if chosen and within[j, chosen].max() >= threshold:
                    continue
                chosen.append(int(j))
            keep[rows[chosen]] = True
            kept = np.concatenate([kept, vectors[chosen]])
    return keep
