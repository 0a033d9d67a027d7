"""Parity of vlad's AnomalyCLIP with the authors' code, on identical weights and prompts.

The authors' implementation (``../shared/reference/AnomalyCLIP`` beside the repository) builds
its model from an OpenAI-format state dict; vlad loads the same tensors through open_clip from
a ``local-dir:`` folder. Their prompt learner is initialised at random (larger than their
0.02 so that the two prompts differ clearly), saved in their checkpoint format, and loaded
into vlad through vlad's own checkpoint reader. Both then score the same image at the same
size with the authors' settings (DPAM 20, sigma 4, temperature 0.07).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.conftest import make_image
from vlad.encoders.clip import OPENAI_MEAN, OPENAI_STD
from vlad.scoring.learned.checkpoint import load_prompts, model_from_prompts

REFERENCE = Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "AnomalyCLIP"

pytestmark = [
    pytest.mark.parity,
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.skipif(
        not (REFERENCE / "AnomalyCLIP_lib").is_dir(),
        reason=f"the authors' AnomalyCLIP code is not at {REFERENCE}",
    ),
]

DPAM = 20
SIGMA = 4
N_CTX, DEPTH, T_N_CTX = 12, 9, 4


@pytest.fixture(scope="module")
def reference() -> Iterator[types.SimpleNamespace]:
    """The authors' modules, imported as their README says (two unused imports stubbed)."""
    import packaging

    added = {}
    for name, stub in (
        ("pkg_resources", types.SimpleNamespace(packaging=packaging)),
        ("thop", types.SimpleNamespace(profile=None)),
    ):
        if name not in sys.modules:
            sys.modules[name] = stub  # type: ignore[assignment]
            added[name] = stub
    sys.path.append(str(REFERENCE))
    try:
        import AnomalyCLIP_lib
        from AnomalyCLIP_lib.build_model import build_model
        from prompt_ensemble import AnomalyCLIP_PromptLearner
    finally:
        sys.path.remove(str(REFERENCE))
        for name, stub in added.items():
            if sys.modules.get(name) is stub:
                del sys.modules[name]
    yield types.SimpleNamespace(
        lib=AnomalyCLIP_lib, build_model=build_model, PromptLearner=AnomalyCLIP_PromptLearner
    )


