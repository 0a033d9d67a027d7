"""AnomalyClipScorer: learned prompts from a file scoring real images on a loaded tiny CLIP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.conftest import TINY_CONFIG, make_image
from tests.learned_helpers import (
    OTHER_SHAPE,
    TINY_LEARNED,
    authors_checkpoint,
    clip_folder,
    load_local,
    write_prompts,
)
from vlad.errors import ConfigError, InputError, ModelLoadError
from vlad.scoring.learned.checkpoint import load_prompts
from vlad.scoring.learned.scorer import AnomalyClipScorer


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return load_local(clip_folder(tmp_path_factory.mktemp("clip"), TINY_CONFIG, seed=3))


@pytest.fixture(scope="module")
def prompts_dir(encoder, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("prompts") / "run"
    write_prompts(folder, encoder, seed=1)
    return folder


@pytest.fixture(scope="module")
def scorer(encoder, prompts_dir) -> AnomalyClipScorer:
    return AnomalyClipScorer.load(encoder, prompts_dir)


def test_scores_and_maps_at_each_images_own_size(scorer):
    images = [make_image(40, 50, seed=1), make_image(37, 29, seed=2, defect=True)]
    results = scorer.score_images(images)
    assert [m.shape for _, m in results] == [(40, 50), (37, 29)]  # (H, W), PIL is (W, H)
    for score, anomaly_map in results:
        assert 0.0 <= score <= 1.0
        assert anomaly_map.dtype == np.float32
        assert np.isfinite(anomaly_map).all()
        assert anomaly_map.min() >= 0.0 and anomaly_map.max() <= 1.0
        assert anomaly_map.std() > 0  # a map, not a constant
    assert scorer.score_images([]) == []


def test_same_as_the_models_own_forward(scorer):
    """Cached text features give exactly what the model's full forward pass gives."""
    images = [make_image(40, 50, seed=4), make_image(32, 32, seed=5, defect=True)]
    pixels = scorer.preprocess(images)
    assert pixels.shape == (2, 3, 32, 32)
    with torch.inference_mode():
        full = scorer.model(pixels)
    results = scorer.score_images(images)
    layers = len(TINY_LEARNED.feature_layers)
    for index, (score, anomaly_map) in enumerate(results):
        assert score == pytest.approx(float(full.image_scores[index]), abs=1e-6)
        height, width = anomaly_map.shape
        expected = F.interpolate(
            full.maps[index : index + 1, None] / layers,
            size=(height, width),
            mode="bilinear",
            align_corners=False,
        )[0, 0]
        np.testing.assert_allclose(anomaly_map, expected.numpy(), atol=1e-5)


def test_text_tower_runs_once_when_built(scorer, monkeypatch):
    calls = []
    original = scorer.model.text_features
    monkeypatch.setattr(scorer.model, "text_features", lambda: calls.append(1) or original())
    scorer.score_images([make_image(32, 32, seed=6)] * 3)
    scorer.score_images([make_image(20, 30, seed=7)])
    assert calls == []


def test_batch_does_not_change_scores(scorer):
    images = [make_image(40, 50, seed=8), make_image(37, 29, seed=9, defect=True)]
    together = scorer.score_images(images)
    alone = [scorer.score_images([image])[0] for image in images]
    for (s1, m1), (s2, m2) in zip(together, alone, strict=True):
        assert s1 == pytest.approx(s2, abs=1e-5)
        np.testing.assert_allclose(m1, m2, atol=1e-5)


def test_image_size_override(encoder, prompts_dir):
    scorer = AnomalyClipScorer.load(encoder, prompts_dir, image_size=48)
    assert scorer.image_size == 48
    assert scorer.preprocess([make_image(40, 50)]).shape == (1, 3, 48, 48)
    [(score, anomaly_map)] = scorer.score_images([make_image(40, 50, seed=1)])
    assert anomaly_map.shape == (40, 50) and 0.0 <= score <= 1.0
    assert AnomalyClipScorer.load(encoder, prompts_dir).image_size == 32  # the file's own


@pytest.mark.parametrize("size", [30, 4, 0])
def test_image_size_not_a_multiple_of_the_patch(encoder, prompts_dir, size):
    with pytest.raises(ConfigError) as caught:
        AnomalyClipScorer.load(encoder, prompts_dir, image_size=size)
    assert caught.value.param == "image_size"
    message = str(caught.value)
    assert f"image_size {size} is not a multiple of the 8-pixel patches" in message
    assert message.count(".") == 1 and message.endswith(".")


def test_threshold(encoder, prompts_dir):
    assert AnomalyClipScorer.load(encoder, prompts_dir, threshold=0.3).threshold == 0.3
    with pytest.raises(ConfigError, match=r"threshold must lie in \[0, 1\], got 1.5"):
        AnomalyClipScorer.load(encoder, prompts_dir, threshold=1.5)


def test_prompts_for_another_clip_are_refused_in_one_sentence(encoder, tmp_path):
    other = load_local(clip_folder(tmp_path / "clip", OTHER_SHAPE, seed=2))
    path = write_prompts(tmp_path / "other", other, clip_name="other-clip")
    with pytest.raises(ModelLoadError) as caught:
        AnomalyClipScorer(encoder, load_prompts(path), source=path)
    assert caught.value.param == "learned_prompts"
    message = str(caught.value)
    assert "were trained for CLIP other-clip" in message
    assert "vit-w48" in message and "vit-w64" in message
    assert message.endswith("use that CLIP or train prompts for this one.")
    assert "\n" not in message


