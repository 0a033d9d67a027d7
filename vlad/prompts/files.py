"""The one reader of prompt YAML: a packaged prompt by name, or a user's YAML file by path.

Every packaged prompt and template is a YAML file beside this module. Each names its
``kind`` (``winclip``, ``scene``, ``perception``, ``induction``, ``recall``, ``judge``,
``json``, ``answer``), so that a listing of one kind, and a check that a file is used for
what it was written for, need no table in code. A user's file may leave ``kind`` out.
"""

from __future__ import annotations

import os
import sys
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from vlad.errors import ConfigError

SUFFIXES = (".yaml", ".yml")


def packaged_prompt_dir() -> Traversable:
    """The folder of the packaged prompts (``vlad/prompts`` inside the installed package).

    It is looked up through this module's own package, so a folder named ``vlad`` in the
    working directory (which Python imports as a namespace package ahead of the installed
    one) does not hide it.

    Returns:
        The folder, as an :mod:`importlib.resources` traversable.

    Raises:
        ConfigError: The folder is missing; the sentence says when a ``vlad`` folder shadows
            the installed package.
    """
    try:
        folder = resources.files(__package__ or "vlad.prompts")
        if folder.is_dir() and folder.joinpath("files.py").is_file():
            return folder
    except (FileNotFoundError, ModuleNotFoundError, NotADirectoryError, TypeError):
        pass
    raise ConfigError(_missing_prompts_sentence())


def _missing_prompts_sentence() -> str:
    """Why the packaged prompts cannot be found, in one sentence."""
    top = sys.modules.get("vlad")
    if top is not None and getattr(top, "__file__", None) is None:
        where = ", ".join(str(p) for p in getattr(top, "__path__", [])) or "the working folder"
        return (
            f"The folder {where} shadows the installed vlad package (Python imported it "
            "instead, and it holds no packaged prompts); run from another folder or rename it."
        )
    return (
        "The packaged prompts (vlad/prompts/*.yaml) are missing from the installed vlad; "
        "reinstall it."
    )


def _kind_key(kind: str) -> str:
    return kind.strip().lower()


def _kind_word(kind: str) -> str:
    """The kind inside a sentence: "perception", but "WinCLIP" kept as written."""
    return kind.lower() if kind[1:].islower() else kind


def _declared_kind(text: str) -> str | None:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if isinstance(data, dict) and isinstance(data.get("kind"), str):
        return _kind_key(data["kind"])
    return None


def packaged_prompt_names(kind: str | None = None) -> list[str]:
    """Names of the packaged prompts, sorted; of one kind when ``kind`` is given.

    Args:
        kind: A kind such as ``"WinCLIP"`` or ``"perception"`` (case is ignored); a file
            that declares no kind is listed under every kind.

    Returns:
        The names (file stems), e.g. ``["winclip", "winclip-anomalib"]``.
    """
    names = []
    for item in packaged_prompt_dir().iterdir():
        if not item.name.endswith(SUFFIXES):
            continue
        if kind is not None:
            declared = _declared_kind(item.read_text(encoding="utf-8"))
            if declared is not None and declared != _kind_key(kind):
                continue
        names.append(item.name.rsplit(".", 1)[0])
    return sorted(names)


def read_prompt_yaml(name_or_path: str | os.PathLike[str], kind: str) -> tuple[Any, str]:
    """The parsed YAML of a prompt and where it came from.

    A value ending in ``.yaml``/``.yml``, or naming an existing file, is a path; anything
    else is the name of a packaged prompt (``vlad/prompts/NAME.yaml``).

    Args:
        name_or_path: A packaged prompt's name or a YAML path.
        kind: What the prompt is for, in messages ("Perception", "Induction", "WinCLIP",
            "Scene", "Recall", "Judge", "Answer"); a file whose ``kind`` key names another
            kind is refused.

    Returns:
        The YAML data (not yet checked) and its source (the path, or the packaged name).

    Raises:
        ConfigError: The file is missing, unknown, not YAML, or of another kind.
    """
    text_path = os.fspath(name_or_path)
    if text_path.endswith(SUFFIXES) or Path(text_path).is_file():
        path = Path(text_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"{kind} prompt file {path} does not exist; check the path.")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise ConfigError(f"{kind} prompt file {path} cannot be read as UTF-8 text.") from None
        source = str(path)
    else:
        folder = packaged_prompt_dir()
        candidates = [folder / f"{text_path}{suffix}" for suffix in SUFFIXES]
        packaged = next((c for c in candidates if c.is_file()), None)
        if packaged is None or not text_path or "/" in text_path:
            known = ", ".join(packaged_prompt_names(kind)) or "none"
            raise ConfigError(
                f"Unknown {_kind_word(kind)} prompt '{text_path}'; "
                f"use one of {known} or a YAML file path."
            )
        text, source = packaged.read_text(encoding="utf-8"), text_path
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"{kind} prompt file {source} is not valid YAML; fix it.") from None
    if isinstance(data, dict) and isinstance(data.get("kind"), str):
        declared = _kind_key(data["kind"])
        if declared != _kind_key(kind):
            raise ConfigError(
                f"{kind} prompt file {source} holds a {data['kind']} prompt (its 'kind'); "
                f"give a {_kind_word(kind)} prompt."
            )
    return data, source


def load_prompt_text(
    name_or_path: str | os.PathLike[str], kind: str, keys: tuple[str, ...]
) -> dict[str, str]:
    """The string fields ``keys`` of a prompt, each checked to be present and a string.

    Args:
        name_or_path: A packaged prompt's name or a YAML path.
        kind: What the prompt is for, in messages.
        keys: The fields wanted.

    Returns:
        Field -> text, plus ``name`` and ``version`` (as strings) and ``source``.

    Raises:
        ConfigError: The file is unreadable or a field is missing or not text.
    """
    data, source = read_prompt_yaml(name_or_path, kind)
    if not isinstance(data, dict):
        raise ConfigError(f"{kind} prompt file {source} must be a mapping of fields to text.")
    out: dict[str, str] = {}
    for key in keys:
        value = data.get(key)
        if not isinstance(value, str):
            raise ConfigError(f"{kind} prompt file {source} needs '{key}' as text.")
        out[key] = value
    out["name"] = str(data.get("name") or Path(source).stem)
    out["version"] = str(data.get("version", 1))
    out["source"] = source
    return out
