"""``vlad prompts show``: what a learned-prompts file holds, and what it was made for.

Thin: read the file with :func:`vlad.scoring.learned.checkpoint.load_prompts` and print its
tensor shapes, settings, the CLIP it was trained for and how it was trained (``--json``: the
same as one JSON object). Registered in :func:`vlad.cli.main.build_parser` by
:func:`add_prompts_commands`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_prompts_commands(commands: Any) -> None:
    """Add ``vlad prompts show`` to the ``vlad`` command's subparsers.

    Args:
        commands: The subparsers action of the ``vlad`` parser.
    """
    prompts = commands.add_parser(
        "prompts",
        help="show learned prompt files (AnomalyCLIP)",
        description=(
            "Inspect learned prompts: the folder 'vlad train prompts' wrote, its "
            "prompts.safetensors, or an AnomalyCLIP authors' .pth checkpoint. Use them with "
            "'vlad detect IMAGE --method anomalyclip --learned-prompts FILE_OR_DIR'."
        ),
    )
    actions = prompts.add_subparsers(dest="prompts_command", metavar="ACTION")
    actions.required = True
    show = actions.add_parser(
        "show", help="print the shapes, settings, CLIP and training provenance of prompts"
    )
    show.add_argument(
        "file",
        type=Path,
        metavar="FILE_OR_DIR",
        help="prompts folder, prompts.safetensors/.json, or the authors' .pth",
    )
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(handler=_run_show)


def prompts_record(prompts: Any) -> dict[str, Any]:
    """What ``vlad prompts show --json`` prints for loaded prompts.

    Args:
        prompts: A :class:`~vlad.scoring.learned.checkpoint.LearnedPrompts`.

    Returns:
        ``path``, ``format``, ``clip`` (name and fingerprint), ``tensors`` (name -> shape),
        ``parameters`` (learnable numbers in all), ``settings`` and ``provenance``.
    """
    from vlad.config.files import to_dict

    tensors = {name: list(tensor.shape) for name, tensor in prompts.state.items()}
    return {
        "path": str(prompts.path) if prompts.path is not None else None,
        "format": prompts.source_format,
        "clip": {"name": prompts.clip_name, "fingerprint": prompts.clip_fingerprint},
        "tensors": tensors,
        "parameters": int(sum(tensor.numel() for tensor in prompts.state.values())),
        "settings": to_dict(prompts.config),
        "provenance": dict(prompts.provenance),
    }


def format_prompts(record: dict[str, Any]) -> str:
    """The text ``vlad prompts show`` prints for a :func:`prompts_record`."""
    clip = record["clip"]
    fingerprint = clip["fingerprint"] or "not recorded (checked by token width on use)"
    lines = [
        f"{record['path']}: learned prompts ({record['format']} format), "
        f"{record['parameters']:,} learnable numbers",
        f"  CLIP        {clip['name'] or 'not recorded'}",
        f"  fingerprint {fingerprint}",
        "tensors:",
    ]
    lines += [
        f"  {name:<14} {' x '.join(str(n) for n in shape) or 'scalar'}"
        for name, shape in record["tensors"].items()
    ]
    lines.append("settings:")
    lines += [f"  {key:<16} {_value(value)}" for key, value in record["settings"].items()]
    provenance = record["provenance"]
    lines.append("provenance:" if provenance else "provenance: none recorded")
    lines += [f"  {key:<16} {_value(value)}" for key, value in sorted(provenance.items())]
    return "\n".join(lines)


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _run_show(args: argparse.Namespace) -> int:
    from vlad.scoring.learned.checkpoint import load_prompts

    record = prompts_record(load_prompts(args.file))
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        print(format_prompts(record))
    return 0
