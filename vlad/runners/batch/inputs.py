"""What a batch run explains: files, folders, globs, frame folders and manifest rows.

:func:`expand_inputs` turns the command's arguments (and a manifest) into
:class:`BatchInput` items with stable, unique ids (the names of their result files). An
argument or a manifest row that cannot become an input (a path that does not exist, a glob
that matches nothing, a row without a path, a rules file that is not there) becomes an
item carrying its one-sentence ``error``: the run records it and goes on.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["BatchInput", "expand_inputs", "make_id", "read_manifest"]

MANIFEST_COLUMNS = ("path", "id", "definitions", "scene", "rules", "memory")
"""Manifest columns: ``path`` is required, the others optional (per-row options)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class BatchInput:
    """One input of a batch run.

    Attributes:
        id: Stable unique id (the result file is ``results/<id>.json``).
        path: The image, video or frame folder, as given (manifest paths resolved against
            the manifest's folder).
        definitions: This row's definitions (None: the run's).
        scene: This row's scene (None: the run's).
        rules: This row's rule file (None: the run's).
        memory: This row's memory folder (None: the run's).
        error: Why the input cannot be analysed (one sentence), or None.
    """

    id: str
    path: str
    definitions: tuple[str, ...] | None = None
    scene: str | None = None
    rules: str | None = None
    memory: str | None = None
    error: str | None = None

    def options_key(self) -> tuple[Any, ...]:
        """The per-row options; inputs with equal keys run through one pipeline call."""
        return (self.definitions, self.scene, self.rules, self.memory)

    def row_settings(self) -> dict[str, Any]:
        """The settings of this input that enter its settings hash."""
        settings: dict[str, Any] = {"input": self.path}
        for name in ("definitions", "scene", "rules", "memory"):
            value = getattr(self, name)
            if value is not None:
                settings[name] = list(value) if isinstance(value, tuple) else value
        for name in ("rules", "memory"):  # an edited rule file or rebuilt memory re-runs
            value = getattr(self, name)
            if value is not None:
                settings[f"{name}_stamp"] = _stamp(Path(value))
        return settings


def make_id(text: str) -> str:
    """A file-name-safe id from a relative path or a manifest id.

    >>> make_id("videos/night 1/cam.mp4")
    'videos__night_1__cam.mp4'
    """
    parts = [p for p in re.split(r"[\\/]+", text.strip()) if p not in ("", ".", "..")]
    joined = "__".join(_UNSAFE.sub("_", p) for p in parts) or "input"
    joined = joined.lstrip("._-") or "input"
    if len(joined) > 150:  # long paths: keep the end (the file name), mark with a hash
        joined = f"{joined[-140:].lstrip('._-')}-{_short_hash(text)}"
    return joined


def expand_inputs(
    paths: Sequence[str],
    *,
    manifest: str | Path | None = None,
    frames_fps: float | None = None,
) -> list[BatchInput]:
    """The inputs of a batch run, in order, each with a stable unique id.

    Args:
        paths: Files, folders (walked recursively for images and videos; with
            ``frames_fps`` each folder is one video of frames) and glob patterns
            (``**`` walks folders).
        manifest: A CSV or JSON Lines file, one row per input (see :func:`read_manifest`).
        frames_fps: Read folders as videos of frames shot at this rate.

    Returns:
        The inputs; ones that cannot be analysed carry an ``error``. The same file given
        twice is one input.

    Raises:
        InputError: The manifest cannot be read at all (missing, not CSV/JSONL).
    """
    found: list[tuple[str, str, dict[str, Any]]] = []  # (path, id seed, row options)
    for raw in paths:
        found.extend(_expand_one(raw, frames_fps=frames_fps))
    rows = read_manifest(manifest) if manifest is not None else []
    items: list[BatchInput] = []
    used: set[str] = set()
    seen: set[tuple[str, tuple[Any, ...]]] = set()
    for path, seed, options in [*found, *rows]:
        error = options.pop("error", None)
        explicit = options.pop("explicit_id", False)
        item = BatchInput(id="", path=path, error=error, **options)
        key = (str(Path(path).resolve()) if path else seed, item.options_key())
        if error is None and key in seen:
            continue  # the same input with the same options, given twice
        seen.add(key)
        input_id = make_id(seed)
        if input_id in used:
            if explicit:
                item = BatchInput(
                    id="",
                    path=path,
                    error=f"Manifest id '{seed}' is used by another row; give each row its own id.",
                )
            input_id = f"{input_id}-{_short_hash(repr(key))}"
        while input_id in used:
            input_id = f"{input_id}-{_short_hash(input_id)}"
        used.add(input_id)
        items.append(BatchInput(**{**item.__dict__, "id": input_id}))
    return items


