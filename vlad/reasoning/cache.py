"""An on-disk cache of model answers, shared by runs and by processes.

An answer is stored under a key: the SHA-256 of canonical JSON holding the backend's name,
the conversation and the generation settings. Images inside a conversation enter the key
by the hash of their content (a data URL, a local file, PIL image, array or bytes), so the
key stays short and no image is ever written to the cache. The store is one SQLite file in
WAL mode, which several processes may read and write at once; it lives at
``$VLAD_CACHE_DIR/llm/answers.sqlite``, by default ``~/.cache/vlad/llm/answers.sqlite``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from vlad.errors import ConfigError, InputError, VladError
from vlad.reasoning.llm import Conversation, GenerationSettings

CACHE_DIR_ENV = "VLAD_CACHE_DIR"
KEY_VERSION = 1
"""Part of every key: raise it when the key's recipe changes, so old answers are unused."""

_IMAGE_KEYS = frozenset({"image", "video", "url", "image_url", "video_url", "path"})
_SQL_CHUNK = 500  # under SQLite's limit on parameters per statement


def default_cache_path() -> Path:
    """Where the answer cache lives unless a path is given.

    Returns:
        ``$VLAD_CACHE_DIR/llm/answers.sqlite`` when that variable is set, otherwise
        ``llm/answers.sqlite`` under ``$XDG_CACHE_HOME/vlad`` or ``~/.cache/vlad``.
    """
    root = os.environ.get(CACHE_DIR_ENV)
    if root:
        base = Path(root).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "vlad"
    return base / "llm" / "answers.sqlite"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _canonical_string(value: str, key: str | None) -> Any:
    if value.startswith("data:"):
        return {"data_url_sha256": _sha256(value.encode("utf-8", "surrogatepass"))}
    if key in _IMAGE_KEYS:
        # A local image or video enters the key by content, so an edited file is not
        # answered from the cache; URLs of remote images stay as they are.
        path_text = value.removeprefix("file://") if value.startswith("file://") else value
        if "://" not in path_text and len(path_text) < 4096:
            try:
                path = Path(path_text).expanduser()
                if path.is_file():
                    return {"file_sha256": _file_digest(path)}
            except OSError:
                pass
    return value


