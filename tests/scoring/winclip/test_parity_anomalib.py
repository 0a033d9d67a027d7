"""Parity with anomalib 2.x's WinClipModel on identical, randomly initialised CLIP weights.

Runs when anomalib is installed (``pip install -e '.[parity]'``). anomalib's window pass
permutes tokens to (L, N, D) itself, which matches open_clip < 2.26.1 only (its own
``clip`` extra pins that range); with a newer open_clip its windows are computed across
the wrong axis, so the map comparison needs the pinned range.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
import torch

from tests.conftest import make_image

anomalib_winclip = pytest.importorskip("anomalib.models.image.winclip.torch_model")

ARCH = "ViT-B-16-plus-240"
pytestmark = [pytest.mark.parity, pytest.mark.slow]


def _open_clip_windows_compatible() -> bool:
    version = tuple(int(p) for p in importlib.metadata.version("open_clip_torch").split(".")[:3])
    return version < (2, 26, 1)


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory: pytest.TempPathFactory):
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(1234)
    model = open_clip.create_model(ARCH, pretrained=None)
    path = tmp_path_factory.mktemp("vitb16plus") / "random.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


@pytest.fixture(scope="module")
def vlad_encoder(random_weights):
    from vlad.config import ClipConfig
    from vlad.encoders.clip import load_clip

    return load_clip(ClipConfig(arch=ARCH, weights=str(random_weights), device="cpu"))


@pytest.fixture(scope="module")
def batch(vlad_encoder):
    images = [make_image(240, 240, seed=1), make_image(180, 300, seed=2, defect=True)]
    return vlad_encoder.preprocess(images)


@pytest.fixture(scope="module")
def anomalib_outputs(random_weights, vlad_encoder, batch):
    """anomalib's zero-shot and few-shot outputs from one model (one prompt embedding)."""
    references = vlad_encoder.preprocess(
        [make_image(240, 240, seed=7), make_image(240, 240, seed=8)]
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(anomalib_winclip, "PRETRAINED", str(random_weights))
        model = anomalib_winclip.WinClipModel(
            class_name="bottle", reference_images=references
        ).eval()
    with torch.no_grad():
        few_shot = model(batch.clone())
        model.k_shot = 0  # the same model without its references: plain zero-shot
        zero_shot = model(batch.clone())
    return {"zero": zero_shot, "few": few_shot, "references": references}


@pytest.fixture(scope="module")
def vlad_scorer(vlad_encoder):
    from vlad.config import WinClipConfig
    from vlad.scoring.winclip.scorer import WinClipScorer

    return WinClipScorer(
        vlad_encoder, WinClipConfig(class_name="bottle", prompts="winclip-anomalib")
    )


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(np.corrcoef(a.flatten().numpy(), b.flatten().numpy())[0, 1])


def test_zero_shot_matches_anomalib(anomalib_outputs, vlad_scorer, batch):
    expected = anomalib_outputs["zero"]
    assert vlad_scorer.k_shot == 0
    ours = vlad_scorer.score_pixels(batch.clone())

    np.testing.assert_allclose(ours.image.numpy(), expected.pred_score.numpy(), atol=1e-4)
    if not _open_clip_windows_compatible():
        pytest.skip("open_clip >= 2.26.1: anomalib's window pass is misaligned, maps differ")
    ours_map = ours.pixel_map((240, 240))
    assert ours_map.shape == expected.anomaly_map.shape
    for index in range(batch.shape[0]):
        assert _correlation(ours_map[index], expected.anomaly_map[index]) >= 0.999
    np.testing.assert_allclose(ours_map.numpy(), expected.anomaly_map.numpy(), atol=1e-4)


def test_few_shot_matches_anomalib(anomalib_outputs, vlad_scorer, vlad_encoder, batch):
    if not _open_clip_windows_compatible():
        pytest.skip("open_clip >= 2.26.1: anomalib's window pass is misaligned")
    expected = anomalib_outputs["few"]
    vlad_scorer.add_references([make_image(240, 240, seed=7), make_image(240, 240, seed=8)])
    ours = vlad_scorer.score_pixels(batch.clone())

    np.testing.assert_allclose(ours.image.numpy(), expected.pred_score.numpy(), atol=1e-4)
    ours_map = ours.pixel_map((240, 240))
    for index in range(batch.shape[0]):
        assert _correlation(ours_map[index], expected.anomaly_map[index]) >= 0.999
