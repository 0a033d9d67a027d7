"""The ``vlad`` command line: parse, build configs, call the pipeline, print.

Errors reach the user as one sentence on stderr (``--debug`` shows the traceback). Exit
status: 0 when everything worked, 1 when some input failed (the others are still
processed), 2 when nothing could run (bad option, model or setting), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from vlad import __version__
from vlad.cli.demo import add_demo_command
from vlad.cli.eval import add_eval_commands
from vlad.cli.rules import add_rules_commands, video_detector
from vlad.errors import VladError

EXIT_OK = 0
EXIT_INPUT_FAILED = 1
EXIT_UNUSABLE = 2
EXIT_INTERRUPTED = 130

log = logging.getLogger("vlad")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one sentence and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_UNUSABLE, f"vlad: {message}; see '{self.prog} --help'.\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``vlad`` command and its subcommands."""
    parser = _Parser(prog="vlad", description="Explainable visual anomaly detection.")
    parser.add_argument("--version", action="version", version=f"vlad {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    detect = commands.add_parser(
        "detect",
        help="score images and videos for anomalies, zero-shot from text definitions",
        description=(
            "Score images (WinCLIP prompt ensembles; few-shot with --reference) and videos "
            "(each --define scored per sampled frame, smoothed, cut into intervals). One line "
            "per input (file, score, verdict; intervals under a video), or a JSON list "
            "with --json."
        ),
    )
    detect.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="image or video files, or folders (walked; a folder is one video with --frames-fps)",
    )
    detect.add_argument(
        "--class-name",
        default="object",
        help="what the images show, e.g. 'bottle' (default: object)",
    )
    detect.add_argument(
        "--define",
        action="append",
        default=[],
        metavar="TEXT",
        help="what counts as anomalous; repeatable; '{}' stands for the class name",
    )
    detect.add_argument(
        "--normal", action="append", default=[], metavar="TEXT", help="what is normal; repeatable"
    )
    detect.add_argument(
        "--replace-states",
        action="store_true",
        help="use only the --define/--normal phrases instead of adding them to the state words",
    )
    detect.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="IMG",
        help="normal reference image or folder (few-shot WinCLIP+); repeatable",
    )
    detect.add_argument("--threshold", type=float, default=0.5, help="anomalous at or above this")
    detect.add_argument("--prompts", default="winclip", help="prompt set name or YAML file")
    _add_clip_options(detect)
    detect.add_argument("--batch-size", type=int, default=8, help="images per forward pass")
    detect.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="refuse images with more pixels than this (default about 179 million)",
    )
    video = detect.add_argument_group("videos")
    video.add_argument(
        "--fps", type=float, default=2.0, help="frames per second to score (default 2)"
    )
    video.add_argument(
        "--segment-seconds", type=float, default=2.0, help="length of reported segments"
    )
    video.add_argument(
        "--smooth", type=float, default=1.0, metavar="SIGMA", help="Gaussian smoothing, seconds"
    )
    video.add_argument(
        "--low-threshold", type=float, default=None, help="keeps an interval open (threshold-0.1)"
    )
    video.add_argument(
        "--frames-fps",
        type=float,
        default=None,
        metavar="FPS",
        help="treat each folder as one video of its image frames, shot at FPS",
    )
    video.add_argument("--scene-prompts", default="video", help="scene prompt set or YAML file")
    video.add_argument(
        "--plot", type=Path, metavar="PNG", help="write the score timeline with intervals"
    )
    video.add_argument(
        "--memory",
        type=Path,
        metavar="DIR",
        help="score frames against a caption memory built with --embedder clip:ARCH@WEIGHTS "
        "(the same CLIP); its nearest captions explain each interval",
    )
    detect.add_argument("--json", action="store_true", help="print a JSON list of records")
    detect.add_argument(
        "--map-out",
        type=Path,
        metavar="DIR",
        help="write image maps (.npy + overlay PNG) and video peak-frame overlays",
    )
    detect.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    detect.set_defaults(handler=_run_detect)
    _add_memory_commands(commands)
    add_demo_command(commands)
    add_rules_commands(commands)
    add_eval_commands(commands)
    return parser