def canonical(value: Any, key: str | None = None) -> Any:
    """A JSON-ready copy of a message part, with every image replaced by its content hash.

    Args:
        value: A conversation, message, content part or settings dict.
        key: The dict key ``value`` sits under; strings under image keys that name a local
            file are hashed by the file's content.

    Returns:
        Plain dicts, lists, strings, numbers, booleans and None.

    Raises:
        InputError: A part is of a kind that cannot enter a cache key.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _canonical_string(value, key)
    if isinstance(value, Mapping):
        return {str(k): canonical(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v, key) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return {"bytes_sha256": _sha256(bytes(value))}
    if isinstance(value, os.PathLike):
        return _canonical_string(os.fspath(value), "path")
    if all(hasattr(value, a) for a in ("mode", "size", "tobytes")):  # a PIL image
        header = f"{value.mode}:{tuple(value.size)}:".encode()
        return {"pil_sha256": _sha256(header + value.tobytes())}
    if all(hasattr(value, a) for a in ("dtype", "shape", "tobytes")):  # an array
        header = f"{value.dtype}:{tuple(value.shape)}:".encode()
        return {"array_sha256": _sha256(header + value.tobytes())}
    raise InputError(
        f"A message part of type {type(value).__name__} cannot enter the answer cache key; "
        "pass images as data URLs, file paths, PIL images or arrays, or turn the cache off."
    )


def answer_key(backend_name: str, conversation: Conversation, settings: GenerationSettings) -> str:
    """The cache key of one conversation's answer.

    Args:
        backend_name: The backend's ``name`` (model and files).
        conversation: OpenAI-format messages.
        settings: How the answer is generated.

    Returns:
        A 64-character hex SHA-256.
    """
    payload = {
        "v": KEY_VERSION,
        "backend": backend_name,
        "conversation": canonical(conversation),
        "settings": canonical(settings.cache_key()),
    }
    # ensure_ascii keeps the bytes well defined even for lone surrogates in the text.
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return _sha256(text.encode("ascii"))


class AnswerCache:
    """Model answers on disk by key; safe across threads and processes.

    Args:
        path: The SQLite file; :func:`default_cache_path` when None. Its folder is made.
        timeout_s: How long to wait for another process's write before giving up.

    Example:
        >>> cache = AnswerCache(tmp_path / "answers.sqlite")  # doctest: +SKIP
        >>> cache.put_many({"k": "normal"}); cache.get_many(["k"])  # doctest: +SKIP
        {'k': 'normal'}
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, timeout_s: float = 30.0
    ) -> None:
        if not timeout_s > 0:
            raise ConfigError(f"The cache timeout must be above 0 s, got {timeout_s}.")
        self._path = Path(path).expanduser() if path is not None else default_cache_path()
        self._timeout_s = float(timeout_s)
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None
        self._pid = -1
        self._connect()  # fail now, with a clear message, rather than mid-run

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    def _error(self, exc: BaseException) -> VladError:
        reason = str(exc).rstrip(".") or type(exc).__name__
        return ConfigError(
            f"The answer cache at {self._path} cannot be used ({reason}); delete it, pass "
            f"another path or set {CACHE_DIR_ENV} to a writable folder."
        )

    def _connect(self) -> sqlite3.Connection:
        with self._lock:
            # A connection must not cross fork(): a child opens its own.
            if self._connection is not None and self._pid == os.getpid():
                return self._connection
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(
                    self._path,
                    timeout=self._timeout_s,
                    isolation_level=None,
                    check_same_thread=False,
                )
                connection.execute(f"PRAGMA busy_timeout = {int(self._timeout_s * 1000)}")
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = NORMAL")
                connection.execute(
                    "CREATE TABLE IF NOT EXISTS answers ("
                    "key TEXT PRIMARY KEY, answer TEXT NOT NULL, created REAL NOT NULL)"
                )
            except (OSError, sqlite3.Error) as exc:
                raise self._error(exc) from exc
            self._connection, self._pid = connection, os.getpid()
            return connection

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        """The stored answers of those keys that have one.

        Args:
            keys: Keys from :func:`answer_key`.

        Returns:
            Key to answer, for the keys found; missing keys are left out.
        """
        wanted = list(dict.fromkeys(keys))
        found: dict[str, str] = {}
        with self._lock:
            connection = self._connect()
            try:
                for start in range(0, len(wanted), _SQL_CHUNK):
                    chunk = wanted[start : start + _SQL_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    rows = connection.execute(
                        f"SELECT key, answer FROM answers WHERE key IN ({marks})", chunk
                    )
                    found.update(rows.fetchall())
            except sqlite3.Error as exc:
                raise self._error(exc) from exc
        return found

    def get(self, key: str) -> str | None:
        """The stored answer of one key, or None."""
        return self.get_many([key]).get(key)

    def put_many(self, items: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        """Store answers, replacing any under the same keys, in one transaction.

        Args:
            items: Key to answer, as a mapping or as pairs.
        """
        pairs = list(items.items() if isinstance(items, Mapping) else items)
        if not pairs:
            return
        for key, answer in pairs:
            if not isinstance(key, str) or not isinstance(answer, str):
                raise InputError(
                    f"Answer cache entries must be text keys and text answers, got "
                    f"{type(key).__name__} -> {type(answer).__name__}; pass strings."
                )
        now = time.time()
        with self._lock:
            connection = self._connect()
            try:
                # IMMEDIATE takes the write lock up front, so two writers queue on the busy
                # timeout instead of failing on a lock upgrade.
                connection.execute("BEGIN IMMEDIATE")
                try:
                    connection.executemany(
                        "INSERT OR REPLACE INTO answers (key, answer, created) VALUES (?, ?, ?)",
                        [(key, answer, now) for key, answer in pairs],
                    )
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    def __len__(self) -> int:
        with self._lock:
            try:
                row = self._connect().execute("SELECT COUNT(*) FROM answers").fetchone()
            except sqlite3.Error as exc:
                raise self._error(exc) from exc
        return int(row[0])

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def clear(self) -> None:
        """Delete every stored answer."""
        with self._lock:
            try:
                self._connect().execute("DELETE FROM answers")
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    def close(self) -> None:
        """Close this process's connection; a later call opens a new one."""
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AnswerCache({str(self._path)!r})"


def keys_for(
    backend_name: str, conversations: Sequence[Conversation], settings: GenerationSettings
) -> list[str]:
    """The cache keys of a batch of conversations, in order."""
    return [answer_key(backend_name, conversation, settings) for conversation in conversations]
