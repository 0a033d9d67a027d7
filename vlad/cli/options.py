"""Options every ``vlad`` command shares, and the rules that make the CLI a surface over configs.

- :class:`VladParser`: a parser whose errors are one sentence (exit status 2) and whose
  ``--help`` shows every option's default.
- :func:`add_clip_options`, :func:`add_llm_option`, :func:`add_cache_option`: shared options;
  :func:`chat_backend`: the one factory of a chat backend that answers repeated questions
  from the answer cache.
- :func:`add_config_option` and :func:`parse_args`: ``--config FILE.yaml`` for every command.
  The file holds the command's settings by their long option names (``clip-weights`` or
  ``clip_weights``) or as nested config sections (``video: {sample_fps: 4}``); flags given
  on the command line override it.
- :func:`declare_outputs`, :func:`check_outputs` and :func:`write_run_files`: what a command
  writes, checked before any work starts, with ``run.yaml`` beside every output.
- :data:`PARAM_FLAGS` and :func:`surface_names`: library errors name parameters
  (``sample_fps``), the CLI names flags (``--fps``).

Nothing here imports torch or a model.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlad.errors import ConfigError

if TYPE_CHECKING:
    from vlad.reasoning.llm import ChatBackend

EXIT_UNUSABLE = 2

#: A library parameter (as the Python API names it) -> the ``vlad`` flag that sets it.
#: ``section.field`` entries name a field of a nested config section; a plain name holds for
#: every section. A parameter not listed is the flag of its name with dashes
#: (``batch_size`` -> ``--batch-size``).
PARAM_FLAGS: dict[str, str] = {
    "arch": "--clip",
    "clip.arch": "--clip",
    "weights": "--clip-weights",
    "clip.weights": "--clip-weights",
    "sample_fps": "--fps",
    "frames_fps": "--frames-fps",
    "segment_seconds": "--segment-seconds",
    "smoothing_sigma_s": "--smooth",
    "low_threshold": "--low-threshold",
    "scene_prompts": "--scene-prompts",
    "definitions": "--define",
    "definition": "--define",
    "normal": "--normal",
    "class_name": "--class-name",
    "replace_states": "--replace-states",
    "references": "--reference",
    "embedder": "--embedder",
    "embedder_spec": "--embedder",
    "llm": "--llm",
    "vlm": "--vlm",
    "rules": "--rules",
    "rules_path": "--rules",
    "memory": "--memory",
    "max_pixels": "--max-pixels",
    "max_rounds": "--rounds",
    "recall.max_rounds": "--rounds",
    "dedup_threshold": "--dedup",
    "recall.dedup_threshold": "--dedup",
    "induction.prompt": "--induction-prompt",
    "pipeline.answer_prompts": "--answer-prompts",
    "limits.max_upload_mb": "--max-upload-mb",
    "max_upload_mb": "--max-upload-mb",
    "max_video_seconds": "--max-video-seconds",
    "per_batch": "--per-batch",
    "min_votes": "--min-votes",
    "merge_threshold": "--merge-threshold",
    "rules_per_answer": "--rules-per-answer",
    "frames_per_video": "--frames-per-video",
    "max_new_tokens": "--max-new-tokens",
    "smooth": "--smooth",
    "sigma_s": "--smooth",
    "llm_budget": "--llm-budget",
    "video_norm": "--video-norm",
    "captioner": "--vlm",
    "perception.mode": "--perception",
    "perception.fps": "--perception-fps",
    "perception.budget": "--perception-budget",
    "backend": "--llm",
    "spec": "--embedder",
    "texts": "--text",
    "overwrite": "--force",
    "folder": "--out",
    "prompt": "--induction-prompt",
    "mixed_precision": "--precision",
    "root": "--data",
}

#: Nested sections a config file may hold -> the config dataclass whose fields they set
#: (``"module:Name"``, imported when a file uses the section).
CONFIG_SECTIONS: dict[str, str] = {
    "clip": "vlad.config:ClipConfig",
    "video": "vlad.config:VideoConfig",
    "image": "vlad.config:WinClipConfig",
    "pipeline": "vlad.config:PipelineConfig",
    "limits": "vlad.config:DemoLimits",
    "recall": "vlad.config.reasoning:RecallConfig",
    "induction": "vlad.config.reasoning:InductionConfig",
    "deduction": "vlad.config.reasoning:DeductionConfig",
    "perception": "vlad.config:PerceptionConfig",
}

#: The sections each command's ``--config`` file may hold (by the command's ``prog``).
COMMAND_SECTIONS: dict[str, tuple[str, ...]] = {
    "vlad detect": ("pipeline", "clip", "video", "image", "perception"),
    "vlad batch": ("pipeline", "clip", "video", "image", "perception"),
    "vlad demo": ("pipeline", "clip", "video", "image", "limits"),
    "vlad memory build": ("recall",),
    "vlad rules induce": ("induction",),
    "vlad eval captions": ("deduction",),
    "vlad eval images": ("pipeline", "clip", "video", "image"),
    "vlad eval videos": ("pipeline", "clip", "video", "image"),
}

#: Section fields set by a flag that says the opposite (``scene_prior: false`` is
#: ``--no-scene-prior``).
_INVERTED_FLAGS: dict[str, str] = {"deduction.scene_prior": "--no-scene-prior"}

_OUTPUTS = "_run_outputs"
_COMMAND_PARSER = "_command_parser"


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help text with every option's default, unless the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        says_it = "(default" in text.lower() or text.lower().startswith("default:")
        if says_it or action.required or action.default is argparse.SUPPRESS:
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            default = action.default
            if (isinstance(default, list | tuple) and not default) or default is None:
                shown = "none"
            else:
                shown = "%(default)s"
            return f"{text} (default: {shown})" if text else f"(default: {shown})"
        return text


class VladParser(argparse.ArgumentParser):
    """An argument parser whose errors are one sentence (exit status 2); help shows defaults."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print the parse error as one sentence pointing at ``--help``; exit with status 2."""
        self.exit(EXIT_UNUSABLE, f"vlad: {message}; see '{self.prog} --help'.\n")