def _add_memory_commands(commands: Any) -> None:
    """``vlad memory build|show|query``: Flashback-style caption memories."""
    memory = commands.add_parser(
        "memory",
        help="build, inspect and query Flashback caption memories",
        description=(
            "A memory is a folder of normal and anomalous captions with their embeddings; a "
            "query's score is the similarity-weighted share of anomalous captions among its "
            "k nearest (anomalous similarities times alpha)."
        ),
    )
    actions = memory.add_subparsers(dest="memory_command", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    build = actions.add_parser(
        "build",
        help="make a memory folder from a caption file, or from an LLM given a scene",
        description=(
            'With --from-captions, each line of FILE is {"text": ..., "label": "normal" or '
            '"anomalous", "category": ... (optional)}. With --scene, an LLM writes normal and '
            "anomalous captions for the scene in rounds (repulsive prompting), until --size "
            "distinct captions or the round budget. The folder is written atomically."
        ),
    )
    source = build.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--from-captions",
        type=Path,
        metavar="FILE.jsonl",
        help="caption file, one JSON object per line",
    )
    source.add_argument(
        "--scene", metavar="TEXT", help="the scene the LLM writes captions for (Recall)"
    )
    recall = build.add_argument_group("LLM recall (with --scene)")
    recall.add_argument(
        "--define",
        action="append",
        default=[],
        metavar="TEXT",
        help="an anomalous event of your own, kept as an entry and asked about; repeatable",
    )
    recall.add_argument(
        "--llm",
        default=None,
        metavar="SPEC",
        help="offline (default), transformers:..., gguf:FILE, openai:URL#MODEL or vllm:MODEL",
    )
    recall.add_argument("--size", type=int, default=200, help="captions wanted (200)")
    recall.add_argument(
        "--rounds", type=int, default=None, help="round budget (default grows with --size)"
    )
    recall.add_argument("--seed", type=int, default=0, help="seed of the first round (0)")
    recall.add_argument(
        "--no-cache", action="store_true", help="do not answer repeated prompts from the cache"
    )
    build.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="memory folder to write"
    )
    build.add_argument(
        "--embedder",
        default="minilm",
        metavar="SPEC",
        help="minilm (default), st:PATH_OR_NAME or clip:ARCH@WEIGHTS",
    )
    build.add_argument(
        "--alpha",
        type=float,
        default=0.95,
        help="factor on anomalous similarities stored with the memory (0.95)",
    )
    build.add_argument(
        "--dedup",
        type=float,
        default=0.95,
        metavar="COS",
        help="drop a caption this similar to an earlier one of its label (0.95)",
    )
    build.add_argument("--no-dedup", action="store_true", help="keep near-duplicate captions")
    build.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    build.add_argument("--force", action="store_true", help="replace an existing DIR")
    build.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    build.add_argument("--json", action="store_true", help="print the summary as JSON")
    build.set_defaults(handler=_run_memory_build)
    show = actions.add_parser("show", help="counts, embedder and examples of a memory")
    show.add_argument("dir", type=Path, metavar="DIR", help="memory folder")
    show.add_argument("--examples", type=int, default=3, help="example captions per label")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_run_memory_show)
    query = actions.add_parser("query", help="score a text against a memory, with its neighbours")
    query.add_argument("dir", type=Path, metavar="DIR", help="memory folder")
    query.add_argument("--text", required=True, help="the text to score")
    query.add_argument("--k", type=int, default=10, help="neighbours (10)")
    query.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="factor on anomalous similarities (default: the memory's)",
    )
    query.add_argument(
        "--embedder",
        default=None,
        metavar="SPEC",
        help="default: the spec the memory was built with",
    )
    query.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    query.add_argument("--json", action="store_true", help="print JSON")
    query.set_defaults(handler=_run_memory_query)


def _run_memory_build(args: argparse.Namespace) -> int:
    from vlad.encoders.text import load_embedder
    from vlad.scoring.memory import (
        build_from_captions,
        ensure_new_folder,
        format_summary,
        summarize,
    )

    if args.scene is None and (args.define or args.llm or args.rounds is not None):
        raise VladError("--define, --llm and --rounds go with --scene, not --from-captions.")
    ensure_new_folder(args.out, overwrite=args.force)  # fail before the long embedding
    embedder = load_embedder(args.embedder, device=args.device)
    if args.scene is not None:
        return _recall_memory(args, embedder)
    index = build_from_captions(
        args.from_captions,
        embedder,
        alpha=args.alpha,
        dedup_threshold=None if args.no_dedup else args.dedup,
        embedder_spec=args.embedder,
        progress=not args.no_progress,
    )
    index.save(args.out, overwrite=args.force)
    summary = summarize(index)
    print(json.dumps(summary, ensure_ascii=False) if args.json else format_summary(summary))
    return EXIT_OK


