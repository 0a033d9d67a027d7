"""What a run used, written beside what it wrote: ``run.yaml``.

A run that writes outputs (maps, a memory folder, a rule set, per-frame judgements) records
its resolved settings, its command line, the versions of vlad, torch, open_clip and Python,
and when it started and ended, so a result can be traced to what made it. Versions are read
from the installed package metadata: nothing here imports torch.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path, PurePath
from typing import Any

import yaml

from vlad.utils.io import atomic_write_text

RUN_FILE = "run.yaml"

# Distribution names of the libraries whose versions change results (open_clip's wheel is
# published as open_clip_torch).
_DISTRIBUTIONS = {"vlad": "vlad", "torch": "torch", "open_clip": "open_clip_torch"}


def utc_now() -> str:
    """The current time in UTC as an ISO 8601 string with seconds (``2026-01-31T12:00:00Z``)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def package_versions() -> dict[str, str | None]:
    """Versions of vlad, torch, open_clip and Python, None for a library not installed.

    Returns:
        ``{"vlad": ..., "torch": ..., "open_clip": ..., "python": "3.11.7"}``.
    """
    versions: dict[str, str | None] = {}
    for name, distribution in _DISTRIBUTIONS.items():
        try:
            versions[name] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[name] = None
    if versions["vlad"] is None:  # a source tree run without installing
        from vlad import __version__

        versions["vlad"] = __version__
    versions["python"] = platform.python_version()
    return versions


def plain(value: Any) -> Any:
    """A setting as plain YAML data: paths as strings, tuples as lists, dataclasses as dicts.

    Args:
        value: A setting value (nested mappings and sequences are converted too).

    Returns:
        The value built from str, int, float, bool, None, lists and dicts only; anything
        else becomes its ``str``.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, PurePath):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset):
        return [plain(v) for v in value]
    return str(value)


def run_info(
    *,
    settings: Mapping[str, Any],
    command: Sequence[str],
    started: str,
    ended: str | None = None,
) -> dict[str, Any]:
    """The record of one run, as written to ``run.yaml``.

    Args:
        settings: The resolved settings (after the config file and the flags).
        command: The command line, program name first (``["vlad", "detect", ...]``).
        started: Start time, UTC ISO 8601 (see :func:`utc_now`).
        ended: End time, UTC ISO 8601; default: now.

    Returns:
        A mapping with ``command``, ``settings``, ``versions``, ``started`` and ``ended``.
    """
    return {
        "command": [str(part) for part in command],
        "settings": plain(dict(settings)),
        "versions": package_versions(),
        "started": started,
        "ended": ended or utc_now(),
    }


def is_run_record(path: str | Path) -> bool:
    """Whether a file is a ``run.yaml`` that vlad wrote (so a new run may replace it).

    Args:
        path: The file.

    Returns:
        True when it is a YAML mapping with vlad's ``command``, ``settings`` and
        ``versions`` keys; False for anything else (a user's own file of that name).
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and {"command", "settings", "versions"} <= set(data)


def write_run_info(
    target: str | Path,
    *,
    settings: Mapping[str, Any],
    command: Sequence[str],
    started: str,
    ended: str | None = None,
) -> Path | None:
    """Write a run record atomically (a stopped write leaves the old file).

    Args:
        target: A folder the run wrote its outputs to (``run.yaml`` goes inside it), or
            the record's own path (ending in ``.yaml``).
        settings: The resolved settings (after the config file and the flags).
        command: The command line, program name first.
        started: Start time, UTC ISO 8601.
        ended: End time, UTC ISO 8601; default: now.

    Returns:
        The path of the file written, or None when a file of that name exists that vlad did
        not write (it is left as it is).
    """
    path = Path(target)
    if path.suffix != ".yaml":
        path = path / RUN_FILE
    if path.exists() and not is_run_record(path):
        return None
    record = run_info(settings=settings, command=command, started=started, ended=ended)
    return atomic_write_text(path, yaml.safe_dump(record, sort_keys=False, allow_unicode=True))
