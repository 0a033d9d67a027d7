"""``vlad batch --engine ray`` against ``--engine local``: wall time on the same inputs.

    .venv/bin/python bench/bench_batch_ray.py [--quick] [--keep DIR] [--json]

The inputs of ``bench/bench_batch.py`` (a random-weight ``ViT-B-32`` CLIP, 20 synthetic
H.264 videos of 20 to 60 s and 10 PNG images; ``--quick``: 4 videos of 10 to 20 s and 4
images), ``--llm none``, CPU. Each engine runs once as its own ``vlad batch`` process into a
fresh folder, the local engine first; the Ray run starts (and stops) its own local cluster
on this machine, so its wall time includes Ray's start-up and one model load per actor.

Prints the wall times, their ratio (goal on 2 cores: ray / local <= 1.3; Ray is there to
scale out, not to win on one box) and whether both folders hold the same verdicts, scores
(to 1e-5) and intervals.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_batch import (
    REPO,
    VLAD,
    clip_args,
    records,
    timed,
    write_inputs,
)


def same_results(local: list[dict[str, Any]], ray: list[dict[str, Any]]) -> bool:
    """Whether two runs gave the same verdicts, scores (1e-5) and intervals, input by input."""
    if [r["id"] for r in local] != [r["id"] for r in ray]:
        return False
    for a, b in zip(local, ray, strict=True):
        if (a["status"], a.get("verdict")) != (b["status"], b.get("verdict")):
            return False
        if a["status"] != "ok":
            continue
        if abs(a["score"] - b["score"]) > 1e-5:
            return False
        spans_a = [t for i in a["intervals"] for t in (i["start_s"], i["end_s"])]
        spans_b = [t for i in b["intervals"] for t in (i["start_s"], i["end_s"])]
        if len(spans_a) != len(spans_b) or any(
            abs(x - y) > 1e-5 for x, y in zip(spans_a, spans_b, strict=True)
        ):
            return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 videos of 10-20 s, 4 images")
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="vlad-bench-ray-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "VLAD_CACHE_DIR": str(work / "cache")}
    n_videos, n_images, span = (4, 4, (10, 20)) if args.quick else (20, 10, (20, 60))
    inputs = work / "inputs"  # videos and images in one folder, given to vlad batch as one
    rng = random.Random(7)  # the same lengths as bench_batch.py
    lengths, weights = write_inputs(
        inputs, inputs, videos=n_videos, images=n_images, span=span, rng=rng
    )

    figures: dict[str, Any] = {
        "videos": n_videos,
        "video_seconds": sum(lengths),
        "images": n_images,
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 1) for x in os.getloadavg()],
    }
    runs: dict[str, list[dict[str, Any]]] = {}
    for engine in ("local", "ray"):
        out = work / f"out-{engine}"
        shutil.rmtree(out, ignore_errors=True)
        command = [
            *VLAD, "batch", str(inputs), "--out", str(out), "--engine", engine,
            "--llm", "none", "--no-progress", *clip_args(weights),
        ]  # fmt: skip
        seconds, done = timed(command, env=env)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 2
        figures[f"{engine}_s"] = round(seconds, 1)
        print(f"{engine}: {seconds:.1f} s", file=sys.stderr, flush=True)
        runs[engine] = records(out)
    figures["load_average_after"] = [round(x, 1) for x in os.getloadavg()]
    figures["ray_over_local"] = round(figures["ray_s"] / figures["local_s"], 2)
    figures["same_results"] = same_results(runs["local"], runs["ray"])

    print("| figure | value |\n|---|---|")
    print(f"| inputs | {n_videos} videos ({sum(lengths)} s), {n_images} images |")
    print(f"| `--engine local` wall | {figures['local_s']} s |")
    print(f"| `--engine ray` wall (local cluster, start-up included) | {figures['ray_s']} s |")
    print(f"| ray / local (goal <= 1.3) | {figures['ray_over_local']} |")
    print(f"| same verdicts, scores (1e-5), intervals | {figures['same_results']} |")
    print(
        f"| CPUs; load average before / after | {figures['cpus']}; "
        f"{figures['load_average_before']} / {figures['load_average_after']} |"
    )
    if args.json:
        print(json.dumps(figures))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if figures["same_results"] else 1


if __name__ == "__main__":
    sys.exit(main())