def _recall_memory(args: argparse.Namespace, embedder: Any) -> int:
    """``vlad memory build --scene``: the LLM writes the captions (Flashback Recall)."""
    from vlad.reasoning.recall import RecallConfig, build_scene_memory
    from vlad.reasoning.registry import CachedBackend, load_backend
    from vlad.scoring.memory import format_summary, summarize

    config = RecallConfig(
        scene=args.scene,
        size=args.size,
        definitions=tuple(args.define),
        max_rounds=args.rounds,
        dedup_threshold=args.dedup if not args.no_dedup else 1.0,
        seed=args.seed,
    )
    backend = load_backend(args.llm)
    if not args.no_cache:
        from vlad.reasoning.cache import AnswerCache

        backend = CachedBackend(backend, AnswerCache())
    index, report = build_scene_memory(
        backend,
        embedder,
        config,
        alpha=args.alpha,
        embedder_spec=args.embedder,
        progress=not args.no_progress,
    )
    index.save(args.out, overwrite=args.force)
    print(f"vlad: {report.summary()}", file=sys.stderr)
    summary = summarize(index)
    if args.json:
        print(json.dumps({**summary, "recall": report.to_dict()}, ensure_ascii=False))
    else:
        print(format_summary(summary))
    return EXIT_OK


def _run_memory_show(args: argparse.Namespace) -> int:
    from vlad.scoring.memory import MemoryIndex, format_summary, summarize

    summary = summarize(MemoryIndex.load(args.dir), examples=args.examples)
    print(json.dumps(summary, ensure_ascii=False) if args.json else format_summary(summary))
    return EXIT_OK


def _run_memory_query(args: argparse.Namespace) -> int:
    from vlad.scoring.memory import MemoryIndex, format_query, load_query_embedder, query

    index = MemoryIndex.load(args.dir)
    embedder = load_query_embedder(index, args.embedder, device=args.device)
    [result] = query(index, args.text, embedder, k=args.k, alpha=args.alpha)
    print(json.dumps(result, ensure_ascii=False) if args.json else format_query(result))
    return EXIT_OK


def _add_clip_options(parser: argparse.ArgumentParser) -> None:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vlad`` command line and return its exit status.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status (also used by the console script).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="vlad: %(levelname)s: %(message)s",
    )
    if not args.debug:
        _quiet_libraries()
    try:
        return int(args.handler(args))
    except VladError as exc:
        if args.debug:
            raise
        print(f"vlad: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        print("vlad: stopped; results printed so far are complete.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"vlad: unexpected error ({type(exc).__name__}: {_one_line(str(exc))}); "
            "rerun with --debug and report it.",
            file=sys.stderr,
        )
        return EXIT_UNUSABLE


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quiet_libraries() -> None:
    """Keep third-party warnings (timm deprecations, open_clip notices) off a user's screen."""
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    for name in ("root", "open_clip", "timm", "transformers"):
        logging.getLogger(name if name != "root" else None).setLevel(logging.ERROR)
    logging.getLogger("vlad").setLevel(logging.WARNING)


