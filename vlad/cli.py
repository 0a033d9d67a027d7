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
        help="score images for anomalies (zero-shot WinCLIP, few-shot with --reference)",
        description=(
            "Score images (files or folders) with CLIP prompt ensembles. One line per image "
            "(file, score, verdict), or a JSON list with --json."
        ),
    )
    detect.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
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
    detect.add_argument("--json", action="store_true", help="print a JSON list of records")
    detect.add_argument(
        "--map-out", type=Path, metavar="DIR", help="write each map as .npy and an overlay PNG"
    )
    detect.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    detect.set_defaults(handler=_run_detect)
    return parser


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
    from vlad.config import ClipConfig, WinClipConfig
    from vlad.media import DEFAULT_MAX_PIXELS, iter_image_paths
    from vlad.pipeline import DetectionFailure, ImageDetector

    winclip = WinClipConfig(
        class_name=args.class_name,
        prompts=args.prompts,
        definitions=tuple(args.define),
        normal=tuple(args.normal),
        replace_states=args.replace_states,
        threshold=args.threshold,
    )
    clip = ClipConfig(
        arch=args.clip, weights=args.clip_weights, device=args.device, precision=args.precision
    )
    max_pixels = args.max_pixels if args.max_pixels is not None else DEFAULT_MAX_PIXELS
    if max_pixels < 1:
        raise VladError(f"--max-pixels must be a positive number, got {max_pixels}.")

    inputs: list[Path] = []
    failures: list[DetectionFailure] = []
    for raw in args.paths:
        try:
            found = iter_image_paths([raw])
        except VladError as exc:
            failures.append(DetectionFailure(str(raw), str(exc)))
            continue
        if not found:
            failures.append(
                DetectionFailure(str(raw), f"Folder '{raw}' holds no image files; check the path.")
            )
        inputs.extend(found)
    references: list[Path] = []
    if args.reference:
        references = iter_image_paths(args.reference)
        if not references:
            raise VladError("The --reference folders hold no image files; check the paths.")

    detector = ImageDetector.build(
        clip, winclip, references=references, batch_size=args.batch_size, max_pixels=max_pixels
    )
    writer = _ResultWriter(sys.stdout, as_json=args.json)
    for failure in failures:
        writer.failure(failure)
    show_progress = not args.no_progress and (
        len(inputs) > 1 or any(Path(p).is_dir() for p in args.paths)
    )
    progress = _progress(len(inputs), enabled=show_progress)
    stems = _unique_stems(inputs)
    failed = bool(failures)
    try:
        for result in detector.detect_with_images([str(p) for p in inputs]):
            if isinstance(result, DetectionFailure):
                failed = True
                writer.failure(result)
            else:
                score, image = result
                writer.result(score)
                if args.map_out is not None and score.anomaly_map is not None:
                    from vlad.render import write_map_files

                    write_map_files(args.map_out, stems[score.input], image, score.anomaly_map)
            progress.update(1)
    finally:
        progress.close()
        writer.close()
    return EXIT_INPUT_FAILED if failed else EXIT_OK


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


def _progress(total: int, *, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="img", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


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
