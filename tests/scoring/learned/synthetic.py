"""The synthetic MVTec-layout dataset (``datasets/synthetic_mvtec.py``) and a tiny CLIP for tests.

The generator is the script a user runs (``python datasets/synthetic_mvtec.py ROOT``); the
tests load that same file, so there is one implementation.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_SCRIPT = Path(__file__).resolve().parents[3] / "datasets" / "synthetic_mvtec.py"
_spec = importlib.util.spec_from_file_location("vlad_synthetic_mvtec", _SCRIPT)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

make_synthetic_mvtec = _module.make_synthetic_mvtec
TEXTURES = _module.TEXTURES
PRODUCTS = _module.PRODUCTS
DEFECTS = _module.DEFECTS


# --- a tiny CLIP for the training tests ---------------------------------------------------

#: A 4-block ViT (patch 8) and a 4-layer text tower: deep enough for DPAM and two map layers.
TINY_CLIP_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 4, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 4},
}
TINY_CLIP_ARCH = "vlad-train-tiny"
#: The prompt-model flags that fit the tiny CLIP (for `vlad train prompts`).
TINY_MODEL_FLAGS = [
    *("--n-ctx", "4", "--text-depth", "3", "--text-ctx", "2", "--dpam-layer", "3"),
    *("--feature-layers", "2", "4", "--sigma", "1"),
]


def register_tiny_clip(folder: str | Path) -> str:
    """Register the tiny architecture with open_clip (config file written to ``folder``)."""
    import json

    import open_clip

    path = Path(folder) / f"{TINY_CLIP_ARCH}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(path)
    return TINY_CLIP_ARCH


def tiny_prompts_config(image_size: int = 32, **changes: object):
    """The learned-prompt settings that fit the tiny CLIP."""
    from vlad.scoring.learned.config import LearnedPromptsConfig

    values: dict[str, object] = {
        "n_ctx": 4,
        "text_depth": 3,
        "text_ctx": 2,
        "dpam_layer": 3,
        "feature_layers": (2, 4),
        "sigma": 1.0,
        "image_size": image_size,
    }
    values.update(changes)
    return LearnedPromptsConfig(**values)  # type: ignore[arg-type]


def write_tiny_clip_dir(folder: str | Path, seed: int = 0) -> Path:
    """A ``local-dir:`` CLIP folder (config + safetensors) of the tiny architecture."""
    import json

    import open_clip
    import torch
    from safetensors.torch import save_file

    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    (target / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": TINY_CLIP_CONFIG, "preprocess_cfg": {}})
    )
    register_tiny_clip(target / "arch")
    torch.manual_seed(seed)
    model = open_clip.create_model(TINY_CLIP_ARCH, pretrained=None)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(target / "open_clip_model.safetensors"),
    )
    return target
