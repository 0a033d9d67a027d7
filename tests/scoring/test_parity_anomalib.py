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
pytestmark = [pytest.mark.parity]


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
    from vlad.encoders import load_clip

    return load_clip(ClipConfig(arch=ARCH, weights=str(random_weights), device="cpu"))


@pytest.fixture(scope="module")
def batch(vlad_encoder):
    images = [make_image(240, 240, seed=1), make_image(180, 300, seed=2, defect=True)]
    return vlad_encoder.preprocess(images)


def _anomalib_model(monkeypatch: pytest.MonkeyPatch, weights, **kwargs):
    monkeypatch.setattr(anomalib_winclip, "PRETRAINED", str(weights))
    model = anomalib_winclip.WinClipModel(**kwargs)
    return model.eval()


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(np.corrcoef(a.flatten().numpy(), b.flatten().numpy())[0, 1])


def test_zero_shot_matches_anomalib(monkeypatch, random_weights, vlad_encoder, batch):
    from vlad.config import WinClipConfig
    from vlad.scoring.zero_shot import WinClipScorer

    reference = _anomalib_model(monkeypatch, random_weights, class_name="bottle")
    with torch.no_grad():
        expected = reference(batch.clone())
    scorer = WinClipScorer(
        vlad_encoder, WinClipConfig(class_name="bottle", prompts="winclip-anomalib")
    )
    ours = scorer.score_pixels(batch.clone())

    np.testing.assert_allclose(ours.image.numpy(), expected.pred_score.numpy(), atol=1e-4)
    if not _open_clip_windows_compatible():
        pytest.skip("open_clip >= 2.26.1: anomalib's window pass is misaligned, maps differ")
    ours_map = ours.pixel_map((240, 240))
    assert ours_map.shape == expected.anomaly_map.shape
    for index in range(batch.shape[0]):
        assert _correlation(ours_map[index], expected.anomaly_map[index]) >= 0.999
    np.testing.assert_allclose(ours_map.numpy(), expected.anomaly_map.numpy(), atol=1e-4)


def test_few_shot_matches_anomalib(monkeypatch, random_weights, vlad_encoder, batch):
    from vlad.config import WinClipConfig
    from vlad.scoring.zero_shot import WinClipScorer

    if not _open_clip_windows_compatible():
        pytest.skip("open_clip >= 2.26.1: anomalib's window pass is misaligned")
    references = [make_image(240, 240, seed=7), make_image(240, 240, seed=8)]
    reference_batch = vlad_encoder.preprocess(references)
    reference = _anomalib_model(
        monkeypatch, random_weights, class_name="bottle", reference_images=reference_batch
    )
    with torch.no_grad():
        expected = reference(batch.clone())
    scorer = WinClipScorer(
        vlad_encoder, WinClipConfig(class_name="bottle", prompts="winclip-anomalib")
    )
    scorer.add_references(references)
    ours = scorer.score_pixels(batch.clone())

    np.testing.assert_allclose(ours.image.numpy(), expected.pred_score.numpy(), atol=1e-4)
    ours_map = ours.pixel_map((240, 240))
    for index in range(batch.shape[0]):
        assert _correlation(ours_map[index], expected.anomaly_map[index]) >= 0.999
