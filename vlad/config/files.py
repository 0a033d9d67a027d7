"""Configs as data: dataclasses to plain dicts, mappings and YAML files to dataclasses."""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Self

import yaml

from vlad.errors import ConfigError


def to_dict(config: Any) -> dict[str, Any]:
    """Return a dataclass config as a plain dict (tuples become lists)."""
    data = asdict(config)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def from_mapping(cls: type[Self], data: dict[str, Any]) -> Self:
    """Build a config dataclass from a mapping, refusing unknown keys by name."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"Unknown setting(s) {', '.join(unknown)} for {cls.__name__}; "
            f"known ones are {', '.join(sorted(names))}."
        )
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**values)


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