def _run_detect(args: argparse.Namespace) -> int:
    from vlad.config import ClipConfig, VideoConfig, WinClipConfig
    from vlad.encoders.clip import load_clip
    from vlad.media.image import DEFAULT_MAX_PIXELS

    clip = ClipConfig(
        arch=args.clip, weights=args.clip_weights, device=args.device, precision=args.precision
    )
    max_pixels = args.max_pixels if args.max_pixels is not None else DEFAULT_MAX_PIXELS
    if max_pixels < 1:
        raise VladError(f"--max-pixels must be a positive number, got {max_pixels}.")
    images, videos, failures = _sort_inputs(args.paths, frames_fps=args.frames_fps)
    winclip = WinClipConfig(
        class_name=args.class_name,
        prompts=args.prompts,
        definitions=tuple(args.define),
        normal=tuple(args.normal),
        replace_states=args.replace_states,
        threshold=args.threshold,
    )
    video_config = VideoConfig(
        definitions=tuple(args.define),
        normal=tuple(args.normal),
        scene_prompts=args.scene_prompts,
        sample_fps=args.fps,
        segment_seconds=args.segment_seconds,
        smoothing_sigma_s=args.smooth,
        threshold=args.threshold,
        low_threshold=args.low_threshold,
        batch_size=args.batch_size,
        frames_fps=args.frames_fps,
    )
    references: list[Path] = []
    if args.reference:
        from vlad.media.image import iter_image_paths

        references = iter_image_paths(args.reference)
        if not references:
            raise VladError("The --reference folders hold no image files; check the paths.")

    encoder = load_clip(clip) if images or videos else None
    writer = _ResultWriter(sys.stdout, as_json=args.json)
    failed = bool(failures)
    try:
        for failure in failures:
            writer.failure(failure)
        if images and encoder is not None:
            failed |= _detect_images(args, encoder, winclip, references, max_pixels, images, writer)
        if videos and encoder is not None:
            failed |= _detect_videos(args, encoder, video_config, videos, writer)
    finally:
        writer.close()
    return EXIT_INPUT_FAILED if failed else EXIT_OK


def _sort_inputs(
    raw_paths: Sequence[str], *, frames_fps: float | None
) -> tuple[list[Path], list[Path], list[Any]]:
    """Split the command's paths into images, videos and inputs that cannot be found.

    A video file is a video; a folder is a video of frames when ``--frames-fps`` is given,
    else it is walked for images and video files.
    """
    from vlad.media.image import iter_image_paths
    from vlad.media.video import is_video_path
    from vlad.pipeline.image import DetectionFailure

    images: list[Path] = []
    videos: list[Path] = []
    failures: list[DetectionFailure] = []
    for raw in raw_paths:
        path = Path(raw)
        if path.is_dir() and frames_fps is not None:
            videos.append(path)
            continue
        if path.is_file() and is_video_path(path):
            videos.append(path)
            continue
        try:
            found = iter_image_paths([raw])
        except VladError as exc:
            failures.append(DetectionFailure(str(raw), str(exc)))
            continue
        found_videos = (
            sorted(p for p in path.rglob("*") if p.is_file() and is_video_path(p))
            if path.is_dir()
            else []
        )
        if not found and not found_videos:
            failures.append(
                DetectionFailure(
                    str(raw), f"Folder '{raw}' holds no image or video files; check the path."
                )
            )
        images.extend(found)
        videos.extend(found_videos)
    return images, videos, failures


def _detect_images(
    args: argparse.Namespace,
    encoder: Any,
    winclip: Any,
    references: Sequence[Path],
    max_pixels: int,
    images: Sequence[Path],
    writer: _ResultWriter,
) -> bool:
    """Score image files, printing each result as it comes; True when one failed."""
    from vlad.pipeline.image import DetectionFailure, ImageDetector

    detector = ImageDetector.from_encoder(
        encoder, winclip, references=references, batch_size=args.batch_size, max_pixels=max_pixels
    )
    show = not args.no_progress and (len(images) > 1 or any(Path(p).is_dir() for p in args.paths))
    progress = _progress(len(images), unit="img", enabled=show)
    stems = _unique_stems(images)
    failed = False
    try:
        for result in detector.detect_with_images([str(p) for p in images]):
            if isinstance(result, DetectionFailure):
                failed = True
                writer.failure(result)
            else:
                score, image = result
                writer.result(score)
                if args.map_out is not None and score.anomaly_map is not None:
                    from vlad.answer.render import write_map_files

                    write_map_files(args.map_out, stems[score.input], image, score.anomaly_map)
            progress.update(1)
    finally:
        progress.close()
    return failed


