"""Configs as data: dataclasses to plain dicts, mappings and YAML files to dataclasses."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from vlad.errors import ConfigError

T = TypeVar("T")


def to_dict(config: Any) -> dict[str, Any]:
    """Return a dataclass config as a plain dict (tuples become lists, sub-configs dicts).

    Args:
        config: A config dataclass instance.

    Returns:
        Field name -> plain value; :func:`from_mapping` turns it back into the config.
    """
    return {k: _plain(v) for k, v in asdict(config).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def check_known_keys(cls: type, data: Mapping[str, Any], *, where: str | None = None) -> None:
    """Refuse a mapping key that is not a field of a config dataclass, by name.

    Args:
        cls: The config dataclass.
        data: The mapping whose keys should be field names.
        where: Where the mapping comes from, for the message (default: the class name).

    Raises:
        ConfigError: A key is not a field; the message names it and the known ones.
    """
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(map(str, data)) - names)
    if unknown:
        raise ConfigError(
            f"Unknown setting(s) {', '.join(unknown)} for {where or cls.__name__}; "
            f"known ones are {', '.join(sorted(names))}.",
            param=unknown[0],
        )


def from_mapping(cls: type[T], data: Mapping[str, Any]) -> T:
    """Build a config dataclass from a mapping, refusing unknown keys by name.

    Lists become tuples; a nested mapping given for a field whose type is itself a config
    dataclass (``clip: {arch: ...}`` in a config holding a ``ClipConfig``) becomes that
    sub-config, built the same way.

    Args:
        cls: The config dataclass.
        data: Field name -> value (as read from YAML).

    Returns:
        The config, checked by its ``__post_init__``.

    Raises:
        ConfigError: An unknown key (named, with the known ones), or a value the config's
            checks refuse.
    """
    check_known_keys(cls, data)
    kinds = _field_types(cls)
    values: dict[str, Any] = {}
    for key, value in data.items():
        nested = _dataclass_in(kinds.get(key))
        if nested is not None and isinstance(value, Mapping):
            values[key] = from_mapping(nested, value)
        elif isinstance(value, list):
            values[key] = tuple(value)
        else:
            values[key] = value
    return cls(**values)


def _field_types(cls: type) -> dict[str, Any]:
    """Field name -> its resolved type (annotations are strings under ``from __future__``)."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation naming a type only imported for checking
        hints = {}
    return {f.name: hints.get(f.name, f.type) for f in fields(cls)}


def _dataclass_in(kind: Any) -> type | None:
    """The dataclass a field type names, also inside ``X | None``; None when it names none."""
    if isinstance(kind, type) and is_dataclass(kind):
        return kind
    for arg in typing.get_args(kind):
        if isinstance(arg, type) and is_dataclass(arg):
            return arg
    return None


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from a file, with a one-sentence error when it is not one."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"Config file '{path}' does not exist; check the path.") from None
    except IsADirectoryError:
        raise ConfigError(f"Config file '{path}' is a folder; name a YAML file.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"Config file '{path}' is not UTF-8 text; save it as YAML.") from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" near line {line + 1}" if line is not None else ""
        raise ConfigError(f"Config file '{path}' is not valid YAML{where}; fix it.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Config file '{path}' must hold a mapping of settings.")
    return data
