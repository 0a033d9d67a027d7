"""Tests of vlad.encoders.clip with a real tiny open_clip CLIP (32x32 input, 4x4 patch grid)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vlad.encoders.clip as encoders
from tests.conftest import TINY_CONFIG, make_image
from vlad.config import ClipConfig
from vlad.encoders.clip import (
    OPENAI_MEAN,
    OPENAI_STD,
    ClipEncoder,
    load_clip,
    resolve_dtype,
)
from vlad.errors import ConfigError, ModelLoadError
from vlad.utils.device import resolve_device

PROMPTS = ["a photo of a bottle.", "a close-up photo of the damaged metal nut for inspection.", "x"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a busy 2-core machine, 2 threads make tiny ops ~100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pixels(tiny_encoder) -> torch.Tensor:
    images = [make_image(32, 32, seed=1), make_image(40, 50, seed=2, defect=True)]
    return tiny_encoder.preprocess(images)


@pytest.fixture(scope="module")
def tiny_state_dict(tiny_weights: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(tiny_weights))


def fresh(encoder: ClipEncoder) -> ClipEncoder:
    """The same model with an empty text cache."""
    return ClipEncoder(encoder.model, encoder.tokenizer, mean=OPENAI_MEAN, std=OPENAI_STD)


def embeddings(encoder: ClipEncoder, pixels: torch.Tensor) -> tuple[torch.Tensor, ...]:
    features = encoder.encode_images(pixels, window_scales=(2,))
    return (
        features.image,
        features.patches,
        features.windows[2],
        fresh(encoder).encode_text(PROMPTS),
    )


# --- preprocess --------------------------------------------------------------------------


def test_preprocess_resizes_every_size_to_the_input(tiny_encoder):
    images = [make_image(40, 50), make_image(100, 20), make_image(32, 32), make_image(7, 9)]
    images.append(make_image(30, 60).convert("L"))  # grey images become RGB
    batch = tiny_encoder.preprocess(images)
    assert batch.shape == (5, 3, 32, 32)
    assert batch.dtype == torch.float32
    assert batch.device.type == "cpu"


def test_preprocess_normalises_exactly(tiny_encoder):
    image = Image.new("RGB", (50, 40), (255, 0, 51))
    batch = tiny_encoder.preprocess([image])
    expected = [
        (v - m) / s for v, m, s in zip((1.0, 0.0, 0.2), OPENAI_MEAN, OPENAI_STD, strict=True)
    ]
    for channel in range(3):
        assert torch.allclose(batch[0, channel], torch.full((32, 32), expected[channel]), atol=1e-5)


def test_preprocess_does_not_crop(tiny_encoder):
    # a 40x80 image with its left quarter red: a centre crop would cut the red away
    array = np.zeros((40, 80, 3), dtype=np.uint8)
    array[:, :20, 0] = 255
    batch = tiny_encoder.preprocess([Image.fromarray(array)])
    red = (1.0 - OPENAI_MEAN[0]) / OPENAI_STD[0]
    black = (0.0 - OPENAI_MEAN[0]) / OPENAI_STD[0]
    assert torch.allclose(batch[0, 0, :, :7], torch.tensor(red), atol=1e-4)
    assert torch.allclose(batch[0, 0, :, 9:], torch.tensor(black), atol=1e-4)


# --- encode_images -----------------------------------------------------------------------


def test_encode_images_shapes(tiny_encoder, pixels):
    assert tiny_encoder.grid_size == (4, 4)
    assert tiny_encoder.image_size == (32, 32)
    assert tiny_encoder.embed_dim == 32
    features = tiny_encoder.encode_images(pixels, window_scales=(2, 3))
    assert features.image.shape == (2, 32)
    assert features.patches.shape == (2, 16, 64)
    assert set(features.windows) == {2, 3}
    assert features.windows[2].shape == (2, 9, 32)
    assert features.windows[3].shape == (2, 4, 32)
    assert features.grid_size == (4, 4)
    for tensor in (features.image, features.patches, *features.windows.values()):
        assert tensor.dtype == torch.float32
        assert torch.isfinite(tensor).all()


def test_encode_images_global_matches_open_clip(tiny_encoder, pixels):
    features = tiny_encoder.encode_images(pixels, window_scales=(2,))
    with torch.no_grad():
        expected = tiny_encoder.model.encode_image(pixels)
    assert torch.allclose(features.image, expected, atol=1e-5)
    assert tiny_encoder.encode_images(pixels).windows == {}


def test_forward_hook_removed_after_use(tiny_encoder, pixels):
    visual = tiny_encoder.model.visual
    assert len(visual.patch_dropout._forward_hooks) == 0
    tiny_encoder.encode_images(pixels, window_scales=(2, 3))
    assert len(visual.patch_dropout._forward_hooks) == 0
    assert not getattr(visual, "output_tokens", False)


def test_forward_hook_removed_after_an_exception(tiny_encoder):
    visual = tiny_encoder.model.visual
    seen: list[int] = []

    def spy(module, inputs, output):  # the capture hook is in place during the failed forward
        seen.append(len(visual.patch_dropout._forward_hooks))

    handle = visual.conv1.register_forward_hook(spy)
    try:
        with pytest.raises(RuntimeError):
            tiny_encoder.encode_images(torch.zeros(1, 3, 24, 24), window_scales=(2,))
    finally:
        handle.remove()
    assert seen == [1]  # conv1 ran; its 3x3 grid then failed against the 4x4 position table
    assert len(visual.patch_dropout._forward_hooks) == 0
    assert not getattr(visual, "output_tokens", False)


def test_window_covering_the_whole_grid_is_the_global_embedding(tiny_encoder, pixels):
    features = tiny_encoder.encode_images(pixels, window_scales=(4,))
    assert features.windows[4].shape == (2, 1, 32)
    assert torch.allclose(features.windows[4][:, 0], features.image, atol=1e-5)


@pytest.mark.parametrize(
    "patch_rows, patch_cols, scale, changed",
    [
        (3, 3, 2, [8]),  # bottom-right patch: only the bottom-right window
        (0, 0, 2, [0]),
        (0, 3, 2, [2]),  # top-right patch: window 2 in row-major order (not 6)
        (3, 0, 2, [6]),
        (1, 2, 2, [1, 2, 4, 5]),
        (0, 3, 3, [1]),
        (2, 1, 3, [0, 1, 2, 3]),
    ],
)
def test_window_sees_only_its_own_patches(
    tiny_encoder, pixels, patch_rows, patch_cols, scale, changed
):
    base = tiny_encoder.encode_images(pixels[:1], window_scales=(scale,)).windows[scale][0]
    edited = pixels[:1].clone()
    top, left = patch_rows * 8, patch_cols * 8
    edited[:, :, top : top + 8, left : left + 8] = torch.randn(
        1, 3, 8, 8, generator=torch.Generator().manual_seed(0)
    )
    after = tiny_encoder.encode_images(edited, window_scales=(scale,)).windows[scale][0]
    moved = (after - base).abs().amax(dim=-1)
    got = [int(i) for i in torch.nonzero(moved > 1e-4).flatten()]
    assert got == changed
    assert torch.equal(after[moved <= 1e-4], base[moved <= 1e-4])


# --- encode_text -------------------------------------------------------------------------


def test_encode_text_caches(tiny_encoder, monkeypatch):
    encoder = fresh(tiny_encoder)
    calls: list[int] = []
    real = encoders._encode_text

    def counting(model, tokens):
        calls.append(tokens.shape[0])
        return real(model, tokens)

    monkeypatch.setattr(encoders, "_encode_text", counting)
    first = encoder.encode_text(["a", "b", "a"], batch_size=1)
    assert first.shape == (3, 32)
    assert calls == [1, 1]  # each distinct prompt once
    assert encoder.text_cache_size == 2
    assert torch.equal(first[0], first[2])
    assert not torch.equal(first[0], first[1])
    second = encoder.encode_text(["b", "a"])
    assert calls == [1, 1]  # nothing new computed
    assert encoder.text_cache_size == 2
    assert torch.equal(second, first[[1, 0]])
    third = encoder.encode_text(["a", "c", "d"])
    assert calls == [1, 1, 2]
    assert encoder.text_cache_size == 4
    assert torch.equal(third[0], first[0])


def test_encode_text_batching_does_not_change_values(tiny_encoder):
    one = fresh(tiny_encoder).encode_text(PROMPTS, batch_size=1)
    many = fresh(tiny_encoder).encode_text(PROMPTS, batch_size=64)
    assert torch.allclose(one, many, atol=1e-5)


def test_fast_text_path_equals_open_clip(tiny_encoder):
    model = tiny_encoder.model
    prompts = [*PROMPTS, "a photo of " + "very " * 100 + "long thing."]  # one truncated to 77
    tokens = tiny_encoder.tokenizer(prompts)
    fast = encoders._encode_text(model, tokens)
    with torch.no_grad():
        reference = model.encode_text(tokens)
    assert fast.shape == reference.shape == (4, 32)
    assert torch.allclose(fast, reference, atol=1e-5)
    short = tiny_encoder.tokenizer(PROMPTS[:1])
    with torch.no_grad():
        assert torch.allclose(
            encoders._encode_text(model, short), model.encode_text(short), atol=1e-5
        )


def test_encode_text_matches_open_clip(tiny_encoder):
    got = fresh(tiny_encoder).encode_text(PROMPTS)
    with torch.no_grad():
        expected = tiny_encoder.model.encode_text(tiny_encoder.tokenizer(PROMPTS))
    assert torch.allclose(got, expected, atol=1e-5)


# --- loading -----------------------------------------------------------------------------


def test_pt_and_local_dir_weights_give_the_same_embeddings(
    tiny_arch, tiny_weights, tiny_state_dict, tiny_encoder, pixels, tmp_path
):
    reference = embeddings(tiny_encoder, pixels)
    assert tiny_encoder.name == f"{tiny_arch}:{tiny_weights}"

    pt_path = tmp_path / "tiny.pt"
    torch.save(tiny_state_dict, pt_path)
    from_pt = load_clip(ClipConfig(arch=tiny_arch, weights=str(pt_path), device="cpu"))

    folder = tmp_path / "clip"
    folder.mkdir()
    config = {"model_cfg": TINY_CONFIG, "preprocess_cfg": {}}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    shutil.copy(tiny_weights, folder / "open_clip_model.safetensors")
    from_dir = load_clip(ClipConfig(arch="", weights=f"local-dir:{folder}", device="cpu"))
    assert from_dir.grid_size == (4, 4)
    assert from_dir.name.startswith("vlad-local-")

    for encoder in (from_pt, from_dir):
        for got, expected in zip(embeddings(encoder, pixels), reference, strict=True):
            assert torch.allclose(got, expected, atol=1e-6)


def test_untrained_weights_load(tiny_arch):
    encoder = load_clip(ClipConfig(arch=tiny_arch, weights=None, device="cpu"))
    assert encoder.name == f"{tiny_arch}:untrained"
    assert encoder.grid_size == (4, 4)


def test_missing_weights_file(tiny_arch, tmp_path):
    path = tmp_path / "absent.safetensors"
    with pytest.raises(ModelLoadError, match=r"CLIP weights file '.*absent\.safetensors' does not"):
        load_clip(ClipConfig(arch=tiny_arch, weights=str(path), device="cpu"))


def test_weights_of_another_architecture_do_not_fit(tiny_weights, tmp_path_factory, tiny_arch):
    import open_clip

    deeper = json.loads(json.dumps(TINY_CONFIG))
    deeper["vision_cfg"]["layers"] = 3
    folder = tmp_path_factory.mktemp("deeper_cfg")
    (folder / "vlad-tiny-deeper.json").write_text(json.dumps(deeper))
    open_clip.add_model_config(folder / "vlad-tiny-deeper.json")
    with pytest.raises(
        ModelLoadError,
        match=r"does not fit architecture vlad-tiny-deeper \(missing or unexpected tensors\); "
        r"set arch to the architecture",
    ) as exc:
        load_clip(ClipConfig(arch="vlad-tiny-deeper", weights=str(tiny_weights), device="cpu"))
    # The library names the parameter; the CLI says --clip.
    assert exc.value.param == "arch"
    assert "; set --clip to the architecture these weights" in exc.value.for_surface(
        {"arch": "--clip"}
    )


def test_tiny_weights_loaded_as_vit_b_32_do_not_fit(tiny_weights):
    # open_clip's own text position check fails first here (an AssertionError)
    with pytest.raises(
        ModelLoadError, match=r"does not fit architecture ViT-B-32 \(.+\); set arch to the arch"
    ):
        load_clip(ClipConfig(arch="ViT-B-32", weights=str(tiny_weights), device="cpu"))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_corrupt_weights_file(tiny_arch, tmp_path, suffix):
    path = tmp_path / f"corrupt{suffix}"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(
        ModelLoadError, match=r"cannot be read \(\w+\); make sure it is a \.safetensors or PyTorch"
    ):
        load_clip(ClipConfig(arch=tiny_arch, weights=str(path), device="cpu"))


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_truncated_weights_file_cannot_be_read(tiny_arch, tiny_state_dict, tmp_path, suffix):
    from safetensors.torch import save_file

    path = tmp_path / f"half{suffix}"
    if suffix == ".pt":
        torch.save(tiny_state_dict, path)
    else:
        save_file(tiny_state_dict, str(path))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match=r"cannot be read \(\w+\); make sure it is"):
        load_clip(ClipConfig(arch=tiny_arch, weights=str(path), device="cpu"))


def test_unknown_architecture():
    with pytest.raises(
        ModelLoadError, match=r"Unknown CLIP architecture 'ViT-Nope-99'; pick one of open_clip"
    ):
        load_clip(ClipConfig(arch="ViT-Nope-99", weights=None, device="cpu"))


def test_unknown_pretrained_tag(tiny_arch, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ModelLoadError,
        match=rf"'nosuchtag' is neither an existing checkpoint file nor a pretrained tag of "
        rf"{tiny_arch} \(it has no published tags\); check the value of weights\.$",
    ) as exc:
        load_clip(ClipConfig(arch=tiny_arch, weights="nosuchtag", device="cpu"))
    assert exc.value.param == "weights"
    assert exc.value.for_surface({"weights": "--clip-weights"}).endswith(
        "check the value of --clip-weights."
    )
    with pytest.raises(ModelLoadError, match=r"pretrained tag of ViT-B-32 \(known tags: openai, "):
        load_clip(ClipConfig(arch="ViT-B-32", weights="nosuchtag", device="cpu"))


def test_local_dir_errors(tiny_weights, tmp_path):
    folder = tmp_path / "clip"
    with pytest.raises(ModelLoadError, match=r"CLIP folder '.*clip' does not exist"):
        load_clip(ClipConfig(weights=f"local-dir:{folder}", device="cpu"))
    folder.mkdir()
    shutil.copy(tiny_weights, folder / "open_clip_model.safetensors")
    with pytest.raises(ModelLoadError, match=r"has no open_clip_config\.json; save the model"):
        load_clip(ClipConfig(weights=f"local-dir:{folder}", device="cpu"))
    (folder / "open_clip_config.json").write_text('{"model_cfg": {"embed_dim": 32}}')
    with pytest.raises(ModelLoadError, match="is not an open_clip config with vision_cfg"):
        load_clip(ClipConfig(weights=f"local-dir:{folder}", device="cpu"))
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CONFIG}))
    (folder / "open_clip_model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="holds no weights file; put open_clip_model"):
        load_clip(ClipConfig(weights=f"local-dir:{folder}", device="cpu"))


def test_no_hub_names_the_local_alternatives(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    # the constant is read when huggingface_hub is imported, so set it too
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True, raising=False)
    cache = os.path.expanduser("~/.cache/clip/ViT-B-32.pt")
    if os.path.exists(cache):
        pytest.skip("the openai ViT-B-32 weights are cached on this machine")
    start = time.perf_counter()
    with pytest.raises(ModelLoadError) as info:
        load_clip(ClipConfig(arch="ViT-B-32", weights="openai", device="cpu"))
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert "Cannot get the pretrained 'openai' checkpoint of CLIP ViT-B-32" in message
    assert "the model hub is unreachable" in message
    assert "set weights to its file (.safetensors or .pt) or to local-dir:FOLDER." in message
    assert info.value.param == "weights"
    assert "set --clip-weights to its file" in info.value.for_surface({"weights": "--clip-weights"})


# --- devices and dtypes ------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_gpu_is_a_config_error_naming_device():
    # Device strings themselves are tested in tests/utils/test_device.py.
    with pytest.raises(ConfigError, match="no CUDA GPU is available") as exc:
        load_clip(ClipConfig(arch="ViT-B-32", weights=None, device="cuda"))
    assert exc.value.param == "device"


def test_resolve_device_cpu_and_dtypes():
    assert resolve_device("cpu") == "cpu"
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("auto", "cuda:0") == torch.float16
    assert resolve_dtype("bf16", "cpu") == torch.bfloat16
    assert resolve_dtype("fp16", "cpu") == torch.float16
    assert resolve_dtype("fp32", "cuda") == torch.float32
