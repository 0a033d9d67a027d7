"""Throughput of vlad's WinCLIP ``ImageDetector.detect`` path on the CPU.

Run as ``python bench/bench_winclip.py [--quick] [--profile]`` from the repository root.

What it does, in one run:

* creates a ``ViT-B-16-plus-240`` CLIP with random weights under a fixed seed (speed does
  not depend on weight values), saves it to a temporary ``.safetensors`` file and loads it
  back through vlad's own loader (``ClipConfig(weights=FILE, device="cpu")``), so the
  measured path is the one a user gets;
* writes textured synthetic PNG images (24 of 640x480 and a few other sizes, some with a
  dark defect) to a temporary folder;
* times ``ImageDetector.detect`` over those files (read + preprocess + CLIP forward with
  the window passes + scoring + upsampling of the map to the image size) at batch size 1
  and 8, after one warm-up image, and prints images/s and the seconds per stage;
* prints the share of the wall time of the detect loop (measured with ``perf_counter``
  around the loop) spent outside the CLIP forward pass (``StageTimes.encode``), against
  the goal of at most 15 %;
* counts calls of the text path (``ClipEncoder.encode_text``, forward passes of the text
  tower, and the size of the prompt cache) during the detect loops: it must stay at 0,
  since the prompt embeddings are computed once per class when the detector is built.

``--quick`` times fewer images (a smoke run). ``--profile`` adds a cProfile of one extra
batch-8 loop and prints the functions that cost the most outside the forward pass. The
exit status is 1 when a check fails (share above the goal, text path used while
detecting, or a missing or wrongly sized map), else 0.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import importlib.metadata
import io
import os
import platform
import pstats
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vlad.config import ClipConfig, WinClipConfig
from vlad.encoders.clip import ClipEncoder
from vlad.pipeline.image import DetectionFailure, ImageDetector, StageTimes
from vlad.types import ImageScore

ARCH = "ViT-B-16-plus-240"
GOAL_OUTSIDE_FORWARD = 0.15
MAIN_SIZE = (640, 480)  # (width, height), as PIL counts
OTHER_SIZES = ((1024, 768), (320, 240), (1280, 720), (480, 640), (800, 800), (1920, 1080))
N_MAIN = 24


# ----------------------------------------------------------------------------- inputs


def make_weights(arch: str, folder: Path, seed: int) -> Path:
    """Save a randomly initialised open_clip model of ``arch`` as .safetensors."""
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = open_clip.create_model(arch, pretrained=None)
    tensors = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    path = folder / f"{arch}-random-seed{seed}.safetensors"
    save_file(tensors, str(path))
    del model, tensors
    gc.collect()
    return path


def make_image(width: int, height: int, rng: np.random.Generator, defect: bool) -> Image.Image:
    """A textured RGB image (waves, grain, scratches); ``defect`` adds a dark blotch."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    fx, fy = rng.uniform(4.0, 12.0, size=2)
    phase = rng.uniform(0, 2 * np.pi, size=3).astype(np.float32)
    tint = rng.uniform(90, 170, size=3).astype(np.float32)
    waves = np.sin(xx / fx)[..., None] * np.cos(yy / fy)[..., None]
    image = tint + 40 * waves + 15 * np.sin(((xx + yy) / 23.0)[..., None] + phase)
    image += rng.normal(0, 10, size=(height, width, 3)).astype(np.float32)
    for _ in range(3):  # faint straight scratches, part of the normal texture
        row = int(rng.integers(0, height))
        image[row : row + 2, :, :] += 25
    if defect:
        cy = int(rng.integers(height // 4, 3 * height // 4))
        cx = int(rng.integers(width // 4, 3 * width // 4))
        ry, rx = max(4, height // 12), max(4, width // 10)
        blob = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
        image[blob] = image[blob] * 0.25 + 10
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def make_images(folder: Path, seed: int) -> list[Path]:
    """Write the PNGs; every fourth file is one of the other sizes while they last.

    Every third image has a defect. The order mixes sizes so that any run of consecutive
    files includes some non-640x480 images.
    """
    rng = np.random.default_rng(seed)
    sizes: list[tuple[int, int]] = []
    others = list(OTHER_SIZES)
    mains = N_MAIN
    while mains or others:
        if others and (len(sizes) % 4 == 3 or not mains):
            sizes.append(others.pop(0))
        else:
            sizes.append(MAIN_SIZE)
            mains -= 1
    paths = []
    for index, (width, height) in enumerate(sizes):
        defect = index % 3 == 2
        path = folder / f"img{index:02d}_{width}x{height}{'_defect' if defect else ''}.png"
        make_image(width, height, rng, defect).save(path)
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------- counting


class TextPathCounter:
    """Counts calls of ``ClipEncoder.encode_text`` and forward passes of the text tower.

    ``encode_text`` is wrapped on the class (in this process only) so that the calls made
    while the detector is built are counted too; the text-tower hook is added once the
    model exists.
    """

    def __init__(self) -> None:
        self.encode_text_calls = 0
        self.tower_forwards = 0
        self._original = ClipEncoder.encode_text
        counter = self

        def counted(encoder: ClipEncoder, *args: object, **kwargs: object) -> torch.Tensor:
            counter.encode_text_calls += 1
            return counter._original(encoder, *args, **kwargs)

        ClipEncoder.encode_text = counted  # type: ignore[method-assign]

    def hook_text_tower(self, encoder: ClipEncoder) -> bool:
        """Count forward passes of the text transformer; False when none is found."""
        model = encoder.model
        tower = getattr(model, "transformer", None)
        if tower is None or tower is getattr(model.visual, "transformer", None):
            tower = getattr(model, "text", None)
        if not isinstance(tower, torch.nn.Module):
            return False

        def hook(*_: object) -> None:
            self.tower_forwards += 1

        tower.register_forward_pre_hook(hook)
        return True

    def snapshot(self) -> tuple[int, int]:
        return self.encode_text_calls, self.tower_forwards

    def restore(self) -> None:
        ClipEncoder.encode_text = self._original  # type: ignore[method-assign]


# ----------------------------------------------------------------------------- timing


@dataclass
class RunResult:
    batch_size: int
    images: int
    wall: float
    times: StageTimes
    problems: list[str]

    @property
    def images_per_s(self) -> float:
        return self.images / self.wall if self.wall > 0 else float("nan")

    @property
    def outside_forward(self) -> float:
        """Seconds of the loop not spent in ``encode`` (the CLIP forward pass)."""
        return self.wall - self.times.encode

    @property
    def outside_share(self) -> float:
        return self.outside_forward / self.wall if self.wall > 0 else float("nan")

    @property
    def unaccounted(self) -> float:
        """Loop time outside every stage (generator, bookkeeping)."""
        return self.wall - self.times.total


def check_results(results: Sequence[object], paths: Sequence[Path]) -> list[str]:
    """One line per result that is a failure, lacks a map, or has a wrongly sized map."""
    problems = []
    if len(results) != len(paths):
        problems.append(f"{len(results)} results for {len(paths)} inputs")
    for result, path in zip(results, paths, strict=False):
        if isinstance(result, DetectionFailure):
            problems.append(f"{path.name}: failed: {result.error}")
            continue
        if not isinstance(result, ImageScore) or result.anomaly_map is None:
            problems.append(f"{path.name}: no anomaly map")
            continue
        with Image.open(path) as image:
            expected = (image.height, image.width)
        if result.anomaly_map.shape != expected or result.size != expected:
            problems.append(f"{path.name}: map {result.anomaly_map.shape}, image {expected}")
        elif not np.isfinite(result.anomaly_map).all() or not np.isfinite(result.score):
            problems.append(f"{path.name}: non-finite score or map")
    return problems


def timed_detect(detector: ImageDetector, paths: Sequence[Path]) -> RunResult:
    """Run ``detect`` over the files once, timing the whole loop with perf_counter."""
    detector.times = StageTimes()
    sources = [str(p) for p in paths]
    start = time.perf_counter()
    results = list(detector.detect(sources))
    wall = time.perf_counter() - start
    return RunResult(
        batch_size=detector.batch_size,
        images=len(paths),
        wall=wall,
        times=dataclasses.replace(detector.times, extra=dict(detector.times.extra)),
        problems=check_results(results, paths),
    )


def pick(paths: Sequence[Path], start: int, count: int) -> list[Path]:
    """``count`` files from ``start``, wrapping around the list."""
    return [paths[(start + i) % len(paths)] for i in range(count)]


# ----------------------------------------------------------------------------- profiling


def profile_detect(detector: ImageDetector, paths: Sequence[Path], top: int) -> str:
    """cProfile one detect loop: every vlad function, then the costliest of all by own time."""
    detector.times = StageTimes()
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    list(detector.detect([str(p) for p in paths]))
    profiler.disable()
    wall = time.perf_counter() - start
    stats = pstats.Stats(profiler)
    package = f"{os.sep}vlad{os.sep}"
    rows = []
    entries = stats.stats  # type: ignore[attr-defined]  # {(file, line, name): (cc, nc, tt, ct, _)}
    for (filename, line, function), (_, calls, own, cumulative, _) in entries.items():
        if package in filename:
            where = f"{Path(filename).parent.name}/{Path(filename).name}:{line}"
            rows.append((cumulative, own, calls, f"{where}({function})"))
    rows.sort(reverse=True)
    lines = [
        f"wall {wall:.2f} s under the profiler; vlad functions by cumulative time "
        "(share of that wall):",
        f"{'cum s':>8} {'share':>6} {'own s':>8} {'calls':>6}  function",
    ]
    lines += [
        f"{cum:>8.3f} {cum / wall:>6.1%} {own:>8.3f} {calls:>6}  {name}"
        for cum, own, calls, name in rows
    ]
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    lines += ["", f"top {top} functions of all by own time:", out.getvalue().strip()]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- report


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def load_average(own_threads: int = 0) -> str:
    """The 1-minute load average, and whether other processes share the CPUs.

    ``own_threads`` is the part of the load this run itself adds (when measured after it).
    """
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return "load average n/a"
    others = max(0.0, load - own_threads)
    busy = "  (other processes use the CPUs: timings are pessimistic)" if others > 0.5 else ""
    mine = f", about {own_threads} of it this run" if own_threads else ""
    return f"load average {load:.2f}{mine}{busy}"


def table(runs: Sequence[RunResult]) -> str:
    header = (
        f"{'batch':>5} {'images':>6} {'wall s':>8} {'img/s':>7} {'s/img':>7} "
        f"{'load s':>7} {'prep s':>7} {'encode s':>9} {'score s':>8} {'other s':>8} "
        f"{'outside fwd':>11}"
    )
    lines = [header, "-" * len(header)]
    for run in runs:
        t = run.times
        lines.append(
            f"{run.batch_size:>5} {run.images:>6} {run.wall:>8.2f} {run.images_per_s:>7.3f} "
            f"{run.wall / run.images:>7.2f} {t.load:>7.3f} {t.preprocess:>7.3f} "
            f"{t.encode:>9.2f} {t.score:>8.3f} {run.unaccounted:>8.3f} "
            f"{run.outside_share:>10.1%}"
        )
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def describe_sizes(paths: Sequence[Path]) -> str:
    counts: dict[str, int] = {}
    for path in paths:
        size = path.stem.split("_")[1]
        counts[size] = counts.get(size, 0) + 1
    return ", ".join(f"{size} x{n}" for size, n in counts.items())


# ----------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="time fewer images (smoke run)")
    parser.add_argument("--arch", default=ARCH, help=f"open_clip architecture ({ARCH})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--images-b1", type=int, default=None, help="images timed at batch 1")
    parser.add_argument("--images-b8", type=int, default=None, help="images timed at batch 8")
    parser.add_argument("--profile", action="store_true", help="cProfile one more batch-8 loop")
    args = parser.parse_args(argv)

    # open_clip imports timm, whose deprecation notice would land in the middle of the report.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"timm\b")
    n_b1 = args.images_b1 or (2 if args.quick else 8)
    n_b8 = args.images_b8 or (8 if args.quick else 16)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    print(f"vlad WinCLIP detect bench: {args.arch}, random weights (seed {args.seed}), CPU fp32")
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"open_clip {version('open_clip_torch')}, numpy {np.__version__}, "
        f"pillow {version('pillow')}"
    )
    print(
        f"torch threads {torch.get_num_threads()} (interop {torch.get_num_interop_threads()}), "
        f"CPUs {os.cpu_count()}, {platform.processor() or platform.machine()}, "
        f"{load_average()}"
    )

    counter = TextPathCounter()
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vlad-bench-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        weights = make_weights(args.arch, folder, args.seed)
        image_folder = folder / "images"
        image_folder.mkdir()
        paths = make_images(image_folder, args.seed)
        prepared = time.perf_counter() - start
        n_defect = sum("_defect" in p.stem for p in paths)
        print(
            f"inputs: {len(paths)} PNGs ({describe_sizes(paths)}), {n_defect} with a defect; "
            f"weights {weights.stat().st_size / 1e6:.0f} MB; prepared in {prepared:.1f} s"
        )

        start = time.perf_counter()
        detector = ImageDetector.build(
            ClipConfig(arch=args.arch, weights=str(weights), device="cpu"),
            WinClipConfig(class_name="object"),
            batch_size=1,
        )
        built = time.perf_counter() - start
        encoder = detector.scorer.encoder
        build_calls = counter.encode_text_calls
        prompts = len(detector.scorer.normal_prompts) + len(detector.scorer.anomalous_prompts)
        cache_after_build = encoder.text_cache_size
        tower_hooked = counter.hook_text_tower(encoder)
        rows, cols = encoder.grid_size or (0, 0)
        scales = detector.scorer.config.scales
        n_windows = sum((rows - s + 1) * (cols - s + 1) for s in scales)
        print(
            f"build: {built:.1f} s (load CLIP from file, embed {prompts} prompts, "
            f"{cache_after_build} distinct, in {build_calls} encode_text calls); "
            f"input {encoder.image_size[0]}x{encoder.image_size[1]}, grid {rows}x{cols}, "
            f"window scales {scales} = {n_windows} windows/image"
        )

        # Warm-up: one image, outside the measurement (first-call allocations, kernels).
        start = time.perf_counter()
        warm = timed_detect(detector, paths[-1:])
        print(f"warm-up: 1 image in {time.perf_counter() - start:.1f} s")
        failures += [f"warm-up: {p}" for p in warm.problems]

        calls_before = counter.snapshot()
        cache_before = encoder.text_cache_size
        runs = []
        offset = 0
        for batch_size, count in ((1, n_b1), (8, n_b8)):
            detector.batch_size = batch_size
            run = timed_detect(detector, pick(paths, offset, count))
            offset += count
            runs.append(run)
            failures += [f"batch {batch_size}: {p}" for p in run.problems]
        calls_after = counter.snapshot()
        cache_after = encoder.text_cache_size

        profile_text = ""
        if args.profile:
            detector.batch_size = 8
            profile_text = profile_detect(detector, pick(paths, offset, n_b8), top=25)
    counter.restore()

    print()
    print(table(runs))
    print(
        "(wall: perf_counter around the detect loop; load/prep/encode/score: StageTimes; "
        "other: wall minus the stages; outside fwd: (wall - encode) / wall)"
    )
    print()
    total_wall = sum(r.wall for r in runs)
    total_outside = sum(r.outside_forward for r in runs)
    share_all = total_outside / total_wall if total_wall > 0 else float("nan")
    share_ok = all(r.outside_share <= GOAL_OUTSIDE_FORWARD for r in runs)
    shares = ", ".join(f"batch {r.batch_size} {r.outside_share:.1%}" for r in runs)
    print(
        f"share of wall time outside the CLIP forward pass: {shares}; all {share_all:.1%}  "
        f"(goal <= {GOAL_OUTSIDE_FORWARD:.0%})  {verdict(share_ok)}"
    )
    if not share_ok:
        failures.append("share of wall time outside the CLIP forward pass is above the goal")

    text_calls = calls_after[0] - calls_before[0]
    tower_calls = calls_after[1] - calls_before[1]
    tower_text = f"{tower_calls}" if tower_hooked else "n/a (no text tower found)"
    text_ok = text_calls == 0 and tower_calls == 0 and cache_after == cache_before
    print(
        f"text path during the detect loops ({sum(r.images for r in runs)} images): "
        f"encode_text calls {text_calls}, text-tower forwards {tower_text}, "
        f"prompt cache {cache_before} -> {cache_after}  (must be 0 / 0 / unchanged)  "
        f"{verdict(text_ok)}"
    )
    if not text_ok:
        failures.append("the text path ran while detecting: prompts are embedded per image")

    print(f"after the run: {load_average(torch.get_num_threads())}")
    maps_ok = not any(r.problems for r in runs) and not warm.problems
    print(f"every image scored, maps at the image size: {verdict(maps_ok)}")
    if profile_text:
        print()
        print(f"cProfile of one batch-8 detect loop ({n_b8} images):")
        print(profile_text)
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
