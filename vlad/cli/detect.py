"""``vlad detect``: score images, videos and frame folders, print one record per input.

Thin: parse, build the configs, call the pipeline, print. Registered by :func:`add_parser`;
:func:`run` is the handler. Exit status: 0 when every input was scored, 1 when some input
failed (the others are still processed), 2 when nothing could run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from vlad.errors import VladError

EXIT_OK = 0
EXIT_INPUT_FAILED = 1


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add ``vlad detect`` to the subcommands.

    Args:
        commands: The subparsers object of the ``vlad`` parser.

    Returns:
        The ``detect`` parser (``vlad rules`` adds its ``--rules``/``--vlm`` group to it).
    """
    from vlad.cli.options import add_clip_options, add_method_options, declare_outputs

    detect = commands.add_parser(
        "detect",
        help="score images and videos for anomalies, zero-shot from text definitions",
        description=(
            "Score images (WinCLIP prompt ensembles, few-shot with --reference; or learned "
            "prompts with --method anomalyclip) and videos "
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
    add_method_options(detect)
    add_clip_options(detect)
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
    detect.set_defaults(handler=run)
    declare_outputs(detect, folders=("map_out",), files=("plot",))
    return detect


def run(args: argparse.Namespace) -> int:
    """Run ``vlad detect`` with parsed options; return the exit status.

    Every input goes through :class:`vlad.pipeline.Pipeline`; each record printed is an
    :class:`~vlad.answer.explanation.Explanation` (``--json``: its ``to_record()``).
    """
    from vlad.errors import ConfigError

    config, references = pipeline_config(args)
    rules_file = getattr(args, "rules", None)
    vlm = getattr(args, "vlm", None)
    if vlm and rules_file is None:
        raise ConfigError("--vlm describes the frames that rules cite; add --rules FILE.")
    images, videos, failures = _sort_inputs(args.paths, frames_fps=args.frames_fps)
    writer = _ResultWriter(sys.stdout, as_json=args.json)
    failed = bool(failures)
    try:
        for failure in failures:
            writer.failure(failure)
        if images or videos:
            from vlad.pipeline import Pipeline

            pipeline = Pipeline.from_config(config)
            if images:
                failed |= _detect_images(args, pipeline, references, images, writer)
            if videos:
                failed |= _detect_videos(args, pipeline, videos, writer, rules_file, vlm)
    except VladError as exc:
        raise _for_cli(exc) from exc
    finally:
        writer.close()
    return EXIT_INPUT_FAILED if failed else EXIT_OK


def pipeline_config(args: argparse.Namespace) -> tuple[Any, list[Path]]:
    """The pipeline settings and reference images the scoring options ask for.

    Shared by ``vlad detect`` and ``vlad batch`` (which takes the same scoring options).

    Args:
        args: The parsed options of ``vlad detect`` (or a command with its options).

    Returns:
        The :class:`~vlad.config.PipelineConfig` (``llm`` None) and the reference images.

    Raises:
        VladError: A bad setting or reference folder (one sentence).
    """
    from vlad.config import ClipConfig, PerceptionConfig, PipelineConfig, VideoConfig, WinClipConfig
    from vlad.errors import ConfigError

    perception = perception_config(args, PerceptionConfig)
    clip = ClipConfig(
        arch=args.clip, weights=args.clip_weights, device=args.device, precision=args.precision
    )
    if args.max_pixels is not None and args.max_pixels < 1:
        raise ConfigError(
            f"max_pixels must be a positive number, got {args.max_pixels}.", param="max_pixels"
        )
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
    config = PipelineConfig(
        clip=clip,
        video=video_config,
        image=winclip,
        llm=None,
        method=args.method,
        learned_prompts=args.learned_prompts,
        image_size=args.image_size,
        batch_size=args.batch_size,
        max_pixels=args.max_pixels,
        perception=perception,
    )
    return config, references


def perception_config(args: argparse.Namespace, kind: Any) -> Any:
    """The settings of ``--perception``, ``--perception-fps`` and ``--perception-budget``.

    Args:
        args: The parsed options.
        kind: :class:`~vlad.config.PerceptionConfig` (imported by the caller).

    Returns:
        The settings (mode ``peak`` without ``--perception``).

    Raises:
        ConfigError: ``--perception`` without ``--vlm`` or ``--rules``, its rate or budget
            without it, or a bad value.
    """
    from vlad.errors import ConfigError

    mode = getattr(args, "perception", None)
    if mode:
        if not getattr(args, "vlm", None):
            raise ConfigError(
                f"--perception {mode} describes frames with a vision-language model; "
                "add --vlm SPEC."
            )
        if getattr(args, "rules", None) is None:
            raise ConfigError(
                f"--perception {mode} judges frame descriptions against rules; add --rules FILE."
            )
    else:
        given = [
            f"--perception-{name}"
            for name in ("fps", "budget")
            if getattr(args, f"perception_{name}", None) is not None
        ]
        if given:
            verb, them = ("applies", "it") if len(given) == 1 else ("apply", "them")
            raise ConfigError(
                f"{' and '.join(given)} only {verb} with --perception every|budget; "
                f"add --perception or leave {them} out."
            )
    options = {"mode": mode or "peak"}
    for name in ("fps", "budget"):
        value = getattr(args, f"perception_{name}", None)
        if value is not None:
            options[name] = value
    return kind(**options)


def _for_cli(exc: VladError) -> VladError:
    """A library error in this command's words (the memory's embedder is a build option)."""
    text = str(exc).replace(
        "embedder=clip:ARCH@WEIGHTS", "vlad memory build --embedder clip:ARCH@WEIGHTS"
    )
    if text == str(exc):
        return exc
    return type(exc)(text.replace("same CLIP.", "same CLIP as --clip and --clip-weights."))


def _sort_inputs(
    raw_paths: Sequence[str], *, frames_fps: float | None
) -> tuple[list[Path], list[Path], list[Any]]:
    """Split the command's paths into images, videos and inputs that cannot be found.

    A video file is a video; a folder is a video of frames when ``--frames-fps`` is given,
    else it is walked for images and video files.
    """
    from vlad.answer.explanation import Explanation
    from vlad.media.image import iter_image_paths
    from vlad.media.video import is_video_path

    images: list[Path] = []
    videos: list[Path] = []
    failures: list[Explanation] = []
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
            failures.append(Explanation.failure(str(raw), str(exc)))
            continue
        found_videos = (
            sorted(p for p in path.rglob("*") if p.is_file() and is_video_path(p))
            if path.is_dir()
            else []
        )
        if not found and not found_videos:
            failures.append(
                Explanation.failure(
                    str(raw), f"Folder '{raw}' holds no image or video files; check the path."
                )
            )
        images.extend(found)
        videos.extend(found_videos)
    return images, videos, failures


def _detect_images(
    args: argparse.Namespace,
    pipeline: Any,
    references: Sequence[Path],
    images: Sequence[Path],
    writer: _ResultWriter,
) -> bool:
    """Explain image files, printing each record as it comes; True when one failed."""
    show = not args.no_progress and (len(images) > 1 or any(Path(p).is_dir() for p in args.paths))
    progress = _progress(len(images), unit="img", enabled=show)
    stems = _unique_stems(images)
    failed = False
    try:
        for explanation in pipeline.iter_analyze([str(p) for p in images], references=references):
            if not explanation.ok:
                failed = True
                writer.failure(explanation)
            else:
                writer.result(explanation)
                for note in explanation.notes:  # an animation scored on one frame, a tiny image
                    print(f"vlad: {explanation.input}: {note}", file=sys.stderr)
                anomaly_map = explanation.anomaly_map
                if args.map_out is not None and anomaly_map is not None:
                    from PIL import Image

                    from vlad.answer.render import write_map_files

                    image = Image.fromarray(explanation.keyframes[0].image)
                    write_map_files(args.map_out, stems[explanation.input], image, anomaly_map)
            progress.update(1)
    finally:
        progress.close()
    return failed


def _detect_videos(
    args: argparse.Namespace,
    pipeline: Any,
    videos: Sequence[Path],
    writer: _ResultWriter,
    rules_file: Path | None,
    vlm: str | None,
) -> bool:
    """Explain videos one by one, printing each record when its video is done."""
    from vlad.answer.explanation import Explanation
    from vlad.media.video import probe_video

    memory = None
    if args.memory is not None:
        from vlad.scoring.memory import MemoryIndex

        memory = MemoryIndex.load(args.memory)
        pipeline.memory_mode(memory)  # a mismatched memory stops before any video
    rule_set = captioner = None
    if rules_file is not None:
        from vlad.reasoning.rules import load_rules

        rule_set = load_rules(rules_file)
        if vlm:
            from vlad.cli.rules import frame_captioner

            captioner = frame_captioner(vlm, prompt=args.perception_prompt)
    failed = False
    stems = _unique_stems(videos)
    for video in videos:
        try:
            info = probe_video(video, frames_fps=args.frames_fps)
        except VladError as exc:
            failed = True
            writer.failure(Explanation.failure(str(video), str(exc), kind="video"))
            continue
        progress = _progress(
            round(info.duration_s, 1), unit="s", enabled=not args.no_progress, desc=video.name
        )
        reached = [0.0]

        def advance(
            fraction: float, stage: str, bar: Any = progress, done: list[float] = reached
        ) -> None:
            if getattr(bar, "postfix", None) != stage.lower():  # e.g. "describing frames 3/40"
                bar.set_postfix_str(stage.lower())
            target = round(min(fraction, 1.0) * bar.total, 1)
            if target > done[0]:  # set, not summed: float steps must not pass the total
                bar.n = done[0] = target
                bar.update(0)

        try:
            [explanation] = pipeline.analyze(
                [video],
                rules=rule_set,
                memory=memory,
                captioner=captioner,
                map_out=args.map_out,
                progress=advance,
            )
        finally:
            progress.close()
        if not explanation.ok:
            failed = True
            writer.failure(explanation)
            continue
        if explanation.perception is not None:
            seen = explanation.perception
            print(
                f"vlad: {explanation.input}: the VLM described {seen['described']} of "
                f"{seen['frames']} sampled frames ({seen['vlm_calls_per_frame']:.3f} calls per "
                "sampled frame)",
                file=sys.stderr,
            )
        # A damaged end was already reported, once, when the file was read (a logged
        # warning); the record keeps it in stopped_early and notes.
        if args.plot is not None:
            from vlad.answer.render import plot_timeline

            target = (
                args.plot
                if len(videos) == 1
                else args.plot.with_name(f"{args.plot.stem}_{stems[str(video)]}{args.plot.suffix}")
            )
            plot_timeline(explanation, target)
        writer.video(explanation)
    return failed


class _ResultWriter:
    """Prints records as they come: text lines, or a JSON list closed at the end."""

    def __init__(self, stream: TextIO, *, as_json: bool) -> None:
        self.stream = stream
        self.as_json = as_json
        self.count = 0
        if as_json:
            stream.write("[")
            stream.flush()

    def result(self, explanation: Any) -> None:
        if self.as_json:
            self._json(explanation.to_record())
        else:
            self.stream.write(
                f"{explanation.input}\t{explanation.score:.4f}\t{explanation.verdict}\n"
            )
            self.stream.flush()

    def video(self, explanation: Any) -> None:
        if self.as_json:
            self._json(explanation.to_record())
            return
        from vlad.utils.clock import format_clock

        detections = explanation.detections
        lines = [
            f"{explanation.input}\t{explanation.score:.4f}\t{explanation.verdict}\t"
            f"{len(detections)} interval(s)"
        ]
        for detection in detections:
            interval = detection.interval
            span = f"{format_clock(interval.start_s)}-{format_clock(interval.end_s)}"
            lines.append(f"  {span}\tpeak {interval.peak_score:.3f}\t{interval.definition}")
            lines.extend(
                f"    {n.label:<9}\tsim {n.similarity:.3f}\t{n.text}"
                for n in (detection.neighbors or ())[:3]
            )
            citation = detection.citation
            if citation is not None:
                lines.append(f"    rule {citation.rule_id}\t{citation.text}")
                if citation.clause is not None:
                    lines.append(f"    clause {citation.clause}")
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
        bar_format="{l_bar}{bar}| {n:.1f}/{total_fmt} {unit} [{elapsed}<{remaining}{postfix}]"
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
