"""Prompt sets as data, and the pure function that crosses them into an ensemble.

A prompt set names normal state words, anomalous state words and templates; the
ensemble is every state (with the object filled in) placed in every template. Sets ship
inside the package (``vlad/prompts/*.yaml``) and are loaded by name; a path to a YAML file
of the same shape works too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from vlad.errors import ConfigError

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
    """Names of the prompt sets shipped inside the package."""
    folder = resources.files("vlad") / "prompts"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


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
    data, source = _read_prompt_yaml(name_or_path)
    lists = {}
    for key in ("normal_states", "anomalous_states", "templates"):
        value = data.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"Prompt file '{source}' needs '{key}' as a list of strings.")
        lists[key] = tuple(value)
    return PromptSet(
        name=str(data.get("name", Path(source).stem)),
        version=int(data.get("version", 1)),
        **lists,
    )


def _read_prompt_yaml(name_or_path: str | Path) -> tuple[dict, str]:
    """Read a packaged prompt YAML by name, or a user's YAML file by path."""
    text_path = str(name_or_path)
    if text_path.endswith((".yaml", ".yml")) or Path(text_path).is_file():
        path = Path(text_path)
        if not path.is_file():
            raise ConfigError(f"Prompt file '{path}' does not exist; check the path.")
        text = path.read_text(encoding="utf-8")
        source = str(path)
    else:
        packaged = resources.files("vlad") / "prompts" / f"{text_path}.yaml"
        if not packaged.is_file():
            known = ", ".join(available_prompt_sets())
            raise ConfigError(f"Unknown prompt set '{text_path}'; use one of {known} or a path.")
        text = packaged.read_text(encoding="utf-8")
        source = text_path
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"Prompt file '{source}' is not valid YAML; fix it.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Prompt file '{source}' must be a mapping with states and templates.")
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
    data, source = _read_prompt_yaml(name_or_path)
    lists = {}
    for key in ("templates", "normal", "definitions"):
        value = data.get(key, [] if key == "definitions" else None)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"Prompt file '{source}' needs '{key}' as a list of strings.")
        lists[key] = tuple(value)
    return ScenePrompts(
        name=str(data.get("name", Path(source).stem)),
        version=int(data.get("version", 1)),
        **lists,
    )
