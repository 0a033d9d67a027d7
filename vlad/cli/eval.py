"""``vlad eval``: measure vlad on benchmark data.

- ``vlad eval captions``: frame AUC of rule deduction on captioned benchmark videos
  (:func:`vlad.runners.captions.evaluate_captions`).
- ``vlad eval explanations``: explanation texts against reference sentences.
- ``vlad eval images`` and ``vlad eval videos``: a manifest of ``vlad data prepare`` scored
  through the one pipeline into a resumable folder with results.json, results.md,
  inputs.csv and the ROC/PR curves (:mod:`vlad.runners.evaluation`). They take every
  scoring option of ``vlad detect``. Exit status as ``vlad batch``: 0 when every input was
  scored, 1 when some failed (the others count), 2 when nothing could run, 130 on Ctrl-C.

Thin: parse, call the runner, print. Registered by :func:`add_eval_commands`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from vlad.cli.eval_suite import add_eval_suite_commands
from vlad.cli.options import add_llm_option, chat_backend, declare_outputs
from vlad.reasoning.deduction.methods import METHODS
from vlad.utils.io import atomic_open
from vlad.utils.runinfo import utc_now

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
            "dataset's rules.txt, else rules induced by --llm from each video's first frames. "
            "Give the dataset as --root DIR --dataset NAME or as --manifest FILE.jsonl (from "
            "vlad data prepare anomalyruler)."
        ),
    )
    captions.add_argument("--root", type=Path, metavar="DIR", help="data folder")
    captions.add_argument("--dataset", metavar="NAME", help="e.g. ped2, avenue")
    captions.add_argument(
        "--manifest",
        type=Path,
        metavar="FILE.jsonl",
        help="instead of --root and --dataset: the manifest 'vlad data prepare anomalyruler' wrote",
    )
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
        default=32.0,
        metavar="FRAMES",
        help="perception smoothing width in frames (0 turns it off)",
    )
    captions.add_argument(
        "--video-norm",
        type=float,
        default=0.5,
        metavar="SHARE",
        help="share of each video's median rule margin subtracted (0 turns it off)",
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
    captions.add_argument(
        "--results",
        type=Path,
        metavar="FILE.json",
        help="also write the figures as a results.json that vlad eval table reads",
    )
    captions.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    captions.add_argument("--json", action="store_true", help="print the figures as JSON")
    captions.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    captions.set_defaults(handler=run_eval_captions)
    declare_outputs(captions, files=("out", "results"))
    add_explanations_command(actions)
    add_images_command(actions, commands)
    add_videos_command(actions, commands)
    add_eval_suite_commands(actions)  # vlad eval run, vlad eval table (eval_suite.py)


def run_eval_captions(args: argparse.Namespace) -> int:
    """Run ``vlad eval captions``; return the exit status."""
    from vlad.data.captions import dataset_rules_file
    from vlad.errors import ConfigError
    from vlad.runners.captions import CaptionParts, dataset_rules, evaluate_captions

    started = utc_now()
    if args.videos is not None and args.videos < 1:
        raise ConfigError(f"--videos must be at least 1, got {args.videos}.")
    if args.out is not None and args.out.exists() and args.out.is_dir():
        raise ConfigError(f"--out {args.out} is a folder; give a file name ending in .jsonl.")
    parts = None
    if args.out is not None:
        parts = CaptionParts(args.out)
        parts.check(param="out")
    root, name, dataset = _caption_source(args)
    videos = list(dataset.videos)
    if args.videos is not None:
        videos = videos[: args.videos]
    needs_llm = args.method in ("hybrid", "llm")
    has_rules = args.rules is not None or dataset_rules_file(root, name) is not None
    backend = chat_backend(args.llm) if needs_llm or not has_rules else None
    embedder = None
    if args.method in ("retrieval", "hybrid") or not has_rules:
        from vlad.encoders.text import load_embedder

        embedder = load_embedder(args.embedder, device=args.device)
    rules, how = dataset_rules(
        root,
        name,
        videos,
        rules_path=args.rules,
        llm=backend,
        embedder=embedder,
        definitions=args.define,
    )
    bar = _bar(enabled=not args.no_progress, desc=f"{name} {args.method}")

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
            video_norm=args.video_norm,
            progress=advance,
            skipped=dataset.skipped,
            parts=parts,
        )
    finally:
        bar.close()
    figures = {
        "dataset": name,
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
    if args.results is not None:  # the shared results.json schema (vlad eval table)
        from vlad.cli.options import settings_of
        from vlad.runners.evaluation.table import write_caption_results

        write_caption_results(
            args.results, figures, dataset=name, settings=settings_of(args), started=started
        )
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        print(format_figures(figures))
    return 0


def _caption_source(args: argparse.Namespace) -> tuple[Path, str, Any]:
    """The root, dataset name and caption dataset of --root/--dataset or of --manifest."""
    from vlad.data.anomalyruler import read_caption_manifest
    from vlad.data.captions import read_caption_dataset
    from vlad.errors import ConfigError

    if args.manifest is not None:
        if args.root is not None or args.dataset is not None:
            raise ConfigError(
                "--manifest names the dataset already; drop --root and --dataset, or drop "
                "--manifest."
            )
        manifest = read_caption_manifest(args.manifest)
        return manifest.root, manifest.dataset, manifest.captions
    if args.root is None or args.dataset is None:
        raise ConfigError(
            "Give the caption dataset as --root DIR --dataset NAME or as --manifest FILE.jsonl."
        )
    # warns of each video skipped
    return args.root, args.dataset, read_caption_dataset(args.root, args.dataset)


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


# --------------------------------------------------------------------------- images, videos


def _eval_run_options(parser: Any) -> None:
    """The options ``vlad eval images`` and ``vlad eval videos`` share (manifest, out, run)."""
    parser.add_argument(
        "--manifest",
        required=True,
        type=Path,
        metavar="FILE.jsonl",
        help="the manifest 'vlad data prepare' wrote",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="evaluation folder: results/<id>.json per input, results.json, results.md, "
        "inputs.csv, roc.png, pr.png, run.yaml; rerunning the same command resumes it",
    )
    parser.add_argument(
        "--split",
        default="test",
        choices=("train", "validation", "test", "all"),
        help="the manifest records to evaluate",
    )
    from vlad.cli.batch import add_workers_option

    run = parser.add_argument_group("run")
    add_workers_option(run)
    run.add_argument(
        "--retry-failed", action="store_true", help="score again the inputs that failed before"
    )
    run.add_argument("--json", action="store_true", help="print the figures as JSON")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    declare_outputs(parser, folders=("out",))


def add_images_command(actions: Any, commands: Any) -> None:
    """Add ``vlad eval images`` (every scoring option of ``vlad detect`` is copied).

    Args:
        actions: The subparsers action of the ``vlad eval`` parser.
        commands: The subparsers action of the ``vlad`` parser (holds ``detect``).
    """
    from vlad.cli.batch import copy_detect_options

    images = actions.add_parser(
        "images",
        help="image AUROC, AP, F1-max, pixel AUROC and AUPRO per category of a manifest",
        description=(
            "Score every test image of a manifest (vlad data prepare mvtec|visa ...) with "
            "WinCLIP or AnomalyCLIP (--method), keep each anomaly map at --map-size, and "
            "write image AUROC, AP, F1-max, pixel AUROC and AUPRO per category and their "
            "mean. The class name in the prompts is each image's category unless "
            "--class-name is given."
        ),
    )
    copy_detect_options(commands, images)
    name = images._option_string_actions["--class-name"]
    name.default = None
    name.help = "one class name for every image (default: each image's manifest category)"
    images.add_argument(
        "--map-size",
        type=int,
        default=256,
        metavar="PIXELS",
        help="side of the kept maps and masks the pixel figures are computed on",
    )
    _eval_run_options(images)
    images.set_defaults(handler=run_eval_images)


def add_videos_command(actions: Any, commands: Any) -> None:
    """Add ``vlad eval videos`` (every scoring option of ``vlad detect`` is copied).

    Args:
        actions: The subparsers action of the ``vlad eval`` parser.
        commands: The subparsers action of the ``vlad`` parser (holds ``detect``).
    """
    from vlad.cli.batch import copy_detect_options

    videos = actions.add_parser(
        "videos",
        help="frame AUC and AP of a manifest's videos, pooled over all frames and per video",
        description=(
            "Score every test video or frame folder of a manifest (vlad data prepare "
            "ped2|avenue|shanghaitech|ubnormal|ucf_crime|xd_violence) with text "
            "definitions (--define), --rules or --memory, interpolate each video's scores "
            "onto its labelled frames, and write frame AUC and AP pooled over all frames "
            "(XD-Violence reports AP), per category and per video. Frame folders are read "
            "at the manifest's fps (--frames-fps when a record has none)."
        ),
    )
    copy_detect_options(commands, videos)
    videos.add_argument(
        "--scene", default=None, metavar="TEXT", help="what the cameras show, in words"
    )
    _eval_run_options(videos)
    videos.set_defaults(handler=run_eval_videos)


def _check_run_options(args: argparse.Namespace) -> None:
    from vlad.errors import ConfigError
    from vlad.runners.batch.store import check_out_dir

    check_out_dir(args.out, param="out")  # before any model is loaded
    if args.workers < 0:
        raise ConfigError(
            f"workers must be a whole number >= 0, got {args.workers}.", param="workers"
        )
    if getattr(args, "vlm", None) and getattr(args, "rules", None) is None:
        raise ConfigError("--vlm describes the frames that rules cite; add --rules FILE.")


def _finish(args: argparse.Namespace, run: Any) -> int:
    """Print what the run did and its figures; return the exit status."""
    import sys

    summary = run.scoring.summary
    if run.interrupted:
        from vlad.cli.batch import EXIT_INTERRUPTED, _exit_if_threads_busy

        print(
            f"vlad: stopped: {summary.line()}; rerun the same command to finish the rest.",
            file=sys.stderr,
        )
        _exit_if_threads_busy()  # a decoding thread mid-input must not hold the exit
        return EXIT_INTERRUPTED
    results = run.results
    print(
        f"vlad: {results.scored} of {results.inputs} input(s) scored, {results.failed} failed "
        f"({summary.done} scored now, {summary.skipped + summary.skipped_failed} already "
        f"done); figures in {args.out / 'results.json'}",
        file=sys.stderr,
    )
    if args.json:
        print(json.dumps(results.headline(), ensure_ascii=False))
    else:
        from vlad.runners.evaluation.outputs import results_table

        print(results_table(results), end="")
    return int(run.exit_status())


def _say(text: str) -> None:
    import sys

    print(f"vlad: {text}", file=sys.stderr)


def run_eval_images(args: argparse.Namespace) -> int:
    """Run ``vlad eval images``; return the exit status."""
    from vlad.cli.detect import _for_cli, pipeline_config
    from vlad.errors import VladError
    from vlad.runners.batch.local import BatchOptions
    from vlad.runners.evaluation.images import evaluate_images

    _check_run_options(args)
    config, references = pipeline_config(
        argparse.Namespace(**{**vars(args), "class_name": args.class_name or "object"})
    )
    options = BatchOptions(
        retry_failed=args.retry_failed, workers=args.workers, progress=not args.no_progress
    )
    try:
        run = evaluate_images(
            args.manifest,
            args.out,
            config=config,
            references=references,
            class_name=args.class_name,
            map_size=args.map_size,
            split=None if args.split == "all" else args.split,
            options=options,
            say=_say,
        )
    except VladError as exc:
        raise _for_cli(exc) from exc
    return _finish(args, run)


def run_eval_videos(args: argparse.Namespace) -> int:
    """Run ``vlad eval videos``; return the exit status."""
    from vlad.cli.detect import _for_cli, pipeline_config
    from vlad.errors import VladError
    from vlad.runners.batch.local import BatchOptions
    from vlad.runners.evaluation.videos import evaluate_videos

    _check_run_options(args)
    config, _references = pipeline_config(args)
    rules_file = getattr(args, "rules", None)
    captioner = None
    if getattr(args, "vlm", None):
        from vlad.cli.rules import frame_captioner

        captioner = frame_captioner(args.vlm, prompt=args.perception_prompt)
    options = BatchOptions(
        retry_failed=args.retry_failed,
        workers=args.workers,
        progress=not args.no_progress,
        scene=args.scene,
        rules=str(rules_file) if rules_file is not None else None,
        memory=str(args.memory) if args.memory is not None else None,
        captioner=captioner,
    )
    try:
        run = evaluate_videos(
            args.manifest,
            args.out,
            config=config,
            frames_fps=args.frames_fps,
            split=None if args.split == "all" else args.split,
            options=options,
            say=_say,
        )
    except VladError as exc:
        raise _for_cli(exc) from exc
    return _finish(args, run)
