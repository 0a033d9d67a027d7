"""Learned-prompt files for the tests that use them: tiny random CLIPs and their prompts.

The prompts are randomly initialised (as before any training) and saved with vlad's own
``save_prompts``, so that loading, checking and scoring run on real files. The scores mean
nothing; the training tests show that trained prompts localise defects.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from vlad.config import ClipConfig
from vlad.encoders.clip import ClipEncoder, load_clip
from vlad.scoring.learned.checkpoint import clip_fingerprint, save_prompts
from vlad.scoring.learned.config import LearnedPromptsConfig
from vlad.scoring.learned.model import AnomalyClipModel

#: A CLIP shaped like the CLI tests' ``clip_dir`` (tests/conftest.py) but 48 wide instead of
#: 64: prompts made for one do not fit the other.
OTHER_SHAPE: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 48, "patch_size": 8, "head_width": 24},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 48, "heads": 2, "layers": 2},
}

#: Prompt settings that fit those CLIPs: DPAM in the top block, maps of both blocks summed.
TINY_LEARNED = LearnedPromptsConfig(
    n_ctx=4, text_depth=2, text_ctx=2, dpam_layer=2, feature_layers=(1, 2), image_size=32
)


def clip_folder(root: Path, shape: dict[str, Any], seed: int) -> Path:
    """Write a seeded random open_clip model as a ``local-dir:`` folder under ``root``."""
    import open_clip
    from safetensors.torch import save_file

    name = f"vlad-learned-test-{shape['vision_cfg']['width']}-{seed}"
    root.mkdir(parents=True, exist_ok=True)
    config_file = root / f"{name}.json"
    config_file.write_text(json.dumps(shape))
    open_clip.add_model_config(config_file)
    torch.manual_seed(seed)
    model = open_clip.create_model(name, pretrained=None)
    folder = root / name
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": shape, "preprocess_cfg": {}})
    )
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(folder / "open_clip_model.safetensors"),
    )
    return folder


def load_local(folder: Path) -> ClipEncoder:
    """A ``local-dir:`` CLIP loaded by vlad's own loader, fp32 on the CPU."""
    return load_clip(ClipConfig(arch="", weights=f"local-dir:{folder}", device="cpu"))


def write_prompts(
    target: Path,
    encoder: ClipEncoder,
    *,
    config: LearnedPromptsConfig = TINY_LEARNED,
    seed: int = 0,
    clip_name: str = "vlad-tiny-test",
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Save randomly initialised prompts for ``encoder``'s CLIP; return the .safetensors path."""
    torch.manual_seed(seed)
    model = AnomalyClipModel(encoder.model, encoder.tokenizer, config)
    return save_prompts(
        target,
        model,
        config,
        clip_name=clip_name,
        clip_fingerprint=clip_fingerprint(encoder.model),
        provenance=provenance
        if provenance is not None
        else {"data": "synthetic", "format": "mvtec", "epochs": 0, "note": "random initialisation"},
    )


def authors_checkpoint(path: Path, width: int = 64, n_ctx: int = 4, deep: int = 1) -> Path:
    """Write a checkpoint in the AnomalyCLIP authors' layout (``{"prompt_learner": ...}``)."""
    torch.manual_seed(7)
    learner = {
        "ctx_pos": torch.randn(1, 1, n_ctx, width) * 0.02,
        "ctx_neg": torch.randn(1, 1, n_ctx, width) * 0.02,
        "token_prefix_pos": torch.zeros(1, 1, 1, width),
        "compound_prompt_projections.0.weight": torch.zeros(8, width),
    }
    for index in range(deep):
        learner[f"compound_prompts_text.{index}"] = torch.randn(2, width) * 0.02
    torch.save({"prompt_learner": learner}, path)
    return path
