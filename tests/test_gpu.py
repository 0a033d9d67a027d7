"""CUDA and half-precision paths of the encoder and the WinCLIP scorer (marker ``gpu``).

Skipped without a CUDA device. Run with ``pytest -m gpu tests/test_gpu.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import make_image

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.fixture(scope="module")
def encoders(tiny_arch, tiny_weights):
    from vlad.config import ClipConfig
    from vlad.encoders.clip import load_clip

    cpu = load_clip(ClipConfig(arch=tiny_arch, weights=str(tiny_weights), device="cpu"))
    fp16 = load_clip(ClipConfig(arch=tiny_arch, weights=str(tiny_weights), device="auto"))
    fp32 = load_clip(
        ClipConfig(arch=tiny_arch, weights=str(tiny_weights), device="cuda", precision="fp32")
    )
    return cpu, fp16, fp32


def test_auto_picks_cuda_and_half_precision(encoders):
    _, fp16, fp32 = encoders
    assert fp16.device.type == "cuda" and fp16.dtype == torch.float16
    assert next(fp16.model.parameters()).dtype == torch.float16
    assert fp32.dtype == torch.float32


def test_cuda_embeddings_match_the_cpu(encoders):
    cpu, fp16, fp32 = encoders
    images = [make_image(40, 50, seed=1), make_image(33, 33, seed=2, defect=True)]
    pixels = cpu.preprocess(images)
    reference = cpu.encode_images(pixels, window_scales=(2, 3))
    for encoder, tolerance in ((fp32, 1e-4), (fp16, 2e-2)):
        features = encoder.encode_images(pixels, window_scales=(2, 3))
        assert features.image.dtype == torch.float32  # outputs are float32 whatever the model
        for got, want in (
            (features.image, reference.image),
            (features.windows[2], reference.windows[2]),
            (features.windows[3], reference.windows[3]),
        ):
            cos = torch.nn.functional.cosine_similarity(got.cpu(), want, dim=-1)
            assert float(cos.min()) > 1 - tolerance
        assert not encoder.model.visual.patch_dropout._forward_hooks
    text = ["a photo of a damaged bottle.", "a photo of a bottle."]
    for encoder in (fp32, fp16):
        cos = torch.nn.functional.cosine_similarity(
            encoder.encode_text(text).cpu(), cpu.encode_text(text), dim=-1
        )
        assert float(cos.min()) > 0.99


def test_winclip_scores_on_cuda_fp16_match_cpu(encoders):
    from vlad.config import WinClipConfig
    from vlad.scoring.winclip.scorer import WinClipScorer

    cpu, fp16, _ = encoders
    images = [make_image(40, 50, seed=1), make_image(64, 48, seed=2, defect=True)]
    config = WinClipConfig(class_name="bottle")
    expected = WinClipScorer(cpu, config).score_images(images)
    got = WinClipScorer(fp16, config).score_images(images)
    for (score, pixel_map), (want_score, want_map) in zip(got, expected, strict=True):
        assert pixel_map.shape == want_map.shape and pixel_map.dtype == np.float32
        assert score == pytest.approx(want_score, abs=2e-2)
        assert np.abs(pixel_map - want_map).max() < 2e-2
    few_shot = WinClipScorer(fp16, config)
    few_shot.add_references(images[:1])
    own_score, _ = few_shot.score_images(images[:1])[0]
    assert own_score == pytest.approx(expected[0][0] / 2, abs=2e-2)  # its own reference


def test_vit_b16_plus_fp16_throughput_and_agreement():
    """The default architecture on the GPU in fp16 against fp32, with random weights."""
    import time

    import open_clip

    from vlad.config import WinClipConfig
    from vlad.encoders.clip import ClipEncoder
    from vlad.scoring.winclip.scorer import WinClipScorer

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-16-plus-240", pretrained=None)
    tokenizer = open_clip.get_tokenizer("ViT-B-16-plus-240")
    fp32 = ClipEncoder(model, tokenizer, device="cuda", dtype=torch.float32, name="b16+/fp32")
    images = [make_image(480, 640, seed=s, defect=s % 2 == 1) for s in range(16)]
    config = WinClipConfig(class_name="bottle")
    want = WinClipScorer(fp32, config).score_images(images)
    half = ClipEncoder(model, tokenizer, device="cuda", dtype=torch.float16, name="b16+/fp16")
    scorer = WinClipScorer(half, config)
    got = scorer.score_images(images)
    for (score, pixel_map), (want_score, want_map) in zip(got, want, strict=True):
        assert score == pytest.approx(want_score, abs=5e-3)
        assert np.abs(pixel_map - want_map).max() < 5e-3
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(3):
        scorer.score_images(images)
    torch.cuda.synchronize()
    rate = 3 * len(images) / (time.perf_counter() - start)
    print(f"\nViT-B-16-plus-240 fp16 on {torch.cuda.get_device_name()}: {rate:.1f} images/s")
    assert rate > 1.0


def test_the_pipeline_on_cuda_gives_the_cpu_explanation(encoders, tmp_path):
    from tests.videos import moving_square_frames, write_video
    from vlad.pipeline import Pipeline

    cpu, _, fp32 = encoders
    image = tmp_path / "plate.png"
    make_image(40, 50, seed=3, defect=True).save(image)
    video = write_video(tmp_path / "walk.mp4", moving_square_frames(20, 48, 64), fps=10)
    on_cpu = Pipeline(cpu).analyze([image, video])
    on_gpu = Pipeline(fp32).analyze([image, video])
    for want, got in zip(on_cpu, on_gpu, strict=True):
        assert got.ok and got.verdict == want.verdict
        assert got.score == pytest.approx(want.score, abs=1e-3)
        assert len(got.detections) == len(want.detections)
    cpu_map, gpu_map = on_cpu[0].anomaly_map, on_gpu[0].anomaly_map
    assert gpu_map.shape == cpu_map.shape == (40, 50)
    assert np.abs(gpu_map - cpu_map).max() < 1e-3