def read_manifest(manifest: str | Path) -> list[tuple[str, str, dict[str, Any]]]:
    """The rows of a manifest: (path, id seed, per-row options), bad rows with an error.

    A CSV has a header row; a JSON Lines file one object per line. Columns: ``path``
    (required; relative paths are read from the manifest's folder), and optionally ``id``,
    ``definitions`` (CSV: separated by ``|``; JSONL: a list or a string), ``scene``,
    ``rules`` (a rule file) and ``memory`` (a memory folder). Other columns (such as
    those of ``vlad data`` manifests) are ignored.

    Args:
        manifest: The ``.csv`` or ``.jsonl`` file.

    Returns:
        One entry per row; a row without a path, or naming a rules file or memory folder
        that does not exist, carries an ``error``.

    Raises:
        InputError: The file is missing, unreadable, or neither CSV nor JSON Lines.
    """
    from vlad.errors import InputError

    source = Path(manifest)
    suffix = source.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".json"):
        raise InputError(
            f"Manifest '{source}' is not a .csv or .jsonl file; give one of those.",
            param="manifest",
        )
    try:
        text = source.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(
            f"Manifest '{source}' does not exist; check the path.", param="manifest"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"Manifest '{source}' cannot be read ({type(exc).__name__}); check the file.",
            param="manifest",
        ) from None
    base = source.parent
    raw_rows: list[tuple[int, Mapping[str, Any] | None, str | None]] = []
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        for number, row in enumerate(reader, start=2):
            raw_rows.append((number, {k.strip().lower(): v for k, v in row.items() if k}, None))
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raw_rows.append((number, None, "is not valid JSON"))
                continue
            if not isinstance(row, dict):
                raw_rows.append((number, None, "is not a JSON object"))
                continue
            raw_rows.append((number, {str(k).lower(): v for k, v in row.items()}, None))
    return [_manifest_row(source, base, n, row, problem) for n, row, problem in raw_rows]


def _manifest_row(
    source: Path, base: Path, number: int, row: Mapping[str, Any] | None, problem: str | None
) -> tuple[str, str, dict[str, Any]]:
    where = f"{source.name} line {number}"
    seed = f"{source.stem}-line-{number}"
    if row is None:
        return "", seed, {"error": f"Manifest {where} {problem}; fix that line."}
    raw_id = _text(row.get("id"))
    if raw_id:
        seed = raw_id
    path_text = _text(row.get("path"))
    if not path_text:
        return (
            "",
            seed,
            {
                "error": f"Manifest {where} has no 'path'; add a path column (the input "
                "file) to every row.",
                "explicit_id": bool(raw_id),
            },
        )
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        path = base / path
    if not raw_id:
        seed = path_text
    options: dict[str, Any] = {"explicit_id": bool(raw_id)}
    definitions = row.get("definitions")
    if isinstance(definitions, str) and definitions.strip():
        options["definitions"] = tuple(d.strip() for d in definitions.split("|") if d.strip())
    elif isinstance(definitions, list) and definitions:
        options["definitions"] = tuple(str(d).strip() for d in definitions if str(d).strip())
    scene = _text(row.get("scene"))
    if scene:
        options["scene"] = scene
    for name, kind in (("rules", "rules file"), ("memory", "memory folder")):
        value = _text(row.get(name))
        if not value:
            continue
        target = Path(value).expanduser()
        if not target.is_absolute():
            target = base / target
        if not target.exists():
            options["error"] = (
                f"The {kind} '{value}' named in manifest {where} does not exist; fix the path."
            )
        options[name] = str(target)
    return str(path), seed, options


def _expand_one(raw: str, *, frames_fps: float | None) -> Iterable[tuple[str, str, dict[str, Any]]]:
    from vlad.media.image import IMAGE_EXTENSIONS
    from vlad.media.video import is_video_path

    path = Path(raw)
    if path.is_dir():
        if frames_fps is not None:
            return [(raw, path.resolve().name if raw in (".", "") else raw, {})]
        media = sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
            and (p.suffix.lower() in IMAGE_EXTENSIONS or is_video_path(p))
        )
        if not media:
            return [
                (
                    raw,
                    raw,
                    {"error": f"Folder '{raw}' holds no image or video files; check the path."},
                )
            ]
        return [(str(p), str(p.relative_to(path)), {}) for p in media]
    if path.exists() or path.is_symlink():
        return [(raw, path.name, {})]
    if _GLOB_CHARS.search(raw):
        matches = sorted(glob.glob(raw, recursive=True))
        if not matches:
            return [(raw, raw, {"error": f"Pattern '{raw}' matches no file; check the pattern."})]
        found: list[tuple[str, str, dict[str, Any]]] = []
        for match in matches:
            found.extend(
                (p, match if seed == Path(match).name else seed, o)
                for p, seed, o in _expand_one(match, frames_fps=frames_fps)
            )
        return found
    return [(raw, path.name or raw, {"error": f"File '{raw}' does not exist; check the path."})]


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:6]


def _stamp(path: Path) -> str | None:
    """Size and modification time of a file (or a folder's files): changes when it is edited."""
    try:
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        return _short_hash(
            ";".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
        )
    except OSError:
        return None
