"""``vlad rules induce|import|show`` and the ``--rules``/``--vlm`` options of ``vlad detect``.

Thin: parse, build the models, call :mod:`vlad.reasoning.induction` or
:mod:`vlad.pipeline.rules`, print. Registered by :func:`add_rules_commands`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlad.cli.options import add_cache_option, add_llm_option, chat_backend, declare_outputs
from vlad.config.perception import DEFAULT_PERCEPTION_BUDGET, DEFAULT_PERCEPTION_FPS
from vlad.errors import ConfigError, InputError

if TYPE_CHECKING:
    from vlad.reasoning.perception import FrameCaptioner
    from vlad.reasoning.rules import RuleSet


EXIT_OK = 0
EXIT_INCOMPLETE = 1
"""``vlad rules induce`` wrote the file, but no induced anomaly rule survived."""


def add_rules_commands(commands: Any) -> None:
    """Add ``vlad rules`` to the subcommands, and ``--rules``/``--vlm`` to ``vlad detect``.

    Args:
        commands: The subparsers object of the ``vlad`` parser (its ``parser_class`` is
            used for the new parsers).
    """
    rules = commands.add_parser(
        "rules",
        help="induce, import and show rule sets (normal and anomaly rules, AnomalyRuler style)",
        description=(
            "A rule set lists normal and anomaly rules for one scene, as YAML you can read "
            "and edit. Induce one from normal references with an LLM, import the AnomalyRuler "
            "text format, or show one; apply it with 'vlad detect VIDEO --rules FILE'."
        ),
    )
    actions = rules.add_subparsers(dest="rules_command", metavar="ACTION", parser_class=type(rules))
    actions.required = True
    induce = actions.add_parser(
        "induce",
        help="write rules from normal frames, videos or a caption file with an LLM",
        description=(
            "Describe the normal references (images and video frames through --vlm; caption "
            "files as they are), ask the LLM per batch for normal rules, then for anomaly "
            "rules, per category, and keep the rules that at least half of the batches agree "
            "on (paraphrases merged by embedding similarity). Rules that echo the prompt, are "
            "cut off, contradict their kind or copy a caption are dropped first and counted; "
            "when no induced anomaly rule is left the file keeps your --define rules and the "
            "exit status is 1."
        ),
    )
    induce.add_argument(
        "--references",
        nargs="+",
        default=[],
        metavar="PATH",
        help="normal images, videos, folders, or caption files (.txt one per line, .jsonl)",
    )
    induce.add_argument("--out", required=True, type=Path, metavar="FILE", help="YAML to write")
    induce.add_argument("--scene", default=None, metavar="TEXT", help="the scene, in words")
    induce.add_argument("--batches", type=int, default=3, help="batches voted on")
    induce.add_argument("--per-batch", type=int, default=10, help="captions per batch")
    induce.add_argument(
        "--rules-per-answer", type=int, default=8, help="most rules asked per answer"
    )
    induce.add_argument(
        "--min-votes",
        type=int,
        default=None,
        help="batches a rule must come from (default: half, rounded up)",
    )
    induce.add_argument(
        "--merge-threshold",
        type=float,
        default=0.8,
        metavar="COS",
        help="similarity at which two rules are one",
    )
    induce.add_argument(
        "--define",
        action="append",
        default=[],
        metavar="TEXT",
        help="an anomaly of your own, added as a rule; repeatable",
    )
    add_llm_option(induce, default="offline")
    induce.add_argument(
        "--vlm", default=None, metavar="SPEC", help="vision-language model for images/videos"
    )
    induce.add_argument(
        "--frames-per-video", type=int, default=8, help="frames described per video"
    )
    induce.add_argument(
        "--perception-prompt", default="perception", metavar="NAME|FILE", help="VLM question"
    )
    induce.add_argument(
        "--induction-prompt", default="rule-induction", metavar="NAME|FILE", help="LLM prompts"
    )
    induce.add_argument("--embedder", default="minilm", metavar="SPEC", help="for merging")
    induce.add_argument("--max-new-tokens", type=int, default=128, help="per LLM answer")
    induce.add_argument("--seed", type=int, default=0, help="seed of the batch sampling")
    add_cache_option(induce)
    induce.add_argument("--force", action="store_true", help="replace an existing --out file")
    induce.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    induce.add_argument("--json", action="store_true", help="print the rule set as JSON")
    induce.set_defaults(handler=_run_induce)
    declare_outputs(induce, files=("out",))

    imported = actions.add_parser(
        "import", help="convert an AnomalyRuler rules.txt into a rule set YAML"
    )
    imported.add_argument("file", type=Path, metavar="FILE", help="rules in the paper's format")
    imported.add_argument("--out", required=True, type=Path, metavar="FILE", help="YAML to write")
    imported.add_argument("--scene", default=None, metavar="TEXT", help="the scene, in words")
    imported.add_argument(
        "--define", action="append", default=[], metavar="TEXT", help="add an anomaly rule"
    )
    imported.add_argument("--force", action="store_true", help="replace an existing --out file")
    imported.add_argument("--json", action="store_true", help="print the rule set as JSON")
    imported.set_defaults(handler=_run_import)
    declare_outputs(imported, files=("out",))

    show = actions.add_parser("show", help="list a rule set's rules, ids, votes and provenance")
    show.add_argument("file", type=Path, metavar="FILE", help="rule set (YAML or paper format)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_run_show)

    detect = commands.choices.get("detect")
    if detect is not None:
        group = detect.add_argument_group("rules")
        group.add_argument(
            "--rules",
            type=Path,
            default=None,
            metavar="FILE",
            help="apply a rule set to videos: anomaly rules as definitions, cited per interval",
        )
        group.add_argument(
            "--vlm",
            default=None,
            metavar="SPEC",
            help="with --rules: describe each interval's peak frame as evidence (with "
            "--perception: the sampled frames, judged against the rules)",
        )
        group.add_argument(
            "--perception-prompt",
            default="perception",
            metavar="NAME|FILE",
            help="with --vlm: the question asked about each frame",
        )
        group.add_argument(
            "--perception",
            choices=("every", "budget"),
            default=None,
            help="with --rules and --vlm: describe every frame sampled at --perception-fps "
            "and judge it against the rules (every), or only the frames where the CLIP "
            "tracks change or are near the threshold (budget) (default: only the peak "
            "frame of each interval, as evidence)",
        )
        group.add_argument(
            "--perception-fps",
            type=float,
            default=None,
            metavar="F",
            help="with --perception: frames per second sampled for description "
            f"(default: {DEFAULT_PERCEPTION_FPS:g})",
        )
        group.add_argument(
            "--perception-budget",
            type=float,
            default=None,
            metavar="B",
            help="with --perception budget: most VLM calls per sampled frame, in (0, 1] "
            f"(default: {DEFAULT_PERCEPTION_BUDGET:g})",
        )


def frame_captioner(spec: str, *, prompt: str = "perception", cache: bool = True) -> FrameCaptioner:
    """A captioner over the vision-language model a spec names, caching captions per frame."""
    from vlad.reasoning.perception import FrameCaptioner

    caption_cache = None
    if cache:
        from vlad.reasoning.cache import AnswerCache

        caption_cache = AnswerCache()
    return FrameCaptioner(chat_backend(spec, cache=cache), prompt=prompt, cache=caption_cache)


def _check_out(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise InputError(
            f"{path} already exists; pass --force to replace it or choose another --out."
        )
    if path.exists() and path.is_dir():
        raise InputError(f"{path} is a folder; give --out a file name such as rules.yaml.")


def _run_induce(args: argparse.Namespace) -> int:
    if not args.references:
        raise ConfigError(
            "vlad rules induce needs --references PATH (normal images, videos or a caption "
            "file); to convert an AnomalyRuler rules.txt use vlad rules import FILE."
        )
    _check_out(args.out, args.force)
    from vlad.config import InductionConfig
    from vlad.encoders.text import load_embedder
    from vlad.reasoning.induction import (
        InductionReport,
        collect_references,
        induce_rules,
        load_induction_prompt,
    )
    from vlad.reasoning.llm import GenerationSettings

    config = InductionConfig(
        scene=args.scene,
        batches=args.batches,
        per_batch=args.per_batch,
        rules_per_answer=args.rules_per_answer,
        min_votes=args.min_votes,
        merge_threshold=args.merge_threshold,
        definitions=tuple(args.define),
        prompt=args.induction_prompt,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
    )
    prompt = load_induction_prompt(config.prompt)
    settings = GenerationSettings(max_new_tokens=config.max_new_tokens)
    captioner = (
        frame_captioner(args.vlm, prompt=args.perception_prompt, cache=not args.no_cache)
        if args.vlm
        else None
    )
    references = collect_references(
        args.references, captioner=captioner, frames_per_video=args.frames_per_video
    )
    llm = chat_backend(args.llm, cache=not args.no_cache)
    embedder = load_embedder(args.embedder)
    from tqdm import tqdm

    report = InductionReport()
    with tqdm(
        total=args.batches,
        unit="batch",
        desc="inducing rules",
        disable=args.no_progress,
        file=sys.stderr,
    ) as bar:
        rule_set = induce_rules(
            references.captions,
            llm,
            embedder,
            config,
            prompt=prompt,
            settings=settings,
            references=[str(p) for p in args.references],
            progress=bar.update,
            report=report,
        )
    path = rule_set.save(args.out)
    dropped = sum(report.dropped.values())
    status = EXIT_OK
    if not report.kept["anomaly"]:
        # Only the user's definitions are anomaly rules: the file is written, but the
        # induction did not work, and the exit status says so.
        print(
            f"vlad: The LLM {llm.name} wrote no anomaly rule that passed the checks and the "
            f"vote (the checks dropped {dropped} of its rules"
            + (f": {report.drops()}" if dropped else "")
            + f"; {report.proposed['anomaly']} anomaly rules were left for the vote), so "
            f"{path} holds only your --define rules; use a stronger --llm, lower --min-votes "
            "or add --define rules.",
            file=sys.stderr,
        )
        status = EXIT_INCOMPLETE
    if args.json:
        print(json.dumps(rule_set.to_dict(), indent=2))
        return status
    votes = config.votes_needed
    print(
        f"Wrote {path}: {len(rule_set.normal())} normal and {len(rule_set.anomaly())} anomaly "
        f"rules from {len(references.captions)} captions ({args.batches} batches of "
        f"{min(args.per_batch, len(references.captions))}; kept with >= {votes} votes, "
        f"{report.proposed['normal'] + report.proposed['anomaly']} proposed, "
        f"{report.empty_answers} of {report.answers} answers unusable"
        + (f", {dropped} rules dropped by the checks: {report.drops()}" if dropped else "")
        + ")."
    )
    print(format_rule_set(rule_set))
    return status


def _run_import(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from vlad import __version__
    from vlad.reasoning.rules import load_rules

    _check_out(args.out, args.force)
    rule_set = load_rules(args.file) if not args.define else _load_any(args.file)
    provenance = {**rule_set.provenance, "imported_from": str(args.file), "vlad": __version__}
    rule_set = replace(rule_set, scene=args.scene or rule_set.scene, provenance=provenance)
    if args.define:
        rule_set = rule_set.with_definitions(args.define)
    path = rule_set.save(args.out)
    if args.json:
        print(json.dumps(rule_set.to_dict(), indent=2))
        return 0
    print(
        f"Wrote {path}: {len(rule_set.normal())} normal and {len(rule_set.anomaly())} "
        f"anomaly rules from {args.file}."
    )
    return 0


def _load_any(path: Path) -> RuleSet:
    """Load rules that may lack anomaly rules (definitions will add them)."""
    from vlad.reasoning.rules import load_rules

    try:
        return load_rules(path)
    except ConfigError as error:
        if "has no anomaly rules" not in str(error):
            raise
    from vlad.reasoning.rules import RuleSet, parse_rules_text

    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        return RuleSet.from_dict(yaml.safe_load(text), str(path))
    return parse_rules_text(text, str(path))


def _run_show(args: argparse.Namespace) -> int:
    from vlad.reasoning.rules import load_rules

    rule_set = load_rules(args.file)
    if args.json:
        print(json.dumps(rule_set.to_dict(), indent=2))
    else:
        print(f"{args.file}: {format_rule_set(rule_set)}")
    return 0


def format_rule_set(rule_set: RuleSet) -> str:
    """A rule set as text: a summary line, then rules by kind and category with ids."""
    lines = [
        f"{len(rule_set)} rules ({len(rule_set.normal())} normal, "
        f"{len(rule_set.anomaly())} anomaly)" + (f" for {rule_set.scene}" if rule_set.scene else "")
    ]
    provenance = rule_set.provenance
    shown = [
        f"{key} {provenance[key]}"
        for key in ("model", "batches", "per_batch", "min_votes", "captions", "imported_from")
        if key in provenance
    ]
    if shown:
        lines.append("  " + ", ".join(shown))
    for kind in ("normal", "anomaly"):
        for category in rule_set.categories(kind):  # type: ignore[arg-type]
            lines.append(f"{kind} / {category}:")
            for rule in rule_set.rules:
                if rule.kind == kind and rule.category == category:
                    extra = f"  (votes {rule.votes})" if rule.source == "induced" else ""
                    extra += "  (user)" if rule.source == "user" else ""
                    lines.append(f"  {rule.id:<28} {rule.text}{extra}")
    return "\n".join(lines)
