"""A small CLIP with random weights, written as a ``local-dir:`` folder vlad loads offline.

No PyPI package carries CLIP weights and vlad never downloads them in examples, so the
README's "try it offline" examples stand a small random CLIP in for a real one: every
command runs end to end, and the scores mean nothing (the CLIP is untrained). The folder
holds ``open_clip_config.json`` and ``open_clip_model.safetensors``, the layout a real
checkpoint folder has, so ``--clip-weights local-dir:FOLDER`` reads it like any other::

    python datasets/random_clip.py out/small-clip
    vlad detect datasets/samples/plates --clip-weights local-dir:out/small-clip

Deterministic for a seed. Vision tower: 6 layers of width 192 with 14-pixel patches at
224 px; text tower: 4 layers of width 128 with CLIP's own vocabulary, so vlad's tokenizer
and prompts work unchanged.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

#: The open_clip model config written to ``open_clip_config.json``.
SMALL_CLIP_CONFIG: dict = {
    "embed_dim": 128,
    "quick_gelu": True,
    "vision_cfg": {
        "image_size": 224,
        "layers": 6,
        "width": 192,
        "patch_size": 14,
        "head_width": 64,
    },
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 128, "heads": 2, "layers": 4},
}


def write_random_clip(folder: str | Path, *, seed: int = 0) -> Path:
    """Write a small random-weight CLIP as an open_clip ``local-dir:`` folder.

    Args:
        folder: Where to write it (created if missing; its two files are replaced).
        seed: Torch seed of the random weights.

    Returns:
        The folder.
    """
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": SMALL_CLIP_CONFIG, "preprocess_cfg": {}}
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=1) + "\n")
    torch.manual_seed(seed)
    model = open_clip.CLIP(**SMALL_CLIP_CONFIG)
    weights = {name: value.contiguous() for name, value in model.state_dict().items()}
    save_file(weights, str(folder / "open_clip_model.safetensors"))
    return folder


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python datasets/random_clip.py FOLDER [--seed N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="output folder (use it as --clip-weights local-dir:FOLDER)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    args = parser.parse_args(argv)
    folder = write_random_clip(args.folder, seed=args.seed)
    print(f"wrote a small random CLIP to {folder}: use --clip-weights local-dir:{folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
