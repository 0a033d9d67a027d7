"""Tiny random CLIPs for the learned-prompt tests.

``acl_clip_dir``: the parity CLIP (width 128, 24 vision layers of patch 14, 12 text layers,
context 77, vocabulary 49408, quick GELU) saved as a ``local-dir:`` folder. Its tensors are an
OpenAI-format state dict as well (open_clip's ``CLIP`` uses OpenAI's names), which the
authors' ``build_model`` reads (``acl_openai_state``).

``small_clip``: a much smaller CLIP (4 vision layers, 3 text layers) for fast model tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch

ACL_CONFIG: dict[str, Any] = {
    "embed_dim": 64,
    "quick_gelu": True,
    "vision_cfg": {
        "image_size": 224,
        "layers": 24,
        "width": 128,
        "patch_size": 14,
        "head_width": 64,
    },
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 128, "heads": 2, "layers": 12},
}
SMALL_CONFIG: dict[str, Any] = {
    "embed_dim": 32,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 4, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 3},
}


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread inside the block (tiny models; spares a shared CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _clip_folder(root: Path, config: dict[str, Any], seed: int) -> Path:
    """Write a seeded random open_clip model as a ``local-dir:`` folder."""
    import open_clip
    from safetensors.torch import save_file

    name = f"vlad-acl-test-{seed}"
    config_file = root / f"{name}.json"
    config_file.write_text(json.dumps(config))
    open_clip.add_model_config(config_file)
    torch.manual_seed(seed)
    model = open_clip.create_model(name, pretrained=None)
    folder = root / "clip"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": config, "preprocess_cfg": {}})
    )
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "open_clip_model.safetensors"))
    return folder


@pytest.fixture(scope="session")
def acl_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The parity-sized random CLIP as a ``local-dir:`` folder."""
    with single_thread():
        return _clip_folder(tmp_path_factory.mktemp("acl_clip"), ACL_CONFIG, seed=11)


@pytest.fixture(scope="session")
def acl_openai_state(acl_clip_dir: Path) -> dict[str, torch.Tensor]:
    """The same tensors as an OpenAI-format state dict (for the authors' build_model)."""
    from safetensors.torch import load_file

    return load_file(str(acl_clip_dir / "open_clip_model.safetensors"))


@pytest.fixture(scope="session")
def acl_encoder(acl_clip_dir: Path) -> Any:
    """The parity CLIP loaded by vlad's own loader from ``local-dir:``, fp32 on the CPU."""
    from vlad.config import ClipConfig
    from vlad.encoders.clip import load_clip

    with single_thread():
        return load_clip(
            ClipConfig(arch="", weights=f"local-dir:{acl_clip_dir}", device="cpu", precision="fp32")
        )


@pytest.fixture(scope="session")
def small_encoder(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A small random CLIP (4 vision blocks, 4x4 patches at 32 px, 3 text layers)."""
    from vlad.config import ClipConfig
    from vlad.encoders.clip import load_clip

    with single_thread():
        folder = _clip_folder(tmp_path_factory.mktemp("small_clip"), SMALL_CONFIG, seed=5)
        return load_clip(
            ClipConfig(arch="", weights=f"local-dir:{folder}", device="cpu", precision="fp32")
        )


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Run a module's torch work on one thread (tiny models; spares a shared CPU), then restore."""
    with single_thread():
        yield
