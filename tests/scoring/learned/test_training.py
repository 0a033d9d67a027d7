"""Training: the loop writes checkpoints and records, resumes, and learns to localise defects."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.scoring.learned.synthetic import (
    make_synthetic_mvtec,
    register_tiny_clip,
    tiny_prompts_config,
)
from vlad.data.mvtec import read_mvtec
from vlad.errors import ConfigError
from vlad.metrics import pixel_auroc
from vlad.scoring.learned.adapters import LoraSettings, add_lora
from vlad.scoring.learned.dataset import SegmentationDataset, training_records
from vlad.scoring.learned.model import AnomalyClipModel
from vlad.scoring.learned.training import (
    TrainingConfig,
    last_checkpoint,
    train_prompts,
)


@pytest.fixture(scope="module")
def arch(tmp_path_factory):
    return register_tiny_clip(tmp_path_factory.mktemp("arch"))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = make_synthetic_mvtec(tmp_path_factory.mktemp("syn"), size=32, per_defect=2)
    return training_records(read_mvtec(root))


def _model(arch: str, image_size: int = 32, seed: int = 0):
    import open_clip

    torch.manual_seed(seed)
    clip = open_clip.create_model(arch, pretrained=None).eval()
    return AnomalyClipModel(clip, open_clip.get_tokenizer(arch), tiny_prompts_config(image_size))


def test_config_is_checked_with_one_sentence():
    with pytest.raises(ConfigError, match="epochs must be a whole number >= 1") as caught:
        TrainingConfig(epochs=0)
    assert caught.value.param == "epochs"
    with pytest.raises(ConfigError, match="lr must be a number > 0"):
        TrainingConfig(lr=float("nan"))
    with pytest.raises(ConfigError, match="mixed_precision must be no, fp16 or bf16"):
        TrainingConfig(mixed_precision="fp8")
    with pytest.raises(ConfigError, match="max_steps must be a whole number >= 1 or None"):
        TrainingConfig(max_steps=0)


def test_two_epochs_write_checkpoints_records_and_train_only_the_prompts(arch, data, tmp_path):
    model = _model(arch)
    frozen = {k: v.clone() for k, v in model.clip.state_dict().items()}
    before = model.prompt_state()
    dataset = SegmentationDataset(data, image_size=32)
    config = TrainingConfig(epochs=2, batch_size=8, cpu=True, max_steps=3)
    result = train_prompts(model, dataset, tmp_path, config=config, progress=False)
    # 12 images per epoch at batch 8: 2 steps in epoch 1, then the third ends the run
    assert (result.epochs, result.steps, len(result.step_losses)) == (2, 3, 3)
    assert all(np.isfinite(result.step_losses))
    after = model.prompt_state()
    assert all(not torch.equal(before[k], after[k]) for k in before)
    assert all(torch.equal(frozen[k], v) for k, v in model.clip.state_dict().items())
    for epoch in (1, 2):
        folder = tmp_path / "checkpoints" / f"epoch-{epoch}"
        assert sorted(p.name for p in folder.iterdir()) == [
            "optimizer.pt",
            "state.json",
            "trainable.safetensors",
        ]
    assert last_checkpoint(tmp_path) == tmp_path / "checkpoints" / "epoch-2"
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*partial*"))


def test_resume_continues_from_the_last_checkpoint_with_its_optimizer(arch, data, tmp_path):
    dataset = SegmentationDataset(data, image_size=32)
    settings = {"clip": "tiny", "lora": None}
    two, one = TrainingConfig(epochs=2, cpu=True), TrainingConfig(epochs=1, cpu=True)
    straight = _model(arch)
    train_prompts(straight, dataset, tmp_path / "a", config=two, settings=settings, progress=False)
    first = _model(arch)
    train_prompts(first, dataset, tmp_path / "split", config=one, settings=settings, progress=False)
    resumed = _model(arch)
    with torch.no_grad():  # other starting prompts: the checkpoint replaces them
        for parameter in resumed.prompt_parameters():
            parameter.zero_()
    result = train_prompts(resumed, dataset, tmp_path / "split",
                           config=TrainingConfig(epochs=2, cpu=True), settings=settings,
                           resume=True, progress=False)  # fmt: skip
    assert (result.resumed_from, result.epochs, result.steps) == (1, 2, 4)
    # Adam turns rounding-level gradient differences into lr-sized steps, so the resumed run
    # follows the straight one closely, not bit for bit: it must be far nearer to it than
    # the state it resumed from is.
    target, after_one = straight.prompt_state(), first.prompt_state()
    for name, value in target.items():
        resumed_gap = (resumed.prompt_state()[name] - value).abs().mean()
        start_gap = (after_one[name] - value).abs().mean()
        assert resumed_gap < 0.2 * start_gap, name
    with pytest.raises(ConfigError, match="was made with other settings \\(clip\\)") as caught:
        train_prompts(_model(arch), dataset, tmp_path / "split",
                      config=TrainingConfig(epochs=3, cpu=True), settings={**settings, "clip": "b"},
                      resume=True, progress=False)  # fmt: skip
    assert caught.value.param == "resume"
    with pytest.raises(ConfigError, match="holds no checkpoint to resume from"):
        train_prompts(_model(arch), dataset, tmp_path / "empty",
                      config=TrainingConfig(cpu=True), resume=True, progress=False)  # fmt: skip


def test_lora_alone_trains_without_the_prompts(arch, data, tmp_path):
    model = _model(arch)
    for parameter in model.prompt_parameters():
        parameter.requires_grad_(False)
    with pytest.raises(ConfigError, match="no trainable parameter"):
        train_prompts(model, SegmentationDataset(data, image_size=32), tmp_path,
                      config=TrainingConfig(cpu=True), progress=False)  # fmt: skip
    params = add_lora(model.clip, LoraSettings(rank=2))
    before = [p.detach().clone() for p in params]
    prompts = model.prompt_state()
    once = TrainingConfig(epochs=1, cpu=True, max_steps=1)
    train_prompts(model, SegmentationDataset(data, image_size=32), tmp_path, config=once,
                  progress=False)  # fmt: skip
    assert any(not torch.equal(a, b) for a, b in zip(before, params, strict=True))
    assert all(torch.equal(prompts[k], v) for k, v in model.prompt_state().items())


# --- measured: training localises the synthetic defects -----------------------------------

#: Seeds, steps and bounds, measured with exactly these settings (150 steps, lr 2e-3, 64 px,
#: 240 training items, 48 held-out images of other draws), pixel AUROC before -> after and
#: the mean loss of the first -> last 5 batches:
#:   seed 0: 0.496 -> 0.967, loss 9.88 -> 7.07
#:   seed 1: 0.783 -> 0.799, loss 8.56 -> 6.52
#: Untrained random prompts land anywhere from 0.2 to 0.8 (0.21, 0.47, 0.68 seen in other
#: runs), so the stable figure is the trained AUROC: the test asks for a rise and for at
#: least MEASURED_FLOOR (the lowest trained value seen, 0.799, less 0.05).
MEASURED_SEEDS = (0, 1)
MEASURED_STEPS = 150
MEASURED_FLOOR = 0.75


def _pixel_auroc(model, dataset) -> float:
    items = [dataset[i] for i in range(len(dataset))]
    images = torch.stack([item["image"] for item in items])
    masks = torch.stack([item["mask"] for item in items]).numpy() > 0.5
    model.eval()
    with torch.no_grad():
        maps = model(images).maps.numpy()
    return pixel_auroc(masks, maps)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("seed", MEASURED_SEEDS)
def test_training_lowers_the_loss_and_raises_held_out_pixel_auroc(arch, tmp_path, seed):
    """150 CPU steps on synthetic scratches and blobs: the loss falls, and pixel AUROC on
    held-out synthetic images (same products, other draws) rises, to at least the floor."""
    size = 64
    train_root = make_synthetic_mvtec(tmp_path / "train", size=size, per_defect=8, seed=seed)
    held_root = make_synthetic_mvtec(tmp_path / "held", size=size, per_defect=6, seed=seed + 100)
    train = SegmentationDataset(training_records(read_mvtec(train_root)) * 5, image_size=size)
    held = SegmentationDataset(training_records(read_mvtec(held_root)), image_size=size)
    model = _model(arch, image_size=size, seed=seed)
    before = _pixel_auroc(model, held)
    config = TrainingConfig(epochs=100, batch_size=8, lr=2e-3, max_steps=MEASURED_STEPS, cpu=True)
    result = train_prompts(model, train, tmp_path / "run", config=config, progress=False)
    after = _pixel_auroc(model, held)
    losses = result.step_losses
    print(f"seed {seed}: pixel AUROC {before:.3f} -> {after:.3f}; "
          f"loss {np.mean(losses[:10]):.3f} -> {np.mean(losses[-10:]):.3f}")  # fmt: skip
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.5
    assert after > before
    assert after >= MEASURED_FLOOR
