"""Every packaged prompt and template (YAML files beside this module), read through one reader."""

from __future__ import annotations

from vlad.prompts.files import read_prompt_yaml

__all__ = ["read_prompt_yaml"]