# --- shared options --------------------------------------------------------------------


def add_clip_options(parser: argparse.ArgumentParser | Any) -> None:
    """Add ``--clip``, ``--clip-weights``, ``--device`` and ``--precision`` (a CLIP to load).

    Args:
        parser: The parser or argument group of the command.
    """
    from vlad.config import DEFAULT_CLIP_ARCH, DEFAULT_CLIP_WEIGHTS

    parser.add_argument(
        "--clip", default=DEFAULT_CLIP_ARCH, metavar="ARCH", help="open_clip architecture"
    )
    parser.add_argument(
        "--clip-weights",
        default=os.environ.get("VLAD_CLIP_WEIGHTS", DEFAULT_CLIP_WEIGHTS),
        metavar="WEIGHTS",
        help=(
            "pretrained tag (fetched from the hub), a .safetensors/.pt file, or "
            "local-dir:FOLDER (default: $VLAD_CLIP_WEIGHTS or laion400m_e31)"
        ),
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--precision", default="auto", help="auto, fp32, fp16 or bf16")


def add_method_options(parser: argparse.ArgumentParser | Any) -> None:
    """Add ``--method``, ``--learned-prompts`` and ``--image-size`` (which image scorer).

    Args:
        parser: The parser or argument group of the command.
    """
    from vlad.config.pipeline import IMAGE_METHODS

    parser.add_argument(
        "--method",
        choices=IMAGE_METHODS,
        default="winclip",
        help="image scorer: winclip (prompt ensemble) or anomalyclip (learned prompts, "
        "which also draw the peak-frame maps of videos)",
    )
    parser.add_argument(
        "--learned-prompts",
        default=None,
        metavar="FILE_OR_DIR",
        help="prompts for --method anomalyclip: the folder 'vlad train prompts' wrote, its "
        "prompts.safetensors, or the authors' .pth",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        metavar="N",
        help="AnomalyCLIP input side in pixels (default: the size the prompts were trained at)",
    )


def add_llm_option(
    parser: argparse.ArgumentParser | Any, *, default: str | None = None, help: str | None = None
) -> None:
    """Add ``--llm SPEC``: the chat model a command asks.

    Args:
        parser: The parser or argument group of the command.
        default: The spec used without the flag (None: the registry's offline default).
        help: The help text (default: the specs the registry knows).
    """
    text = help or "offline, transformers:NAME, gguf:FILE, openai:URL#MODEL or vllm:MODEL"
    if default is None:
        text += " (default: offline)"
    parser.add_argument("--llm", default=default, metavar="SPEC", help=text)


def add_cache_option(parser: argparse.ArgumentParser | Any) -> None:
    """Add ``--no-cache``: ask the model again instead of answering from the answer cache.

    Args:
        parser: The parser or argument group of the command.
    """
    parser.add_argument(
        "--no-cache", action="store_true", help="do not answer repeated prompts from the cache"
    )


def chat_backend(spec: str | None, *, cache: bool = True) -> ChatBackend:
    """The chat backend a spec names, answering repeated questions from the answer cache.

    Args:
        spec: A backend spec (``offline``, ``transformers:...``, ``openai:URL#MODEL`` ...);
            None for the registry's default.
        cache: Answer a prompt asked before from the on-disk cache
            (``$VLAD_CACHE_DIR``).

    Returns:
        The backend, wrapped in the cache when ``cache`` is True.
    """
    from vlad.reasoning.registry import CachedBackend, load_backend

    backend = load_backend(spec)
    if not cache:
        return backend
    from vlad.reasoning.cache import AnswerCache

    return CachedBackend(backend, AnswerCache())


# --- --config ---------------------------------------------------------------------------


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--config FILE.yaml`` to a command (done for every command by ``build_parser``).

    The file's settings become the command's defaults in :func:`parse_args`; flags given on
    the command line override them.

    Args:
        parser: The parser of one command (a leaf: ``vlad detect``, ``vlad memory build``).
    """
    if any("--config" in action.option_strings for action in parser._actions):
        return
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE.yaml",
        help="YAML file of this command's settings by their long option names (or nested "
        "config sections, e.g. 'video: {sample_fps: 4}'); flags given here override them",
    )


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--config`` to every command below a parser (every parser without subcommands).

    Args:
        parser: The ``vlad`` parser.
    """
    for leaf in _leaf_parsers(parser):
        add_config_option(leaf)


def declare_outputs(
    parser: argparse.ArgumentParser, *, folders: Sequence[str] = (), files: Sequence[str] = ()
) -> None:
    """Say which options of a command name what it writes, so ``run.yaml`` goes beside them.

    Args:
        parser: The command's parser.
        folders: Destinations (``args`` names) of options naming an output folder
            (``run.yaml`` goes inside it).
        files: Destinations of options naming an output file (``run.yaml`` goes in the
            file's folder).
    """
    kinds = [(dest, "folder") for dest in folders] + [(dest, "file") for dest in files]
    parser.set_defaults(**{_OUTPUTS: tuple(kinds)})


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse, before any work, an output a run could not write (its results lost at the end).

    Each output a command declared (:func:`declare_outputs`) is checked: a folder output
    must not be a file, a file output must not be a folder, no folder above either may be
    a file, and the nearest existing folder must be writable. An existing output file is
    fine (it is replaced atomically); so is an existing output folder (the command decides
    what it may replace there).

    Args:
        args: The parsed options (from :func:`parse_args`).

    Raises:
        ConfigError: One sentence naming the flag and the path, for the first output that
            cannot be written.
    """
    for dest, path, kind in _declared_outputs(args):
        problem = _output_problem(path, kind)
        if problem is not None:
            flag = surface_names(command_parser(args)).get(dest, "--" + dest.replace("_", "-"))
            raise ConfigError(f"{flag} '{getattr(args, dest)}' {problem}.")


def _declared_outputs(args: argparse.Namespace) -> Iterator[tuple[str, Path, str]]:
    """(destination, path, ``folder`` or ``file``) of each output the run was given."""
    for dest, kind in getattr(args, _OUTPUTS, ()):
        value = getattr(args, dest, None)
        if value is not None:
            yield dest, Path(value), kind


def _output_problem(path: Path, kind: str) -> str | None:
    """Why an output path cannot be written (words after the path), or None when it can."""
    if kind == "folder" and path.exists() and not path.is_dir():
        return "is a file, not a folder; choose another folder"
    if kind == "file" and path.is_dir():
        return "is a folder; give a file name"
    existing = path if kind == "folder" and path.is_dir() else path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot be written: '{existing}' is a file, not a folder; choose another path"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot be written: folder '{existing}' is not writable; choose another path"
    return None


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """Parse a command line, the command's ``--config`` file filling what the flags leave.

    Args:
        parser: The ``vlad`` parser (from ``build_parser``).
        argv: Arguments without the program name.

    Returns:
        The options: flags first, then the config file's settings, then the defaults.

    Raises:
        ConfigError: The config file cannot be read, is not a mapping, or names a setting
            the command does not have (the message names it and the known ones), or a
            value of the wrong kind.
    """
    argv = list(argv)
    leaf = _command_of(parser, argv)
    source = _config_path(argv)
    appended: dict[str, Any] = {}
    if source is not None and _has_option(leaf, "--config"):
        from vlad.config import load_yaml

        resolved = config_settings(leaf, load_yaml(source), source=str(source))
        appended = _apply_defaults(leaf, resolved)
    args = parser.parse_args(argv)
    for dest, value in appended.items():
        if getattr(args, dest, None) is None:
            setattr(args, dest, value)
    setattr(args, _COMMAND_PARSER, leaf)
    return args


def config_settings(
    parser: argparse.ArgumentParser, data: Mapping[str, Any], *, source: str = "config"
) -> dict[str, Any]:
    """Turn a config file's mapping into the command's option values, by destination.

    Args:
        parser: The command's parser.
        data: The file's mapping: long option names (dashes or underscores) and nested
            sections (``clip``, ``video``, ``image`` ...: see :data:`COMMAND_SECTIONS`).
        source: The file's name, for messages.

    Returns:
        Option destination -> value, converted as the option's type does.

    Raises:
        ConfigError: An unknown setting or section field, a setting this command has no
            option for, a value of the wrong kind, or one option set twice differently.
    """
    options = _option_table(parser)
    sections = sections_of(parser)
    resolved: dict[str, Any] = {}
    where: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):  # options take single values or lists: a section
            if str(key) not in sections:
                raise _unknown(key, parser, options, sections, source)
            _put_section(parser, options, str(key), value, resolved, where, source)
            continue
        action = options.get(str(key).replace("_", "-"))
        if action is None:
            raise _unknown(key, parser, options, sections, source)
        _put(resolved, where, action, value, str(key), source)
    return resolved


def sections_of(parser: argparse.ArgumentParser) -> dict[str, type]:
    """The nested config sections a command's ``--config`` file may hold.

    Args:
        parser: The command's parser.

    Returns:
        Section name -> config dataclass (see :data:`COMMAND_SECTIONS`).
    """
    names = COMMAND_SECTIONS.get(parser.prog, ())
    found = {name: _section_type(name) for name in names}
    return {name: kind for name, kind in found.items() if kind is not None}


def _put_section(
    parser: argparse.ArgumentParser,
    options: Mapping[str, argparse.Action],
    name: str,
    data: Mapping[str, Any],
    resolved: dict[str, Any],
    where: dict[str, str],
    source: str,
) -> None:
    """Put a nested section's fields where the command's options would put them."""
    from vlad.config.files import check_known_keys

    section = _section_type(name.rsplit(".", 1)[-1])
    if section is None:
        raise _unknown(name, parser, options, sections_of(parser), source)
    check_known_keys(section, data, where=f"section '{name}' of config file '{source}'")
    for field_name, value in data.items():
        key = f"{name}.{field_name}"
        if isinstance(value, Mapping) and _section_type(str(field_name)) is not None:
            _put_section(parser, options, key, value, resolved, where, source)
            continue
        qualified = f"{name.rsplit('.', 1)[-1]}.{field_name}"
        inverted = qualified in _INVERTED_FLAGS
        flag = _INVERTED_FLAGS[qualified] if inverted else _flag_of(qualified)
        action = options.get(flag[2:])
        if action is None:
            raise ConfigError(
                f"Setting '{key}' of config file '{source}' has no option in "
                f"'{parser.prog}'; remove it (this command's options are "
                f"{', '.join(sorted(options))}).",
                param=key,
            )
        if inverted and isinstance(value, bool):
            value = not value
        _put(resolved, where, action, value, key, source)


def _unknown(
    key: Any,
    parser: argparse.ArgumentParser,
    options: Mapping[str, Any],
    sections: Mapping[str, type],
    source: str,
) -> ConfigError:
    more = f" (and the sections {', '.join(sections)})" if sections else ""
    return ConfigError(
        f"Config file '{source}' has an unknown setting '{key}' for '{parser.prog}'; known "
        f"ones are {', '.join(sorted(options))}{more}.",
        param=str(key),
    )


def _put(
    resolved: dict[str, Any],
    where: dict[str, str],
    action: argparse.Action,
    value: Any,
    key: str,
    source: str,
) -> None:
    converted = _convert(action, value, key, source)
    if action.dest in resolved and resolved[action.dest] != converted:
        raise ConfigError(
            f"Config file '{source}' sets {_flag_name(action)} twice ('{where[action.dest]}' "
            f"and '{key}') to different values; keep one.",
            param=key,
        )
    resolved[action.dest] = converted
    where[action.dest] = key


def _convert(action: argparse.Action, value: Any, key: str, source: str) -> Any:
    """A config value as the option's own parsing would have made it."""

    def wrong(kind: str) -> ConfigError:
        return ConfigError(
            f"Setting '{key}' of config file '{source}' must be {kind}, got {value!r}.",
            param=key,
        )

    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        if not isinstance(value, bool):
            raise wrong("true or false")
        return value
    many = isinstance(action, argparse._AppendAction) or action.nargs in (
        argparse.ONE_OR_MORE,
        argparse.ZERO_OR_MORE,
    )
    if many:
        items = list(value) if isinstance(value, list | tuple) else [value]
        return [_convert_one(action, item, wrong) for item in items]
    if isinstance(value, list | tuple | Mapping):
        raise wrong("a single value")
    return _convert_one(action, value, wrong)


def _convert_one(action: argparse.Action, value: Any, wrong: Any) -> Any:
    if value is None:
        return None
    kind = action.type
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong("a whole number")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong("a number")
        value = float(value)
    elif isinstance(value, Mapping | list | tuple):
        raise wrong("a single value")
    elif callable(kind):
        value = kind(str(value))
    else:
        value = str(value) if not isinstance(value, bool) else value
    if action.choices is not None and value not in action.choices:
        raise wrong(f"one of {', '.join(map(str, action.choices))}")
    return value


def _apply_defaults(parser: argparse.ArgumentParser, resolved: Mapping[str, Any]) -> dict[str, Any]:
    """Make the resolved settings the parser's defaults; return the repeatable ones.

    A repeatable option (``--define``) given on the command line replaces the file's list
    instead of adding to it, so its default becomes None and the list is filled in after
    parsing.
    """
    appended: dict[str, Any] = {}
    for action in parser._actions:
        if action.dest not in resolved:
            continue
        value = resolved[action.dest]
        if isinstance(action, argparse._AppendAction):
            action.default = None
            appended[action.dest] = value
        else:
            action.default = value
        action.required = False
        if not action.option_strings:  # a positional the file supplies becomes optional
            action.nargs = argparse.ZERO_OR_MORE if isinstance(value, list) else argparse.OPTIONAL
    for group in parser._mutually_exclusive_groups:
        if any(action.dest in resolved for action in group._group_actions):
            group.required = False
    return appended


def _option_table(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Setting name (long option without dashes, or a positional's name) -> its action."""
    table: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        if action.dest in ("config", argparse.SUPPRESS):
            continue
        longs = [s[2:] for s in action.option_strings if s.startswith("--")]
        if not action.option_strings:
            longs = [action.dest.replace("_", "-")]
        for name in longs:
            table[name] = action
        table.setdefault(action.dest.replace("_", "-"), action)
    return table


def _section_type(name: str) -> type | None:
    target = CONFIG_SECTIONS.get(name)
    if target is None:
        return None
    from importlib import import_module

    module, _, attribute = target.partition(":")
    try:
        found = getattr(import_module(module), attribute)
    except (ImportError, AttributeError):  # a section whose config moved or is not installed
        return None
    return found if is_dataclass(found) else None


def _flag_of(param: str) -> str:
    """The flag for a parameter (``sample_fps`` -> ``--fps``; ``video.sample_fps`` too)."""
    if param in PARAM_FLAGS:
        return PARAM_FLAGS[param]
    plain_name = param.rsplit(".", 1)[-1]
    return PARAM_FLAGS.get(plain_name, "--" + plain_name.replace("_", "-"))


def _flag_name(action: argparse.Action) -> str:
    longs = [s for s in action.option_strings if s.startswith("--")]
    return longs[0] if longs else action.dest


def _has_option(parser: argparse.ArgumentParser, flag: str) -> bool:
    return any(flag in action.option_strings for action in parser._actions)


def _config_path(argv: Sequence[str]) -> Path | None:
    """The value of ``--config`` on a command line, without parsing the rest."""
    for index, token in enumerate(argv):
        if token == "--":
            break
        if token == "--config" and index + 1 < len(argv):
            return Path(argv[index + 1])
        if token.startswith("--config="):
            return Path(token.split("=", 1)[1])
    return None


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    children = _subcommands(parser)
    if not children:
        return [parser]
    leaves: list[argparse.ArgumentParser] = []
    seen: set[int] = set()
    for child in children.values():
        if id(child) in seen:  # aliases share a parser
            continue
        seen.add(id(child))
        leaves.extend(_leaf_parsers(child))
    return leaves


def leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every command's parser below a parser (those without subcommands), in order.

    Args:
        parser: The ``vlad`` parser.

    Returns:
        The parsers of ``vlad detect``, ``vlad memory build`` ... each once.
    """
    return _leaf_parsers(parser)


def _command_of(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser of the command a command line runs (``memory build`` -> its parser)."""
    current = parser
    for token in argv:
        children = _subcommands(current)
        if not children:
            break
        if token in children:
            current = children[token]
    return current


# --- errors: parameters -> flags ---------------------------------------------------------


def surface_names(parser: argparse.ArgumentParser | None = None) -> dict[str, str]:
    """Parameter name -> the flag the CLI knows it by, for :meth:`VladError.for_surface`.

    Args:
        parser: The command's parser; with it, only flags this command has are used, and
            every option's destination names its own flag (``alpha`` -> ``--alpha``).

    Returns:
        The translation table.
    """
    if parser is None:
        return dict(PARAM_FLAGS)
    flags = {s for action in parser._actions for s in action.option_strings}
    names = {
        action.dest: _flag_name(action)
        for action in parser._actions
        if action.option_strings and action.dest not in (argparse.SUPPRESS, "help")
    }
    names.update({param: flag for param, flag in PARAM_FLAGS.items() if flag in flags})
    return names


def command_parser(args: argparse.Namespace) -> argparse.ArgumentParser | None:
    """The parser of the command :func:`parse_args` parsed (None for a namespace made else)."""
    return getattr(args, _COMMAND_PARSER, None)


# --- run.yaml ----------------------------------------------------------------------------


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """The resolved settings of a run: every option, without the CLI's own bookkeeping.

    Args:
        args: The parsed options.

    Returns:
        Option destination -> value.
    """
    return {
        key: value
        for key, value in sorted(vars(args).items())
        if not key.startswith("_") and key != "handler"
    }


def run_records(args: argparse.Namespace) -> list[Path]:
    """Where the run records of a run go, from the outputs its command declared.

    An output folder gets ``run.yaml`` inside it; an output file ``NAME.EXT`` gets
    ``NAME.run.yaml`` beside it (so two outputs in one folder, or a user's own ``run.yaml``
    there, are never overwritten).

    Args:
        args: The parsed options.

    Returns:
        Each record's path once, for the outputs that were written.
    """
    from vlad.utils.runinfo import RUN_FILE

    found: list[Path] = []
    for _dest, path, kind in _declared_outputs(args):
        if kind == "folder":
            record = path / RUN_FILE if path.is_dir() else None
        else:
            written = path.is_file() or any(path.parent.glob(f"{path.stem}_*{path.suffix}"))
            record = path.with_name(f"{path.stem}.{RUN_FILE}") if written else None
        if record is not None and record.resolve() not in {f.resolve() for f in found}:
            found.append(record)
    return found


def write_run_files(args: argparse.Namespace, argv: Sequence[str], *, started: str) -> list[Path]:
    """Write a run record beside every output the run wrote (see :func:`run_records`).

    A file of a record's name that vlad did not write is left alone, with a one-line note
    on stderr.

    Args:
        args: The parsed options (the command declared its outputs with
            :func:`declare_outputs`).
        argv: The command line without the program name.
        started: When the run started, UTC ISO 8601.

    Returns:
        The files written.
    """
    import sys

    from vlad.utils.runinfo import utc_now, write_run_info

    ended = utc_now()
    settings = settings_of(args)
    written: list[Path] = []
    for record in run_records(args):
        path = write_run_info(
            record, settings=settings, command=["vlad", *argv], started=started, ended=ended
        )
        if path is None:
            print(f"vlad: kept {record} (not a vlad run record); settings not recorded there.",
                  file=sys.stderr)  # fmt: skip
        else:
            written.append(path)
    return written