def test_authors_checkpoint_of_another_width_is_refused(encoder, tmp_path):
    path = authors_checkpoint(tmp_path / "authors.pth", width=768)
    with pytest.raises(ModelLoadError, match="768-wide tokens for CLIP ViT-L-14-336") as caught:
        AnomalyClipScorer.load(encoder, path)
    assert caught.value.param == "learned_prompts"


def test_missing_prompts(encoder, tmp_path):
    with pytest.raises(InputError, match="do not exist") as caught:
        AnomalyClipScorer.load(encoder, tmp_path / "nowhere")
    assert caught.value.param == "learned_prompts"


def test_source_name(scorer, prompts_dir):
    assert scorer.source_name == prompts_dir.name


def test_the_shared_clip_is_left_as_it_was(tmp_path):
    """Other scorers share the encoder: its embeddings are the same after learned scoring."""
    encoder = load_local(clip_folder(tmp_path / "clip", TINY_CONFIG, seed=4))
    pixels = encoder.preprocess([make_image(40, 50, seed=1)])
    before = encoder.encode_images(pixels, window_scales=(2,))
    scorer = AnomalyClipScorer.load(encoder, write_prompts(tmp_path / "p", encoder))
    scorer.score_images([make_image(40, 50, seed=1)])
    after = encoder.encode_images(pixels, window_scales=(2,))
    assert torch.equal(before.image, after.image)
    assert torch.equal(before.windows[2], after.windows[2])


def _with_adapter(encoder, folder: Path, targets: tuple[str, ...]):
    """Prompts plus LoRA adapters (random, non-zero updates) saved as training writes them."""
    import copy

    from vlad.scoring.learned.adapters import LoraSettings, add_lora, save_lora

    write_prompts(folder, encoder, seed=1)
    clip = copy.deepcopy(encoder.model)
    settings = LoraSettings(rank=2, targets=targets)
    torch.manual_seed(0)
    for parameter in add_lora(clip, settings):
        parameter.data.normal_(0, 0.2)
    save_lora(clip, folder / "adapter", settings, clip_name=encoder.name)
    return clip


@pytest.mark.parametrize("targets", [("c_fc", "c_proj"), ("attn", "c_fc")])
def test_adapters_trained_with_the_prompts_are_used(encoder, tmp_path, targets):
    from vlad.scoring.learned.adapters import has_lora
    from vlad.scoring.learned.checkpoint import model_from_prompts

    adapted = _with_adapter(encoder, tmp_path / "run", targets)
    scorer = AnomalyClipScorer.load(encoder, tmp_path / "run")
    assert scorer.adapter == tmp_path / "run" / "adapter"
    assert not has_lora(encoder.model)  # the shared CLIP is left alone
    reference = model_from_prompts(adapted, encoder.tokenizer, load_prompts(tmp_path / "run"))
    images = [make_image(40, 50, seed=3), make_image(32, 32, seed=4, defect=True)]
    with torch.inference_mode():
        expected = reference(scorer.preprocess(images))
    got = scorer.score_pixels(scorer.preprocess(images))
    np.testing.assert_allclose(got.image.numpy(), expected.image_scores.numpy(), atol=1e-5)
    np.testing.assert_allclose(got.patch_map.numpy(), expected.maps.numpy() / 2, atol=1e-5)
    without = AnomalyClipScorer(encoder, load_prompts(tmp_path / "run" / "prompts.safetensors"))
    assert without.adapter is not None  # the file in the folder finds its adapters too
    plain = write_prompts(tmp_path / "plain", encoder, seed=1)
    plain_scores = AnomalyClipScorer.load(encoder, plain).score_pixels(scorer.preprocess(images))
    assert not torch.allclose(plain_scores.patch_map, got.patch_map, atol=1e-4)


def test_a_clip_with_the_adapters_merged_gets_none_on_top(encoder, tmp_path):
    from safetensors.torch import save_file

    from vlad.config import ClipConfig
    from vlad.encoders.clip import load_clip
    from vlad.scoring.learned.adapters import merge_lora

    adapted = _with_adapter(encoder, tmp_path / "run", ("c_fc", "c_proj"))
    merge_lora(adapted)
    merged_file = tmp_path / "run" / "clip-merged.safetensors"
    save_file({k: v.contiguous() for k, v in adapted.state_dict().items()}, str(merged_file))
    arch = encoder.name.split(":")[0]
    merged = load_clip(ClipConfig(arch=arch, weights=str(merged_file), device="cpu"))
    from_merged = AnomalyClipScorer.load(merged, tmp_path / "run")
    assert from_merged.adapter is None
    from_adapter = AnomalyClipScorer.load(encoder, tmp_path / "run")
    image = make_image(40, 50, seed=3)
    [(s1, m1)] = from_merged.score_images([image])
    [(s2, m2)] = from_adapter.score_images([image])
    assert s1 == pytest.approx(s2, abs=1e-5)
    np.testing.assert_allclose(m1, m2, atol=1e-5)
