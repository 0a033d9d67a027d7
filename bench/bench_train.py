"""Training steps/s of learned prompts (AnomalyCLIP) at batch 8, on this machine.

    .venv/bin/python bench/bench_train.py [--steps 5] [--vit-size 224] [--device cpu]

Two CLIPs with random weights (speed does not depend on the values): the tests' tiny CLIP
(4+4 layers, width 64, 64 px) and open_clip's ViT-B-16 (12+12 layers, width 768) at
``--vit-size`` pixels (the paper trains at 518; on a CPU 224 keeps the run short). One step
is the real one of ``vlad train prompts``: forward with DPAM, focal + dice + CE loss,
backward into the prompts only, Adam step. One warm-up step, then ``--steps`` timed.
Prints a Markdown table and the load average (shared machines slow everything).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.scoring.learned.synthetic import register_tiny_clip, tiny_prompts_config
from vlad.scoring.learned.config import LearnedPromptsConfig
from vlad.scoring.learned.losses import anomaly_clip_loss
from vlad.scoring.learned.model import AnomalyClipModel

BATCH = 8


def steps_per_s(model: AnomalyClipModel, size: int, steps: int, device: str) -> float:
    """Timed optimizer steps per second at batch 8 (after one warm-up step)."""
    model.to(device).train()
    optimizer = torch.optim.Adam(model.prompt_parameters(), lr=1e-3, betas=(0.5, 0.999))
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(BATCH, 3, size, size, generator=generator).to(device)
    masks = (torch.rand(BATCH, size, size, generator=generator) > 0.9).float().to(device)
    labels = torch.tensor([0, 1] * (BATCH // 2), device=device)

    def step() -> None:
        output = model(images)
        parts = anomaly_clip_loss(output.image_logits, output.layer_maps, labels, masks)
        parts.total.backward()
        optimizer.step()
        optimizer.zero_grad()

    step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - started)


def main() -> int:
    import open_clip

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per CLIP")
    parser.add_argument("--vit-size", type=int, default=224, help="ViT-B-16 input side")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-vit", action="store_true", help="only the tiny CLIP")
    args = parser.parse_args()
    rows = []
    arch = register_tiny_clip(tempfile.mkdtemp())
    torch.manual_seed(0)
    tiny = AnomalyClipModel(
        open_clip.create_model(arch, pretrained=None),
        open_clip.get_tokenizer(arch),
        tiny_prompts_config(64),
    )
    rows.append(("tiny (4+4 layers, width 64)", 64, steps_per_s(tiny, 64, args.steps, args.device)))
    if not args.skip_vit:
        torch.manual_seed(0)
        clip = open_clip.create_model("ViT-B-16", pretrained=None)
        config = LearnedPromptsConfig(
            dpam_layer=10, feature_layers=(6, 12), image_size=args.vit_size
        )
        model = AnomalyClipModel(clip, open_clip.get_tokenizer("ViT-B-16"), config)
        rate = steps_per_s(model, args.vit_size, args.steps, args.device)
        rows.append(("ViT-B-16 random (12+12 layers, width 768)", args.vit_size, rate))
    load = os.getloadavg()[0]
    print(f"device: {args.device}, torch threads: {torch.get_num_threads()}, "
          f"load average at the end: {load:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    print()
    print("| CLIP | image px | batch | steps/s | images/s |")
    print("|---|---:|---:|---:|---:|")
    for name, size, rate in rows:
        print(f"| {name} | {size} | {BATCH} | {rate:.3f} | {rate * BATCH:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
