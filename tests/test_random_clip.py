"""``datasets/random_clip.py``: the small random CLIP of the README's offline examples loads
through vlad's own ``local-dir:`` path and scores an image."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
from PIL import Image

from vlad.config import ClipConfig
from vlad.encoders.clip import load_clip

_SCRIPT = Path(__file__).resolve().parents[1] / "datasets" / "random_clip.py"


def _script():
    spec = importlib.util.spec_from_file_location("vlad_random_clip", _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_folder_loads_as_local_dir_and_is_deterministic(tmp_path: Path, capsys) -> None:
    script = _script()
    assert script.main([str(tmp_path / "a")]) == 0
    assert capsys.readouterr().out == (
        f"wrote a small random CLIP to {tmp_path / 'a'}: use --clip-weights "
        f"local-dir:{tmp_path / 'a'}\n"
    )
    script.write_random_clip(tmp_path / "b")
    assert (tmp_path / "a" / "open_clip_model.safetensors").read_bytes() == (
        tmp_path / "b" / "open_clip_model.safetensors"
    ).read_bytes()
    config = json.loads((tmp_path / "a" / "open_clip_config.json").read_text())
    assert config["model_cfg"] == script.SMALL_CLIP_CONFIG

    encoder = load_clip(ClipConfig(weights=f"local-dir:{tmp_path / 'a'}", device="cpu"))
    image = Image.fromarray(np.full((64, 64, 3), 128, dtype=np.uint8))
    features = encoder.encode_images(encoder.preprocess([image]))
    assert tuple(features.image.shape) == (1, 128)
    assert features.grid_size == (16, 16)
