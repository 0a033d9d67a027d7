"""Read an LLM prompt template: a packaged YAML by name, or a user's YAML file by path."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from vlad.errors import ConfigError


def read_prompt_yaml(name_or_path: str | os.PathLike[str], kind: str) -> tuple[Any, str]:
    """The parsed YAML of a prompt and where it came from.

    Args:
        name_or_path: A packaged prompt's name (``vlad/prompts/NAME.yaml``) or a YAML path.
        kind: What the prompt is for, in messages ("Perception", "Induction").

    Returns:
        The YAML data (not yet checked) and its source (the path, or the packaged name).

    Raises:
        ConfigError: The file is missing, unknown or not YAML.
    """
    text_path = str(name_or_path)
    if text_path.endswith((".yaml", ".yml")) or Path(text_path).is_file():
        path = Path(text_path)
        if not path.is_file():
            raise ConfigError(f"{kind} prompt file {path} does not exist; check the path.")
        text, source = path.read_text(encoding="utf-8"), str(path)
    else:
        packaged = resources.files("vlad") / "prompts" / f"{text_path}.yaml"
        if not packaged.is_file():
            raise ConfigError(
                f"Unknown {kind.lower()} prompt '{text_path}'; give a packaged prompt's name "
                "or a YAML file path."
            )
        text, source = packaged.read_text(encoding="utf-8"), text_path
    try:
        return yaml.safe_load(text), source
    except yaml.YAMLError:
        raise ConfigError(f"{kind} prompt file {source} is not valid YAML; fix it.") from None