@pytest.fixture(scope="module")
def authors_checkpoint(
    reference: types.SimpleNamespace,
    acl_openai_state: dict[str, torch.Tensor],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A random prompt learner of theirs, saved as their ``{"prompt_learner": ...}`` file."""
    design = _design()
    model = reference.build_model("ViT-L/14@336px", dict(acl_openai_state), design)
    torch.manual_seed(7)
    learner = reference.PromptLearner(model, design)
    with torch.no_grad():
        for name in ("ctx_pos", "ctx_neg"):
            getattr(learner, name).normal_(std=0.5)
        for parameter in learner.compound_prompts_text:
            parameter.normal_(std=0.5)
    path = tmp_path_factory.mktemp("authors") / "epoch_15.pth"
    torch.save({"prompt_learner": learner.state_dict()}, path)
    return path


def _design() -> dict[str, int]:
    return {
        "Prompt_length": N_CTX,
        "learnabel_text_embedding_depth": DEPTH,
        "learnabel_text_embedding_length": T_N_CTX,
    }


def _pixels(size: int) -> torch.Tensor:
    """One synthetic image with a defect, resized and normalised as CLIP expects."""
    from PIL import Image

    image = make_image(300, 260, seed=4, defect=True).resize((size, size), Image.Resampling.BICUBIC)
    array = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(OPENAI_MEAN).view(3, 1, 1)
    std = torch.tensor(OPENAI_STD).view(3, 1, 1)
    return ((array - mean) / std).unsqueeze(0)


@pytest.fixture(scope="module")
def authors_models(
    reference: types.SimpleNamespace,
    acl_openai_state: dict[str, torch.Tensor],
    authors_checkpoint: Path,
) -> dict[int, tuple[Any, Any]]:
    """Their model and prompt learner per image size, built once.

    Their vision forward overwrites its positional embedding with the one resized for the
    last input size, so a model is only reused for one size.
    """
    return {}


def _authors_forward(
    reference: types.SimpleNamespace,
    state: dict[str, torch.Tensor],
    checkpoint: Path,
    models: dict[int, tuple[Any, Any]],
    image: torch.Tensor,
    layers: list[int],
) -> tuple[float, np.ndarray, list[torch.Tensor]]:
    """Their test-time forward for one image (as their test.py runs it)."""
    from scipy.ndimage import gaussian_filter

    lib = reference.lib
    size = image.shape[-1]
    if size not in models:
        design = _design()
        model = reference.build_model("ViT-L/14@336px", dict(state), design)
        learner = reference.PromptLearner(model, design)
        learner.load_state_dict(torch.load(checkpoint, weights_only=True)["prompt_learner"])
        model.visual.DAPM_replace(DPAM_layer=DPAM)
        models[size] = (model, learner)
    model, learner = models[size]
    with torch.no_grad():
        prompts, tokenized, deep = learner(cls_id=None)
        text = model.encode_text_learn(prompts, tokenized, deep).float()
        text = torch.stack(torch.chunk(text, dim=0, chunks=2), dim=1)
        text = text / text.norm(dim=-1, keepdim=True)
        image_features, patch_features = model.encode_image(image, layers, DPAM_layer=DPAM)
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        probs = (image_features @ text.permute(0, 2, 1) / 0.07).softmax(-1)
        score = float(probs[0, 0, 1])
        maps = []
        layer_maps = []
        for patch_feature in patch_features:
            patch_feature = patch_feature / patch_feature.norm(dim=-1, keepdim=True)
            similarity, _ = lib.compute_similarity(patch_feature, text[0])
            similarity_map = lib.get_similarity_map(similarity[:, 1:, :], size)
            layer_maps.append(similarity_map.permute(0, 3, 1, 2))
            maps.append((similarity_map[..., 1] + 1 - similarity_map[..., 0]) / 2.0)
        total = torch.stack(maps).sum(dim=0)[0].numpy()
    return score, gaussian_filter(total, sigma=SIGMA), layer_maps


def _vlad_forward(
    encoder: Any, checkpoint: Path, image: torch.Tensor, layers: list[int], mode: str
) -> Any:
    prompts = load_prompts(checkpoint)
    model = model_from_prompts(
        encoder.model,
        encoder.tokenizer,
        prompts,
        feature_layers=tuple(layers),
        feature_mode=mode,
        image_size=image.shape[-1],
        dpam_layer=DPAM,
        sigma=float(SIGMA),
    )
    with torch.inference_mode():
        return model(image)


def _uncloned_forward(self: Any, x: Any, out_layers: list[int], ffn: bool) -> Any:
    """Their vision loop as released before April 2025: layer outputs kept without a copy."""
    kept = []
    for number, block in enumerate(self.resblocks, start=1):
        x = block(x, ffn=ffn)
        if number in out_layers:
            kept.append(x[0] if isinstance(x, list) else x)
    return x, kept


@pytest.mark.parametrize(
    ("layers", "size", "mode"),
    [
        ([6, 12, 18, 24], 224, "independent"),
        ([6, 12, 18, 24], 336, "independent"),
        ([24], 336, "independent"),
        ([3, 5, 12, 24], 224, "aliased"),
    ],
)
def test_vlad_matches_the_authors_code(
    reference: types.SimpleNamespace,
    authors_checkpoint: Path,
    acl_openai_state: dict[str, torch.Tensor],
    acl_encoder: Any,
    authors_models: dict[int, tuple[Any, Any]],
    monkeypatch: pytest.MonkeyPatch,
    layers: list[int],
    size: int,
    mode: str,
) -> None:
    if mode == "aliased":
        module = sys.modules["AnomalyCLIP_lib.AnomalyCLIP"]
        monkeypatch.setattr(module.Transformer, "AnomalyCLIP_forward", _uncloned_forward)
    image = _pixels(size)
    score, their_map, their_layers = _authors_forward(
        reference, acl_openai_state, authors_checkpoint, authors_models, image.clone(), layers
    )
    ours = _vlad_forward(acl_encoder, authors_checkpoint, image.clone(), layers, mode)

    assert abs(float(ours.image_scores[0]) - score) <= 1e-4
    our_map = ours.maps[0].numpy()
    assert our_map.shape == their_map.shape == (size, size)
    assert their_map.std() > 1e-3  # a map with structure, not a constant
    pearson = float(np.corrcoef(our_map.ravel(), their_map.ravel())[0, 1])
    print(
        f"parity {mode} {layers} @{size}: score {float(ours.image_scores[0]):.6f} vs {score:.6f}, "
        f"pearson {pearson:.7f}, max |diff| {float(np.abs(our_map - their_map).max()):.2e}, "
        f"map range {their_map.min():.3f}..{their_map.max():.3f}"
    )
    assert pearson >= 0.999
    assert float(np.abs(our_map - their_map).max()) <= 1e-3
    for mine, theirs in zip(ours.layer_maps, their_layers, strict=True):
        assert float((mine - theirs).abs().max()) <= 1e-3
    if mode == "aliased":
        # Layers 5, 12 and 24 alias the last block's DPAM tokens in the released code; 3 does not.
        assert torch.equal(ours.layer_maps[1], ours.layer_maps[3])
        assert not torch.allclose(ours.layer_maps[0], ours.layer_maps[3], atol=1e-3)
    elif len(layers) > 1:
        assert not torch.allclose(ours.layer_maps[0], ours.layer_maps[-1], atol=1e-3)
