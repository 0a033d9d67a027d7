"""Learned prompts (AnomalyCLIP) against WinCLIP: image throughput on the same CLIP, on the CPU.

Run as ``python bench/bench_prompts.py [--quick]`` from the repository root.

What it does, in one run:

* creates a ``ViT-B-16`` CLIP with random weights under a fixed seed (speed does not depend
  on weight values), saves it to a temporary ``.safetensors`` file and loads it back through
  vlad's loader, so the measured path is the one a user gets;
* builds randomly initialised prompts for it (``AnomalyClipModel`` on that CLIP, settings
  scaled to its 12 vision blocks: DPAM in the top 9, the map from block 12), saves them
  with ``save_prompts`` and loads them back with ``AnomalyClipScorer.load``;
* writes textured 640x480 PNGs (every third with a dark defect);
* times ``ImageDetector.detect`` over the same files (read + preprocess + forward + scoring
  + the map upsampled to the image size) with the WinCLIP scorer and with the learned-prompt
  scorer on the same loaded CLIP, alternating the two in rounds so that a change of machine
  load hits both alike, and prints images/s of each and their ratio (goal >= 20x);
* prints the share of AnomalyCLIP's wall time outside the CLIP forward pass
  (``StageTimes.encode``), against the goal of at most 15 %;
* checks that the learned prompts' text tower does not run while detecting (its two text
  embeddings are computed once, when the scorer is built).

The learned prompts run at the CLIP's own input size by default (the same pixels WinCLIP
sees); ``--image-size 448`` adds a run at a larger side (AnomalyCLIP's own default is 518 on
ViT-L-14-336; on a ViT-B-16 with 2 CPU cores 518 takes several seconds an image).
Training steps/s are measured by ``bench/bench_train.py`` when it is there. The exit status
is 1 when a check fails, else 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib.metadata
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vlad.config import ClipConfig, WinClipConfig
from vlad.encoders.clip import ClipEncoder, load_clip
from vlad.pipeline.image import DetectionFailure, ImageDetector, StageTimes
from vlad.scoring.learned.checkpoint import clip_fingerprint, save_prompts
from vlad.scoring.learned.config import LearnedPromptsConfig
from vlad.scoring.learned.model import AnomalyClipModel
from vlad.scoring.learned.scorer import AnomalyClipScorer
from vlad.scoring.winclip.scorer import WinClipScorer
from vlad.types import ImageScore

ARCH = "ViT-B-16"
GOAL_RATIO = 20.0
GOAL_OUTSIDE_FORWARD = 0.15
SIZE = (640, 480)  # (width, height), as PIL counts


def make_weights(arch: str, folder: Path, seed: int) -> Path:
    """Save a randomly initialised open_clip model of ``arch`` as .safetensors."""
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = open_clip.create_model(arch, pretrained=None)
    path = folder / f"{arch}-random-seed{seed}.safetensors"
    tensors = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path))
    del model, tensors
    gc.collect()
    return path


def prompt_settings(encoder: ClipEncoder) -> LearnedPromptsConfig:
    """The paper's settings scaled to this CLIP's depth (DPAM in the top 3/4, last block's map)."""
    blocks = len(encoder.model.visual.transformer.resblocks)
    return LearnedPromptsConfig(
        dpam_layer=blocks * 3 // 4 + 1,
        feature_layers=(blocks,),
        image_size=encoder.image_size[0],
    )


def make_prompts(encoder: ClipEncoder, folder: Path, seed: int) -> Path:
    """Save randomly initialised prompts for the CLIP, as ``vlad train prompts`` lays them out."""
    config = prompt_settings(encoder)
    torch.manual_seed(seed)
    model = AnomalyClipModel(encoder.model, encoder.tokenizer, config)
    save_prompts(
        folder,
        model,
        config,
        clip_name=encoder.name,
        clip_fingerprint=clip_fingerprint(encoder.model),
        provenance={"note": "random initialisation, for speed only"},
    )
    return folder


def make_images(folder: Path, count: int, seed: int) -> list[Path]:
    """Textured RGB PNGs (waves and grain); every third has a dark blotch."""
    rng = np.random.default_rng(seed)
    width, height = SIZE
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    paths = []
    for index in range(count):
        fx, fy = rng.uniform(4.0, 12.0, size=2)
        tint = rng.uniform(90, 170, size=3).astype(np.float32)
        image = tint + 40 * (np.sin(xx / fx) * np.cos(yy / fy))[..., None]
        image += rng.normal(0, 10, size=(height, width, 3)).astype(np.float32)
        if index % 3 == 2:
            cy = int(rng.integers(height // 4, 3 * height // 4))
            cx = int(rng.integers(width // 4, 3 * width // 4))
            blob = ((yy - cy) / (height / 12)) ** 2 + ((xx - cx) / (width / 10)) ** 2 <= 1.0
            image[blob] = image[blob] * 0.25 + 10
        path = folder / f"img{index:02d}.png"
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


@dataclasses.dataclass
class Totals:
    """Wall and stage seconds summed over the rounds of one scorer."""

    name: str
    wall: float = 0.0
    cpu: float = 0.0
    images: int = 0
    times: StageTimes = dataclasses.field(default_factory=StageTimes)
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def images_per_s(self) -> float:
        return self.images / self.wall if self.wall > 0 else float("nan")

    @property
    def images_per_cpu_s(self) -> float:
        return self.images / self.cpu if self.cpu > 0 else float("nan")

    @property
    def outside_share(self) -> float:
        return (self.wall - self.times.encode) / self.wall if self.wall > 0 else float("nan")

    def add(self, detector: ImageDetector, paths: Sequence[Path]) -> None:
        """Run ``detect`` over the files once and add its times."""
        detector.times = StageTimes()
        start, cpu_start = time.perf_counter(), time.process_time()
        results = list(detector.detect([str(p) for p in paths]))
        self.wall += time.perf_counter() - start
        self.cpu += time.process_time() - cpu_start
        self.images += len(paths)
        for name in ("load", "preprocess", "encode", "score"):
            setattr(self.times, name, getattr(self.times, name) + getattr(detector.times, name))
        for result, path in zip(results, paths, strict=True):
            if isinstance(result, DetectionFailure):
                self.problems.append(f"{path.name}: {result.error}")
            elif not isinstance(result, ImageScore) or result.anomaly_map is None:
                self.problems.append(f"{path.name}: no map")
            elif result.anomaly_map.shape != (SIZE[1], SIZE[0]) or not np.isfinite(result.score):
                self.problems.append(f"{path.name}: map {result.anomaly_map.shape}")

    def row(self) -> str:
        t = self.times
        return (
            f"{self.name:<22} {self.images:>6} {self.wall:>8.2f} {self.images_per_s:>8.3f} "
            f"{self.cpu:>7.2f} "
            f"{t.load:>7.2f} {t.preprocess:>7.2f} {t.encode:>9.2f} {t.score:>8.2f} "
            f"{self.outside_share:>11.1%}"
        )


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    try:
        return f"load average {os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        return "load average n/a"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--arch", default=ARCH, help=f"open_clip architecture ({ARCH})")
    parser.add_argument("--images", type=int, default=4, help="images per round (4)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (3; --quick 1)")
    parser.add_argument("--batch-size", type=int, default=4, help="images per forward (4)")
    parser.add_argument(
        "--image-size", type=int, default=None, help="also time the learned prompts at this side"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"timm\b")
    if args.threads:
        torch.set_num_threads(args.threads)
    rounds = args.rounds or (1 if args.quick else 3)

    print(
        f"vlad learned prompts vs WinCLIP: {args.arch}, random weights (seed {args.seed}), CPU fp32"
    )
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"open_clip {version('open_clip_torch')}; torch threads {torch.get_num_threads()}, "
        f"CPUs {os.cpu_count()}, {load_average()}"
    )
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vlad-bench-prompts-") as tmp:
        folder = Path(tmp)
        weights = make_weights(args.arch, folder, args.seed)
        encoder = load_clip(ClipConfig(arch=args.arch, weights=str(weights), device="cpu"))
        prompts = make_prompts(encoder, folder / "prompts", args.seed)
        image_folder = folder / "images"
        image_folder.mkdir()
        paths = make_images(image_folder, args.images, args.seed)

        winclip = ImageDetector(
            WinClipScorer(encoder, WinClipConfig(class_name="object")), batch_size=args.batch_size
        )
        _ = winclip.scorer.text_embeddings  # once per class, as the pipeline does
        batch = args.batch_size
        learned = ImageDetector(AnomalyClipScorer.load(encoder, prompts), batch_size=batch)
        detectors: list[tuple[Totals, ImageDetector]] = [
            (Totals("WinCLIP"), winclip),
            (Totals(f"AnomalyCLIP {learned.scorer.image_size}px"), learned),
        ]
        if args.image_size:
            bigger = AnomalyClipScorer.load(encoder, prompts, image_size=args.image_size)
            detectors.append(
                (
                    Totals(f"AnomalyCLIP {args.image_size}px"),
                    ImageDetector(bigger, batch_size=batch),
                )
            )
        rows, cols = encoder.grid_size or (0, 0)
        scales = winclip.scorer.config.scales
        windows = sum((rows - s + 1) * (cols - s + 1) for s in scales)
        settings = learned.scorer.model.config
        tokens_learned = rows * cols + 1
        tokens_winclip = tokens_learned + sum(
            (rows - s + 1) * (cols - s + 1) * (s * s + 1) for s in scales
        )
        print(
            f"input {encoder.image_size[0]} px, grid {rows}x{cols}; WinCLIP window scales "
            f"{scales} = "
            f"{windows} windows/image; AnomalyCLIP dpam_layer {settings.dpam_layer}, "
            f"feature_layers {settings.feature_layers}"
        )
        print(
            f"{args.images} PNGs of {SIZE[0]}x{SIZE[1]} per round, {rounds} round(s), batch {batch}"
        )

        text_calls = []
        for _, detector in detectors[1:]:
            model = detector.scorer.model
            original = model.text_features
            model.text_features = lambda original=original: text_calls.append(1) or original()  # type: ignore[method-assign]

        for _, detector in detectors:  # warm-up, outside the measurement
            list(detector.detect([str(paths[0])]))
        plain = 0.0  # the CLIP's own forward (global embedding only), for scale
        pixels = encoder.preprocess([Image.open(p).convert("RGB") for p in paths])
        for _ in range(rounds):
            for totals, detector in detectors:
                totals.add(detector, paths)
            start = time.perf_counter()
            for first in range(0, len(paths), batch):
                encoder.encode_images(pixels[first : first + batch])
            plain += time.perf_counter() - start

    print()
    print(
        f"{'scorer':<22} {'images':>6} {'wall s':>8} {'img/s':>8} {'cpu s':>7} {'load s':>7} "
        f"{'prep s':>7} "
        f"{'encode s':>9} {'score s':>8} {'outside fwd':>11}"
    )
    for totals, _ in detectors:
        print(totals.row())
        failures += [f"{totals.name}: {p}" for p in totals.problems]
    print(
        "(wall: perf_counter around detect; cpu: process_time of this process; stages: "
        "StageTimes; outside fwd: (wall - encode) / wall)"
    )
    print()
    base, same = detectors[0][0], detectors[1][0]
    ratio = same.images_per_s / base.images_per_s
    cpu_ratio = same.images_per_cpu_s / base.images_per_cpu_s
    print(
        f"images/s, AnomalyCLIP over WinCLIP at the same {encoder.image_size[0]} px input: "
        f"{ratio:.1f}x by wall time, {cpu_ratio:.1f}x by CPU time  (goal >= {GOAL_RATIO:.0f}x)  "
        f"{verdict(ratio >= GOAL_RATIO)}"
    )
    print(
        f"tokens through the vision blocks per image: WinCLIP {tokens_winclip} (the image and "
        f"{windows} windows), AnomalyCLIP {tokens_learned}: {tokens_winclip / tokens_learned:.1f}x "
        f"fewer (DPAM adds a second attention in {settings.dpam_layer - 1} blocks)"
    )
    for totals, _ in detectors[2:]:
        print(
            f"images/s, {totals.name} over WinCLIP: {totals.images_per_s / base.images_per_s:.1f}x"
        )
    print(
        f"forward time per image over a plain CLIP forward ({plain / (rounds * len(paths)):.2f} "
        f"s): WinCLIP with windows {base.times.encode / plain:.1f}x, AnomalyCLIP with DPAM "
        f"{same.times.encode / plain:.1f}x"
    )
    share_ok = same.outside_share <= GOAL_OUTSIDE_FORWARD
    print(
        "share of AnomalyCLIP's wall time outside the CLIP forward pass: "
        f"{same.outside_share:.1%}  "
        f"(goal <= {GOAL_OUTSIDE_FORWARD:.0%})  {verdict(share_ok)}"
    )
    print(
        f"learned text tower runs while detecting: {len(text_calls)}  (must be 0)  "
        f"{verdict(not text_calls)}"
    )
    if text_calls:
        failures.append("the learned prompts' text tower ran while detecting")
    if ratio < GOAL_RATIO:
        failures.append(f"AnomalyCLIP is {ratio:.1f}x WinCLIP's images/s, under the goal")
    if not share_ok:
        failures.append("share of wall time outside the CLIP forward pass is above the goal")
    print(f"after the run: {load_average()}")
    train_bench = Path(__file__).with_name("bench_train.py")
    print(
        f"training steps/s: see {train_bench.name}"
        if train_bench.is_file()
        else "training steps/s: not measured here (bench/bench_train.py is not there)"
    )
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
