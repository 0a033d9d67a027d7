"""Tests of vlad.scoring.winclip.scorer (WinCLIP / WinCLIP+) with a real tiny CLIP (4x4 grid)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.conftest import make_image
from vlad.config import WinClipConfig
from vlad.encoders.clip import window_indices
from vlad.errors import ConfigError
from vlad.scoring.prompts import build_ensemble, load_prompt_set
from vlad.scoring.winclip.scorer import BatchScores, WinClipScorer


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a busy 2-core machine, 2 threads make tiny ops ~100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def images():
    return [
        make_image(32, 32, seed=1),
        make_image(40, 50, seed=2, defect=True),
        make_image(64, 24, seed=3),
    ]


@pytest.fixture
def scorer(tiny_encoder):
    return WinClipScorer(tiny_encoder, WinClipConfig(class_name="bottle"))


def hand_anomaly_probability(
    embeddings: torch.Tensor, text: torch.Tensor, t: float
) -> torch.Tensor:
    """softmax over (normal, anomalous) cosine / t, written out."""
    e = embeddings / embeddings.norm(dim=-1, keepdim=True)
    normal = (e * (text[0] / text[0].norm())).sum(-1) / t
    anomalous = (e * (text[1] / text[1].norm())).sum(-1) / t
    return torch.exp(anomalous) / (torch.exp(normal) + torch.exp(anomalous))


def hand_window_map(window_scores: torch.Tensor, grid: tuple[int, int], scale: int) -> torch.Tensor:
    """(B, n_windows) -> (B, P): harmonic mean of the windows holding each patch, by loops."""
    windows = window_indices(grid, scale).tolist()
    out = torch.zeros(window_scores.shape[0], grid[0] * grid[1])
    for b in range(window_scores.shape[0]):
        for patch in range(grid[0] * grid[1]):
            scores = [
                float(window_scores[b, w]) for w, members in enumerate(windows) if patch in members
            ]
            out[b, patch] = len(scores) / sum(1 / s for s in scores)
    return out


def test_text_embeddings_computed_once(tiny_encoder, images, monkeypatch):
    calls: list[int] = []
    real = tiny_encoder.encode_text

    def counting(prompts, **kwargs):
        calls.append(len(prompts))
        return real(prompts, **kwargs)

    monkeypatch.setattr(tiny_encoder, "encode_text", counting)
    scorer = WinClipScorer(tiny_encoder, WinClipConfig(class_name="bottle"))
    scorer.score_images(images[:1])
    assert sorted(calls) == [4 * 21, 7 * 21]
    first = scorer.text_embeddings
    scorer.score_images(images)
    scorer.score_images(images[1:])
    scorer.add_references(images[:1])
    scorer.score_images(images[:2])
    assert sorted(calls) == [4 * 21, 7 * 21]
    assert scorer.text_embeddings is first
    assert first.shape == (2, 32)


def test_text_embeddings_are_the_prompt_means(scorer, tiny_encoder):
    normal, anomalous = build_ensemble(load_prompt_set("winclip"), "bottle")
    assert scorer.normal_prompts == normal
    assert scorer.anomalous_prompts == anomalous
    expected = torch.stack(
        [tiny_encoder.encode_text(normal).mean(0), tiny_encoder.encode_text(anomalous).mean(0)]
    )
    assert torch.allclose(scorer.text_embeddings, expected, atol=1e-6)


def test_scores_in_unit_interval_and_maps_at_image_size(scorer, images):
    results = scorer.score_images(images)
    assert len(results) == 3
    for (score, pixel_map), image in zip(results, images, strict=True):
        width, height = image.size
        assert isinstance(score, float)
        assert 0.0 <= score <= 1.0
        assert pixel_map.shape == (height, width)
        assert pixel_map.dtype == np.float32
        assert np.isfinite(pixel_map).all()
        assert pixel_map.min() >= 0.0
        assert pixel_map.max() <= 1.0
    assert results[1][1].shape == (40, 50)
    assert results[2][1].shape == (64, 24)
    assert scorer.score_images([]) == []


def test_score_images_is_score_pixels_upsampled(scorer, images, tiny_encoder):
    results = scorer.score_images(images)
    batch = scorer.score_pixels(tiny_encoder.preprocess(images))
    assert isinstance(batch, BatchScores)
    assert batch.image.shape == (3,)
    assert batch.patch_map.shape == (3, 4, 4)
    for index, (score, pixel_map) in enumerate(results):
        assert score == pytest.approx(float(batch.image[index]), abs=1e-6)
        size = pixel_map.shape
        expected = F.interpolate(batch.patch_map[index][None, None], size=size, mode="bilinear")
        assert np.allclose(pixel_map, expected[0, 0].numpy(), atol=1e-6)
    assert batch.pixel_map((40, 50)).shape == (3, 40, 50)


def test_zero_shot_map_by_hand(scorer, images, tiny_encoder):
    pixels = tiny_encoder.preprocess(images)
    features = tiny_encoder.encode_images(pixels, window_scales=(2, 3))
    text = scorer.text_embeddings
    image_score = hand_anomaly_probability(features.image, text, 0.07)  # (B,)
    per_scale = [image_score[:, None].expand(3, 16)]
    for scale in (2, 3):
        window_scores = hand_anomaly_probability(features.windows[scale], text, 0.07)
        per_scale.append(hand_window_map(window_scores, (4, 4), scale))
    expected_map = 3 / sum(1 / m for m in per_scale)

    got = scorer.score_pixels(pixels)
    assert torch.allclose(got.image, image_score, atol=1e-6)
    assert torch.allclose(got.patch_map, expected_map.view(3, 4, 4), atol=1e-6)
    assert scorer.k_shot == 0


def test_zero_shot_single_scale_by_hand(tiny_encoder, images):
    scorer = WinClipScorer(tiny_encoder, WinClipConfig(class_name="bottle", scales=(3,)))
    pixels = tiny_encoder.preprocess(images[:2])
    features = tiny_encoder.encode_images(pixels, window_scales=(3,))
    text = scorer.text_embeddings
    image_score = hand_anomaly_probability(features.image, text, 0.07)
    windows = hand_window_map(hand_anomaly_probability(features.windows[3], text, 0.07), (4, 4), 3)
    expected = 2 / (1 / image_score[:, None] + 1 / windows)
    assert torch.allclose(scorer.score_pixels(pixels).patch_map.view(2, 16), expected, atol=1e-6)


def test_few_shot_with_the_image_itself_halves_the_zero_shot_scores(tiny_encoder, images):
    scorer = WinClipScorer(tiny_encoder, WinClipConfig(class_name="bottle"))
    pixels = tiny_encoder.preprocess(images)
    zero_shot = scorer.score_pixels(pixels)
    scorer.add_references([images[1]])
    assert scorer.k_shot == 1
    few_shot = scorer.score_pixels(pixels)
    # the scored image is its own nearest reference: association 0 on every patch and window
    assert torch.allclose(few_shot.patch_map[1], zero_shot.patch_map[1] / 2, atol=1e-5)
    assert few_shot.image[1].item() == pytest.approx(zero_shot.image[1].item() / 2, abs=1e-5)
    # the other images are not their references: their scores rise above half
    for index in (0, 2):
        assert (few_shot.patch_map[index] > zero_shot.patch_map[index] / 2 + 1e-4).all()
        assert few_shot.image[index] > zero_shot.image[index] / 2 + 1e-4


def test_few_shot_map_by_hand(tiny_encoder, images):
    scorer = WinClipScorer(tiny_encoder, WinClipConfig(class_name="bottle", scales=(2,)))
    reference_images = images[:2]
    scorer.add_references(reference_images)
    pixels = tiny_encoder.preprocess(images[2:])
    zero = WinClipScorer(tiny_encoder, WinClipConfig(class_name="bottle", scales=(2,)))
    zero_shot = zero.score_pixels(pixels)

    features = tiny_encoder.encode_images(pixels, window_scales=(2,))
    references = tiny_encoder.encode_images(
        tiny_encoder.preprocess(reference_images), window_scales=(2,)
    )

    def association(x: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
        # x (N, D), refs (K, N', D): (1 - max cosine over every reference token) / 2
        cos = F.normalize(x, dim=-1) @ F.normalize(refs.reshape(-1, refs.shape[-1]), dim=-1).T
        return (1 - cos.max(dim=-1).values) / 2

    patch_assoc = association(features.patches[0], references.patches)
    window_assoc = association(features.windows[2][0], references.windows[2])
    window_map = hand_window_map(window_assoc[None], (4, 4), 2)[0]
    few_map = (patch_assoc + window_map) / 2
    expected_map = (zero_shot.patch_map[0].flatten() + few_map) / 2
    expected_score = (zero_shot.image[0] + few_map.max()) / 2

    got = scorer.score_pixels(pixels)
    assert torch.allclose(got.patch_map[0].flatten(), expected_map, atol=1e-5)
    assert got.image[0].item() == pytest.approx(expected_score.item(), abs=1e-5)


def test_k_shot_counts_references(tiny_encoder, images):
    scorer = WinClipScorer(tiny_encoder, WinClipConfig(class_name="bottle"))
    assert scorer.k_shot == 0
    scorer.add_references([])
    assert scorer.k_shot == 0
    scorer.add_references(images[:1])
    assert scorer.k_shot == 1
    scorer.add_references(images)
    assert scorer.k_shot == 4
    scorer.add_references([])
    assert scorer.k_shot == 4


@pytest.mark.parametrize("scales", [(5,), (2, 6)])
def test_scale_larger_than_the_grid(tiny_encoder, scales):
    big = max(scales)
    with pytest.raises(
        ConfigError, match=f"Window scale {big} is larger than the 4x4 patch grid of 'vlad-tiny"
    ) as caught:
        WinClipScorer(tiny_encoder, WinClipConfig(scales=scales))
    assert str(caught.value).endswith("use scales of at most 4.")
    assert caught.value.param == "scales"


def test_scale_equal_to_the_grid_is_allowed(tiny_encoder, images):
    scorer = WinClipScorer(tiny_encoder, WinClipConfig(class_name="bottle", scales=(4,)))
    batch = scorer.score_pixels(tiny_encoder.preprocess(images[:1]))
    # one window that sees every token: its score is the image score everywhere
    assert torch.allclose(batch.patch_map[0], batch.image[0].expand(4, 4), atol=1e-5)


def test_definitions_change_the_prompts_and_the_scores(tiny_encoder, images):
    pixels = tiny_encoder.preprocess(images)
    plain = WinClipScorer(tiny_encoder, WinClipConfig(class_name="bottle"))
    defined = WinClipScorer(
        tiny_encoder, WinClipConfig(class_name="bottle", definitions=("a crack in the {}",))
    )
    replaced = WinClipScorer(
        tiny_encoder,
        WinClipConfig(class_name="bottle", definitions=("a crack in the {}",), replace_states=True),
    )
    assert defined.normal_prompts == plain.normal_prompts
    assert len(defined.anomalous_prompts) == 5 * 21
    assert "a photo of a crack in the bottle." in defined.anomalous_prompts
    assert "a photo of a crack in the bottle." not in plain.anomalous_prompts
    assert len(replaced.anomalous_prompts) == 21
    assert replaced.anomalous_prompts[11] == "a photo of a crack in the bottle."
    assert torch.equal(defined.text_embeddings[0], plain.text_embeddings[0])
    assert not torch.allclose(defined.text_embeddings[1], plain.text_embeddings[1])
    base = plain.score_pixels(pixels)
    for scorer in (defined, replaced):
        other = scorer.score_pixels(pixels)
        assert (other.image - base.image).abs().max() > 1e-6
        assert (other.patch_map - base.patch_map).abs().max() > 1e-6
