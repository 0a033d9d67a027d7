"""``vlad eval captions``: frame AUC of rule deduction on captioned benchmark videos.

Thin: parse, load the dataset and rules, build the models the method needs, call
:func:`vlad.runners.captions.evaluate_captions`, print. Registered by :func:`add_eval_commands`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from vlad.cli.options import add_llm_option, chat_backend, declare_outputs
from vlad.reasoning.deduction.methods import METHODS
from vlad.utils.io import atomic_open

DEFAULT_METHOD = "retrieval"


def add_eval_commands(commands: Any) -> None:
    """Add ``vlad eval captions`` and ``vlad eval explanations`` to the ``vlad`` command.

    Args:
        commands: The subparsers action of the ``vlad`` parser.
    """
    evaluate = commands.add_parser(
        "eval",
        help="measure detection on benchmark data",
        description="Measure vlad on benchmark data with frame labels.",
    )
    actions = evaluate.add_subparsers(
        dest="eval_command", metavar="ACTION", parser_class=type(evaluate)
    )
    actions.required = True
    captions = actions.add_parser(
        "captions",
        help="judge per-frame captions against rules; print frame AUC, AP and cost",
        description=(
            "Judge every frame caption of a dataset in the AnomalyRuler layout "
            "(ROOT/NAME/test_frame/*.csv with labels, ROOT/NAME/test_frame_description/*.txt "
            "with one caption per frame) against a rule set, and print frame AUC, AP, LLM "
            "calls and tokens per frame and the wall time. Rules: --rules FILE, else the "
            "dataset's rules.txt, else rules induced by --llm from each video's first frames."
        ),
    )
    captions.add_argument("--root", required=True, type=Path, metavar="DIR", help="data folder")
    captions.add_argument("--dataset", required=True, metavar="NAME", help="e.g. ped2, avenue")
    captions.add_argument("--rules", type=Path, metavar="FILE", help="rules (YAML or rules.txt)")
    captions.add_argument(
        "--define",
        action="append",
        default=[],
        metavar="TEXT",
        help="add an anomaly rule in your words (repeatable)",
    )
    captions.add_argument(
        "--method",
        choices=METHODS,
        default=DEFAULT_METHOD,
        help=(
            "keywords: rule words counted; retrieval (default): clause retrieval of rules "
            "with the scene prior, no LLM; hybrid: retrieval plus LLM checks of the least "
            "certain frames; llm: the LLM judges every distinct caption"
        ),
    )
    add_llm_option(
        captions,
        help="chat model for hybrid/llm or induction: offline, transformers:..., gguf:FILE, "
        "openai:URL#MODEL, vllm:MODEL",
    )
    captions.add_argument("--embedder", default="minilm", metavar="SPEC", help="text embedder")
    captions.add_argument(
        "--smooth",
        type=float,
        default=16.0,
        metavar="FRAMES",
        help="perception smoothing width in frames (0 turns it off)",
    )
    captions.add_argument(
        "--llm-budget",
        type=float,
        default=0.05,
        metavar="CALLS",
        help="hybrid: most LLM calls per frame, double checks included",
    )
    captions.add_argument(
        "--no-scene-prior",
        action="store_true",
        help="do not take the scene's frequent clauses as normal references",
    )
    captions.add_argument(
        "--videos", type=int, default=None, metavar="N", help="only the first N videos"
    )
    captions.add_argument(
        "--out",
        type=Path,
        metavar="FILE.jsonl",
        help=(
            "write one judgement per frame here; each video's result is kept in FILE.parts/ "
            "as soon as it is done, and a rerun with the same settings resumes from there"
        ),
    )
    captions.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    captions.add_argument("--json", action="store_true", help="print the figures as JSON")
    captions.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    captions.set_defaults(handler=run_eval_captions)
    declare_outputs(captions, files=("out",))
    add_explanations_command(actions)


def run_eval_captions(args: argparse.Namespace) -> int:
    """Run ``vlad eval captions``; return the exit status."""
    from vlad.data.captions import dataset_rules_file, read_caption_dataset
    from vlad.errors import ConfigError
    from vlad.runners.captions import CaptionParts, dataset_rules, evaluate_captions

    if args.videos is not None and args.videos < 1:
        raise ConfigError(f"--videos must be at least 1, got {args.videos}.")
    if args.out is not None and args.out.exists() and args.out.is_dir():
        raise ConfigError(f"--out {args.out} is a folder; give a file name ending in .jsonl.")
    parts = None
    if args.out is not None:
        parts = CaptionParts(args.out)
        parts.check(param="out")
    dataset = read_caption_dataset(args.root, args.dataset)  # warns of each video skipped
    videos = list(dataset.videos)
    if args.videos is not None:
        videos = videos[: args.videos]
    needs_llm = args.method in ("hybrid", "llm")
    has_rules = args.rules is not None or dataset_rules_file(args.root, args.dataset) is not None
    backend = chat_backend(args.llm) if needs_llm or not has_rules else None
    embedder = None
    if args.method in ("retrieval", "hybrid") or not has_rules:
        from vlad.encoders.text import load_embedder

        embedder = load_embedder(args.embedder, device=args.device)
    rules, how = dataset_rules(
        args.root,
        args.dataset,
        videos,
        rules_path=args.rules,
        llm=backend,
        embedder=embedder,
        definitions=args.define,
    )
    bar = _bar(enabled=not args.no_progress, desc=f"{args.dataset} {args.method}")

    def advance(share: float) -> None:
        bar.update(share * BAR_TOTAL - bar.n)

    try:
        figures, deductions = evaluate_captions(
            videos,
            rules,
            method=args.method,
            embedder=embedder,
            backend=backend,
            smooth=args.smooth,
            llm_budget=args.llm_budget,
            scene_prior=not args.no_scene_prior,
            progress=advance,
            skipped=dataset.skipped,
            parts=parts,
        )
    finally:
        bar.close()
    figures = {
        "dataset": args.dataset,
        **figures,
        "rules": how,
        "rule_count": {"anomaly": len(rules.anomaly()), "normal": len(rules.normal())},
        "llm": getattr(backend, "name", None),
        "embedder": args.embedder if embedder is not None else None,
    }
    if parts is not None:
        figures["parts"] = str(parts.folder)
    if args.out is not None:
        _write_frames(args.out, videos, deductions)
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        print(format_figures(figures))
    return 0


BAR_TOTAL = 1000
"""Steps of the caption bar: it shows the share of the work done (clauses embedded, captions
asked, frames judged), not a count of frames, so that it moves while clauses are embedded."""


def _bar(*, enabled: bool, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=BAR_TOTAL,
        disable=not enabled,
        desc=desc,
        leave=False,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}",
    )


def _write_frames(path: Path, videos: Any, deductions: Any) -> None:
    """One JSON line per frame, written to a temporary name and moved into place.

    A full disk or Ctrl-C leaves neither a half-written file nor the temporary one.
    """
    with atomic_open(path, "w") as stream:
        for video, frames in zip(videos, deductions, strict=True):
            for index, (label, deduction) in enumerate(zip(video.labels, frames, strict=True)):
                record = {"video": video.name, "frame": index, "label": int(label)}
                record.update(deduction.to_record())
                stream.write(json.dumps(record, ensure_ascii=False) + "\n")


def format_figures(figures: dict[str, Any]) -> str:
    """The figures of a caption evaluation as aligned lines for people."""

    def number(value: Any, digits: int = 3) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    lines = [
        f"dataset      {figures['dataset']} ({figures['videos']} videos, {figures['frames']} "
        "frames)",
        f"method       {figures['method']}",
        f"rules        {figures['rules']} ({figures['rule_count']['anomaly']} anomaly, "
        f"{figures['rule_count']['normal']} normal)",
        f"frame AUC    {number(figures['auc'])}",
        f"frame AP     {number(figures['ap'])}",
        f"accuracy     {number(figures['accuracy'])} (verdicts at score 0.5)",
        f"LLM calls    {figures['llm_calls_per_frame']:.4f} per frame"
        + (f" ({figures['llm']})" if figures.get("llm") else ""),
        f"LLM tokens   {figures['tokens_per_frame']:.2f} per frame",
        f"wall time    {figures['wall_s']:.1f} s",
    ]
    if figures.get("skipped_videos"):
        count = figures["skipped_videos"]
        lines.append(
            f"skipped      {count} video{'s' if count != 1 else ''} without captions "
            f"({', '.join(figures.get('skipped', []))})"
        )
    if figures.get("resumed_videos"):
        count = figures["resumed_videos"]
        lines.append(
            f"resumed      {count} video{'s' if count != 1 else ''} read back from "
            f"{figures.get('parts', 'the kept results')}"
        )
    if figures.get("scene_prior"):
        lines.append(
            f"scene prior  {figures.get('scene_references', 0)} frequent clauses as normal"
        )
    return "\n".join(lines)


def add_explanations_command(actions: Any) -> None:
    """Add ``vlad eval explanations`` to the ``vlad eval`` subparsers.

    Args:
        actions: The subparsers action of the ``vlad eval`` parser.
    """
    explanations = actions.add_parser(
        "explanations",
        help="score explanations against reference descriptions (BLEU, CIDEr-D, tIoU ...)",
        description=(
            "Score predicted explanations against reference descriptions, both in the UCA "
            'layout ({video: {"timestamps": [[start, end], ...], "sentences": [...]}}): '
            "BLEU-1..4, ROUGE-L and CIDEr-D as coco-caption computes them, the MiniLM cosine "
            "of paired sentences, and for timed sentences the temporal IoU and recall and "
            "precision at IoU 0.3, 0.5 and 0.7. Reference sentences are paired with "
            "predicted ones by their spans (in order when either side has no timestamps)."
        ),
    )
    explanations.add_argument(
        "--predictions", required=True, type=Path, metavar="FILE", help="predicted sentences"
    )
    explanations.add_argument(
        "--references", required=True, type=Path, metavar="FILE", help="reference sentences"
    )
    explanations.add_argument(
        "--embedder",
        default="minilm",
        metavar="SPEC",
        help="text embedder of the cosine similarity (minilm, st:PATH ...); none leaves it out",
    )
    explanations.add_argument("--device", default="cpu", help="auto, cpu, cuda or cuda:N")
    explanations.add_argument(
        "--meteor",
        action="store_true",
        help="add METEOR (coco-caption's, through pycocoevalcap; needs Java)",
    )
    explanations.add_argument(
        "--out", type=Path, metavar="FILE.json", help="write every figure and per-video figures"
    )
    explanations.add_argument("--json", action="store_true", help="print the figures as JSON")
    explanations.set_defaults(handler=run_eval_explanations)
    declare_outputs(explanations, files=("out",))


def run_eval_explanations(args: argparse.Namespace) -> int:
    """Run ``vlad eval explanations``; return the exit status."""
    from vlad.errors import ConfigError
    from vlad.runners.explanations import (
        evaluate_explanations,
        format_explanation_figures,
        load_explanations,
    )

    if args.out is not None and args.out.is_dir():
        raise ConfigError(f"--out {args.out} is a folder; give a file name ending in .json.")
    predictions = load_explanations(args.predictions, param="predictions")
    references = load_explanations(args.references, param="references")
    embedder = None
    if args.embedder.strip().lower() != "none":
        from vlad.encoders.text import load_embedder

        embedder = load_embedder(args.embedder, device=args.device)
    report = evaluate_explanations(
        predictions, references, embedder=embedder, with_meteor=args.meteor
    )
    if args.out is not None:
        record = {"figures": report.figures, "videos": report.videos}
        with atomic_open(args.out, "w") as stream:
            stream.write(json.dumps(record, ensure_ascii=False, indent=1) + "\n")
    if args.json:
        print(json.dumps(report.figures, ensure_ascii=False))
    else:
        print(format_explanation_figures(report.figures))
    return 0