def _detect_videos(
    args: argparse.Namespace,
    encoder: Any,
    config: Any,
    videos: Sequence[Path],
    writer: _ResultWriter,
) -> bool:
    """Score videos one by one, printing each record when its video is done."""
    from vlad.media.video import probe_video
    from vlad.pipeline.image import DetectionFailure

    memory = None
    if args.memory is not None:
        from vlad.scoring.memory import MemoryIndex

        memory = MemoryIndex.load(args.memory)
    detector = video_detector(args, encoder, config, memory=memory)
    failed = False
    stems = _unique_stems(videos)
    for video in videos:
        try:
            info = probe_video(video, frames_fps=config.frames_fps)
        except VladError as exc:
            failed = True
            writer.failure(DetectionFailure(str(video), str(exc)))
            continue
        progress = _progress(
            round(info.duration_s, 1), unit="s", enabled=not args.no_progress, desc=video.name
        )
        reached = [0.0]

        def advance(time_s: float, bar: Any = progress, done: list[float] = reached) -> None:
            step = round(min(time_s, bar.total) - done[0], 1)
            if step > 0:
                bar.update(step)
                done[0] += step

        try:
            result, _ = detector.analyze(video, progress=advance, map_out=args.map_out)
        except VladError as exc:
            failed = True
            writer.failure(DetectionFailure(str(video), str(exc)))
            continue
        finally:
            progress.close()
        if result.stopped_early:
            print(f"vlad: {result.stopped_early}", file=sys.stderr)
        if args.plot is not None:
            from vlad.answer.render import plot_timeline

            target = (
                args.plot
                if len(videos) == 1
                else args.plot.with_name(f"{args.plot.stem}_{stems[str(video)]}{args.plot.suffix}")
            )
            plot_timeline(result, target)
        writer.video(result)
    return failed


class _ResultWriter:
    """Prints results as they come: text lines, or a JSON list closed at the end."""

    def __init__(self, stream: TextIO, *, as_json: bool) -> None:
        self.stream = stream
        self.as_json = as_json
        self.count = 0
        if as_json:
            stream.write("[")
            stream.flush()

    def result(self, score: Any) -> None:
        if self.as_json:
            self._json(score.to_record())
        else:
            self.stream.write(f"{score.input}\t{score.score:.4f}\t{score.label}\n")
            self.stream.flush()

    def video(self, result: Any) -> None:
        if self.as_json:
            self._json(result.to_record())
            return
        from vlad.pipeline.video import format_clock

        count = len(result.intervals)
        lines = [f"{result.input}\t{result.max_score:.4f}\t{result.label}\t{count} interval(s)"]
        for number, interval in enumerate(result.intervals):
            span = f"{format_clock(interval.start_s)}-{format_clock(interval.end_s)}"
            lines.append(f"  {span}\tpeak {interval.peak_score:.3f}\t{interval.definition}")
            evidence = result.evidence[number] if number < len(result.evidence) else ()
            lines.extend(
                f"    {n.label:<9}\tsim {n.similarity:.3f}\t{n.text}" for n in evidence[:3]
            )
            citation = result.citations[number] if number < len(result.citations) else None
            if citation is not None:
                lines.append(f"    rule {citation.rule_id}\t{citation.text}")
                if citation.caption is not None:
                    lines.append(
                        f"    seen {format_clock(citation.time_s or 0.0)}\t{citation.caption}"
                    )
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()

    def failure(self, failure: Any) -> None:
        print(f"vlad: {failure.error}", file=sys.stderr)
        if self.as_json:
            self._json(failure.to_record())

    def _json(self, record: dict[str, Any]) -> None:
        separator = "," if self.count else ""
        self.stream.write(f"{separator}\n  {json.dumps(record)}")
        self.stream.flush()
        self.count += 1

    def close(self) -> None:
        if self.as_json:
            self.stream.write("\n]\n" if self.count else "]\n")
            self.stream.flush()


def _progress(total: float, *, unit: str, enabled: bool, desc: str | None = None) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit=unit,
        desc=desc,
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=True,
        bar_format="{l_bar}{bar}| {n:.1f}/{total_fmt} {unit} [{elapsed}<{remaining}]"
        if unit == "s"
        else None,
    )


def _unique_stems(paths: Sequence[Path]) -> dict[str, str]:
    """A distinct output file stem per input path (``a/x.png`` and ``b/x.png`` differ)."""
    stems: dict[str, str] = {}
    used: set[str] = set()
    for path in paths:
        stem = path.stem
        if stem in used:
            parent = path.parent.name or "root"
            stem = f"{parent}__{path.stem}"
            counter = 2
            while stem in used:
                stem = f"{parent}__{path.stem}_{counter}"
                counter += 1
        used.add(stem)
        stems[str(path)] = stem
    return stems


if __name__ == "__main__":
    raise SystemExit(main())
