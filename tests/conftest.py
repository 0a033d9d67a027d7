"""Shared fixtures: tiny real CLIP models built in milliseconds, and synthetic images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

TINY_ARCH = "vlad-tiny-test"
TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="session")
def tiny_arch(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Register a tiny open_clip architecture (4x4 patch grid) and return its name."""
    import open_clip

    folder = tmp_path_factory.mktemp("open_clip_cfg")
    path = folder / f"{TINY_ARCH}.json"
    path.write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(path)
    return TINY_ARCH


@pytest.fixture(scope="session")
def tiny_weights(tiny_arch: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded, randomly initialised tiny CLIP saved as .safetensors."""
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.create_model(tiny_arch, pretrained=None)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


@pytest.fixture(scope="session")
def tiny_encoder(tiny_arch: str, tiny_weights: Path):
    """The tiny CLIP loaded through vlad's own loader, on the CPU in fp32."""
    from vlad.config import ClipConfig
    from vlad.encoders.clip import load_clip

    return load_clip(ClipConfig(arch=tiny_arch, weights=str(tiny_weights), device="cpu"))


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``local-dir:`` CLIP folder as a user would have it: config plus safetensors."""
    import open_clip
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("clip")
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": TINY_CONFIG, "preprocess_cfg": {}})
    )
    config_file = tmp_path_factory.mktemp("cfg") / "vlad-cli-tiny.json"
    config_file.write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(config_file)
    torch.manual_seed(3)
    model = open_clip.create_model("vlad-cli-tiny", pretrained=None)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(folder / "open_clip_model.safetensors"),
    )
    return folder


def make_image(height: int, width: int, seed: int = 0, defect: bool = False) -> Image.Image:
    """A smooth textured RGB image; with ``defect`` a dark square in the lower right."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = 120 + 60 * np.sin(xx / 7.0)[..., None] * np.cos(yy / 5.0)[..., None]
    noise = rng.normal(0, 8, size=(height, width, 3))
    array = np.clip(base + noise + np.array([20, 0, -20]), 0, 255)
    if defect:
        array[height * 2 // 3 :, width * 2 // 3 :] = 10
    return Image.fromarray(array.astype(np.uint8))
