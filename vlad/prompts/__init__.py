"""Every packaged prompt and template (YAML files beside this module), read through one reader."""

from __future__ import annotations

from vlad.prompts.files import (
    load_prompt_text,
    packaged_prompt_dir,
    packaged_prompt_names,
    read_prompt_yaml,
)

__all__ = ["load_prompt_text", "packaged_prompt_dir", "packaged_prompt_names", "read_prompt_yaml"]
