"""Prompt sets as data, and the pure function that crosses them into an ensemble.

A prompt set names normal state words, anomalous state words and templates; the
ensemble is every state (with the object filled in) placed in every template. Sets ship
inside the package (``vlad/prompts/*.yaml``) and are loaded by name through the one prompt
reader (:func:`vlad.prompts.read_prompt_yaml`); a path to a YAML file of the same shape works
too (``prompts/README.md`` at the top of the repository shows the schema and examples).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vlad.errors import ConfigError
from vlad.prompts.files import packaged_prompt_names, read_prompt_yaml

WINCLIP_KIND = "WinCLIP"
"""The ``kind`` of a WinCLIP state list (``kind: winclip`` in its YAML)."""
SCENE_KIND = "Scene"
"""The ``kind`` of a scene template set (``kind: scene`` in its YAML)."""

_ARTICLE = re.compile(r"^(a|an|the)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class PromptSet:
    """Normal and anomalous state words plus templates, each with one ``{}`` slot.

    Attributes:
        name: Name of the set (the YAML's ``name``).
        normal_states: Phrases for a normal object; ``{}`` is the object.
        anomalous_states: Phrases for an anomalous object; ``{}`` is the object.
        templates: Sentences around a state phrase; ``{}`` is the phrase.
        version: Version of the set, bumped when its text changes.
    """

    name: str
    normal_states: tuple[str, ...]
    anomalous_states: tuple[str, ...]
    templates: tuple[str, ...]
    version: int = 1

    def __post_init__(self) -> None:
        for kind in ("normal_states", "anomalous_states", "templates"):
            items = getattr(self, kind)
            if not items:
                raise ConfigError(f"Prompt set '{self.name}' has no {kind}; add at least one.")
            for item in items:
                if item.count("{}") != 1:
                    raise ConfigError(
                        f"Prompt set '{self.name}': '{item}' in {kind} needs exactly one '{{}}'."
                    )


def available_prompt_sets() -> list[str]:
    """Names of the WinCLIP prompt sets shipped inside the package."""
    return packaged_prompt_names(WINCLIP_KIND)


def load_prompt_set(name_or_path: str | Path) -> PromptSet:
    """Load a packaged prompt set by name, or a YAML file of the same shape by path.

    Args:
        name_or_path: A packaged name such as ``"winclip"`` or a path to a YAML file with
            ``normal_states``, ``anomalous_states`` and ``templates`` lists.

    Returns:
        The prompt set.

    Raises:
        ConfigError: When the name is unknown, the file is missing or malformed.
    """
    data, source = _read_mapping(name_or_path, WINCLIP_KIND, "states and templates")
    lists = {}
    for key in ("normal_states", "anomalous_states", "templates"):
        value = data.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"Prompt file {source} needs '{key}' as a list of strings.")
        lists[key] = tuple(value)
    return PromptSet(
        name=str(data.get("name", Path(source).stem)),
        version=int(data.get("version", 1)),
        **lists,
    )


def _read_mapping(name_or_path: str | Path, kind: str, needs: str) -> tuple[dict, str]:
    """A prompt YAML read by the one reader (:func:`vlad.prompts.read_prompt_yaml`), as a dict."""
    data, source = read_prompt_yaml(name_or_path, kind)
    if not isinstance(data, dict):
        raise ConfigError(f"{kind} prompt file {source} must be a mapping with {needs}.")
    return data, source


def build_ensemble(
    prompt_set: PromptSet,
    class_name: str,
    *,
    definitions: tuple[str, ...] = (),
    normal: tuple[str, ...] = (),
    replace_states: bool = False,
) -> tuple[list[str], list[str]]:
    """Cross states with templates into the normal and anomalous prompt lists.

    Args:
        prompt_set: The state words and templates.
        class_name: The object filling each state's slot.
        definitions: User phrases for what is anomalous; added to the anomalous states, or
            used alone when ``replace_states`` is set.
        normal: User phrases for what is normal; treated like ``definitions`` for the
            normal side.
        replace_states: Use only the user's phrases (on each side that has any).

    Returns:
        ``(normal_prompts, anomalous_prompts)``, each state in every template, in the order
        state-major then template.
    """
    normal_states = [s.format(class_name) for s in prompt_set.normal_states]
    anomalous_states = [s.format(class_name) for s in prompt_set.anomalous_states]
    user_anomalous = [_fill(p, class_name) for p in definitions]
    user_normal = [_fill(p, class_name) for p in normal]
    if replace_states:
        anomalous_states = user_anomalous or anomalous_states
        normal_states = user_normal or normal_states
    else:
        anomalous_states += user_anomalous
        normal_states += user_normal
    return (
        [t.format(s) for s in normal_states for t in prompt_set.templates],
        [t.format(s) for s in anomalous_states for t in prompt_set.templates],
    )


def _fill(phrase: str, class_name: str) -> str:
    """A user's phrase as a state: ``{}`` becomes the object, a leading article is dropped.

    A phrase without ``{}`` is a whole description ("a person riding a bicycle") and is used
    as it is; the article goes because the templates bring their own ("a photo of a {}.").
    """
    phrase = _ARTICLE.sub("", " ".join(phrase.strip().split()))
    return phrase.replace("{}", class_name)


@dataclass(frozen=True)
class ScenePrompts:
    """Templates for text-defined scene scoring plus default normal and anomaly phrases.

    Attributes:
        name: Name of the set.
        templates: Sentences with one ``{}`` for a description.
        normal: Default normal descriptions (used when the user gives none).
        definitions: Default anomaly definitions (used when the user gives none).
        version: Version of the set.
    """

    name: str
    templates: tuple[str, ...]
    normal: tuple[str, ...]
    definitions: tuple[str, ...]
    version: int = 1

    def __post_init__(self) -> None:
        if not self.templates or not self.normal:
            raise ConfigError(f"Scene prompts '{self.name}' need templates and normal phrases.")
        for template in self.templates:
            if template.count("{}") != 1:
                raise ConfigError(
                    f"Scene prompts '{self.name}': template '{template}' needs exactly one '{{}}'."
                )

    def sentences(self, description: str) -> list[str]:
        """A description (article dropped) placed in every template."""
        phrase = _ARTICLE.sub("", " ".join(description.strip().split()))
        return [template.format(phrase) for template in self.templates]


def load_scene_prompts(name_or_path: str | Path = "video") -> ScenePrompts:
    """Load scene prompts by packaged name or from a YAML file.

    Args:
        name_or_path: ``"video"`` (packaged) or a path to a YAML file with ``templates``,
            ``normal`` and optionally ``definitions`` lists.

    Returns:
        The scene prompts.

    Raises:
        ConfigError: Unknown name, missing or malformed file.
    """
    data, source = _read_mapping(name_or_path, SCENE_KIND, "templates and normal phrases")
    lists = {}
    for key in ("templates", "normal", "definitions"):
        value = data.get(key, [] if key == "definitions" else None)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"Prompt file {source} needs '{key}' as a list of strings.")
        lists[key] = tuple(value)
    return ScenePrompts(
        name=str(data.get("name", Path(source).stem)),
        version=int(data.get("version", 1)),
        **lists,
    )
