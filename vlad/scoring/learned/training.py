"""Training learned prompts (and LoRA adapters) with accelerate: the loop, checkpoints, records.

:func:`train_prompts` runs AnomalyCLIP's training on a :class:`SegmentationDataset`:
Adam (betas 0.5, 0.999 as the authors use) on the parameters that require grad (the prompt
learner's, and the LoRA adapters' when added), the loss of :mod:`.losses`, and
``accelerate`` for device placement, mixed precision (bf16/fp16 on a GPU), gradient
accumulation and several GPUs (``accelerate launch -m vlad.cli train prompts ...``). CLIP
weights stay frozen.

Into the output folder ``DIR`` it writes, each atomically:

- ``checkpoints/epoch-N/`` after every epoch: ``trainable.safetensors`` (the trained
  parameters by name), ``optimizer.pt`` and ``state.json`` (epoch, optimizer steps, loss
  history, the settings that must match on resume);
- ``metrics.jsonl`` (one line per epoch) and ``loss.png`` (the loss curve), rewritten each epoch.

``resume=True`` continues from the last complete checkpoint (parameters, optimizer state,
epoch, history; each epoch's shuffle order depends only on the seed and the epoch).
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from vlad.errors import ConfigError, InputError
from vlad.scoring.learned.losses import MAP_WEIGHT, anomaly_clip_loss
from vlad.utils.io import atomic_folder, atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
METRICS_FILE = "metrics.jsonl"
LOSS_PLOT = "loss.png"
PARAMS_FILE = "trainable.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
STATE_FILE = "state.json"
CHECKPOINT_FILES: tuple[str, ...] = (PARAMS_FILE, OPTIMIZER_FILE, STATE_FILE)
MIXED_PRECISION: tuple[str, ...] = ("no", "fp16", "bf16")
_EPOCH = re.compile(r"epoch-(\d+)")


@dataclass(frozen=True)
class TrainingConfig:
    """Settings of one training run.

    Attributes:
        epochs: Passes over the data.
        batch_size: Images per forward (per process).
        lr: Adam learning rate.
        betas: Adam betas.
        grad_accum: Batches whose gradients are summed before each optimizer step.
        mixed_precision: ``no``, ``fp16`` or ``bf16`` (autocast on a GPU; fp32 weights).
        map_weight: Weight of the map losses against the image cross-entropy.
        seed: Seed of the initial prompts' draw (set by the caller) and of the shuffling.
        max_steps: Stop after this many optimizer steps in all (None: run every epoch).
        num_workers: DataLoader worker processes.
        cpu: Train on the CPU even when a GPU is present.
    """

    epochs: int = field(default=15, metadata={"help": "passes over the data"})
    batch_size: int = field(default=8, metadata={"help": "images per batch"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    betas: tuple[float, float] = field(default=(0.5, 0.999), metadata={"help": "Adam betas"})
    grad_accum: int = field(default=1, metadata={"help": "batches per optimizer step"})
    mixed_precision: str = field(default="no", metadata={"help": "no, fp16 or bf16"})
    map_weight: float = field(default=MAP_WEIGHT, metadata={"help": "weight of the map losses"})
    seed: int = field(default=111, metadata={"help": "seed of the shuffling"})
    max_steps: int | None = field(default=None, metadata={"help": "stop after N steps"})
    num_workers: int = field(default=0, metadata={"help": "data loader workers"})
    cpu: bool = field(default=False, metadata={"help": "train on the CPU"})

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "grad_accum"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}.", param=name)
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a number > 0, got {self.lr!r}.", param="lr")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ConfigError(
                f"mixed_precision must be no, fp16 or bf16, got {self.mixed_precision!r}.",
                param="mixed_precision",
            )
        if self.max_steps is not None and (
            isinstance(self.max_steps, bool)
            or not isinstance(self.max_steps, int)
            or self.max_steps < 1
        ):
            raise ConfigError(
                f"max_steps must be a whole number >= 1 or None, got {self.max_steps!r}.",
                param="max_steps",
            )
        if self.num_workers < 0:
            raise ConfigError(
                f"num_workers must be >= 0, got {self.num_workers!r}.", param="num_workers"
            )
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))


@dataclass
class TrainingResult:
    """What a run did.

    Attributes:
        epochs: Epochs completed in all (resumed ones included).
        steps: Optimizer steps in all.
        history: One mapping per epoch: epoch, loss, maps, image, steps, seconds.
        step_losses: The loss of every batch, in order (resumed runs included).
        resumed_from: The epoch the run continued after (0 when it started afresh).
        seconds: Wall time of this call's training.
    """

    epochs: int
    steps: int
    history: list[dict[str, float]]
    step_losses: list[float]
    resumed_from: int
    seconds: float


def last_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete ``checkpoints/epoch-N`` folder of a run, or None."""
    folder = Path(out_dir) / CHECKPOINTS
    if not folder.is_dir():
        return None
    found: list[tuple[int, Path]] = []
    for path in folder.iterdir():
        match = _EPOCH.fullmatch(path.name)
        if match and path.is_dir() and all((path / name).is_file() for name in CHECKPOINT_FILES):
            found.append((int(match.group(1)), path))
    return max(found)[1] if found else None


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters of a model that require grad, by name, on the CPU."""
    return {
        name: parameter.detach().cpu().contiguous()
        for name, parameter in model.named_parameters()
        if parameter.requires_grad
    }


def train_prompts(
    model: torch.nn.Module,
    dataset: torch.utils.data.Dataset,
    out_dir: str | Path,
    *,
    config: TrainingConfig,
    settings: Mapping[str, Any] | None = None,
    resume: bool = False,
    progress: bool = True,
    accelerator: Any = None,
) -> TrainingResult:
    """Train the parameters of ``model`` that require grad; checkpoint every epoch.

    Args:
        model: An :class:`~vlad.scoring.learned.model.AnomalyClipModel` (CLIP frozen; prompt
            and/or LoRA parameters trainable). It is trained in place (left on the
            accelerator's device).
        dataset: Items with ``image``, ``mask`` and ``label`` (see
            :class:`~vlad.scoring.learned.dataset.SegmentationDataset`).
        out_dir: The run folder (checkpoints, ``metrics.jsonl``, ``loss.png``).
        config: Training settings.
        settings: JSON-ready settings that a resumed run must share (the CLIP, the prompt
            shape, the adapters); stored in each checkpoint.
        resume: Continue from the last checkpoint in ``out_dir``.
        progress: Show a progress bar with the loss (main process only).
        accelerator: An ``accelerate.Accelerator`` to use (default: one built from
            ``config``).

    Returns:
        Epochs, steps and the loss history.

    Raises:
        ConfigError: Nothing to train, ``resume`` without a checkpoint, a checkpoint made
            with other settings (``param="resume"``), or a dataset smaller than a batch.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    out = Path(out_dir)
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ConfigError("The model has no trainable parameter; train the prompts or an adapter.")
    if len(dataset) < 1:  # type: ignore[arg-type]
        raise ConfigError("The training data is empty.", param="data")
    if accelerator is None:
        accelerator = Accelerator(
            mixed_precision=config.mixed_precision,
            gradient_accumulation_steps=config.grad_accum,
            cpu=config.cpu,
        )
    set_seed(config.seed)
    stored_settings = json.loads(json.dumps(dict(settings or {}), default=str))
    optimizer = torch.optim.Adam(parameters, lr=config.lr, betas=config.betas)
    sampler = EpochShuffle(len(dataset), config.seed)  # type: ignore[arg-type]
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.num_workers,
        drop_last=False,
    )
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    inner = accelerator.unwrap_model(model)

    start_epoch, steps = 0, 0
    history: list[dict[str, float]] = []
    step_losses: list[float] = []
    if resume:
        checkpoint = last_checkpoint(out)
        if checkpoint is None:
            raise ConfigError(
                f"resume: {out} holds no checkpoint to resume from; start without resume.",
                param="resume",
            )
        state = _load_checkpoint(checkpoint, inner, optimizer, stored_settings)
        start_epoch, steps = int(state["epoch"]), int(state["steps"])
        history, step_losses = list(state["history"]), list(state["step_losses"])
        log.info("resuming after epoch %d (%d steps)", start_epoch, steps)

    started = time.perf_counter()
    for epoch in range(start_epoch + 1, config.epochs + 1):
        if config.max_steps is not None and steps >= config.max_steps:
            break
        sampler.set_epoch(epoch)
        model.train()
        epoch_started = time.perf_counter()
        totals = {"loss": 0.0, "maps": 0.0, "image": 0.0}
        batches = 0
        bar = tqdm(
            loader,
            desc=f"epoch {epoch}/{config.epochs}",
            unit="batch",
            disable=not (progress and accelerator.is_main_process),
            leave=False,
        )
        for batch in bar:
            with accelerator.accumulate(model):
                output = model(batch["image"])
                parts = anomaly_clip_loss(
                    output.image_logits,
                    output.layer_maps,
                    batch["label"],
                    batch["mask"],
                    map_weight=config.map_weight,
                )
                accelerator.backward(parts.total)
                optimizer.step()
                optimizer.zero_grad()
            loss = float(accelerator.gather(parts.total.detach().reshape(1)).mean())
            step_losses.append(loss)
            totals["loss"] += loss
            totals["maps"] += float(parts.maps)
            totals["image"] += float(parts.image)
            batches += 1
            if accelerator.sync_gradients:
                steps += 1
            bar.set_postfix(loss=f"{loss:.4f}", step=steps)
            if config.max_steps is not None and steps >= config.max_steps:
                break
        bar.close()
        history.append(
            {
                "epoch": epoch,
                "loss": totals["loss"] / max(batches, 1),
                "maps": totals["maps"] / max(batches, 1),
                "image": totals["image"] / max(batches, 1),
                "steps": steps,
                "seconds": time.perf_counter() - epoch_started,
            }
        )
        if accelerator.is_main_process:
            _save_checkpoint(out, epoch, steps, inner, optimizer, history, step_losses,
                             stored_settings)  # fmt: skip
            write_metrics(out, history)
            write_loss_plot(out / LOSS_PLOT, step_losses, history)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process and not progress:
            log.info("epoch %d: loss %.4f", epoch, history[-1]["loss"])
    return TrainingResult(
        epochs=len(history),
        steps=steps,
        history=history,
        step_losses=step_losses,
        resumed_from=start_epoch,
        seconds=time.perf_counter() - started,
    )


class EpochShuffle(torch.utils.data.Sampler[int]):
    """A shuffling sampler whose order depends only on a seed and the epoch.

    A resumed run replays the order of the epoch it starts with, and every process of a
    multi-GPU run draws the same permutation (accelerate then gives each its share).

    Args:
        length: Number of items.
        seed: Base seed; epoch ``e`` uses ``seed + e``.
    """

    def __init__(self, length: int, seed: int) -> None:
        self.length = length
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration gives."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.length, generator=generator).tolist())

    def __len__(self) -> int:
        return self.length


def _save_checkpoint(
    out: Path,
    epoch: int,
    steps: int,
    model: torch.nn.Module,
    optimizer: Any,
    history: list[dict[str, float]],
    step_losses: list[float],
    settings: Mapping[str, Any],
) -> Path:
    from safetensors.torch import save_file

    target = out / CHECKPOINTS / f"epoch-{epoch}"
    with atomic_folder(target, overwrite=True, owned=CHECKPOINT_FILES) as folder:
        save_file(trainable_state(model), str(folder / PARAMS_FILE))
        torch.save(optimizer.state_dict(), folder / OPTIMIZER_FILE)
        state = {
            "epoch": epoch,
            "steps": steps,
            "history": history,
            "step_losses": step_losses,
            "settings": dict(settings),
        }
        (folder / STATE_FILE).write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
    return target


def _load_checkpoint(
    folder: Path, model: torch.nn.Module, optimizer: Any, settings: Mapping[str, Any]
) -> dict[str, Any]:
    from safetensors.torch import load_file

    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        tensors = load_file(str(folder / PARAMS_FILE))
        optimizer_state = torch.load(folder / OPTIMIZER_FILE, map_location="cpu", weights_only=True)
    except (OSError, ValueError) as exc:
        raise InputError(f"The checkpoint {folder} cannot be read; remove it to resume from "
                         "the one before.", param="resume") from exc  # fmt: skip
    changed = sorted(
        key for key in set(settings) | set(state.get("settings", {}))
        if settings.get(key) != state.get("settings", {}).get(key)
    )  # fmt: skip
    if changed:
        raise ConfigError(
            f"resume: the checkpoint {folder} was made with other settings "
            f"({', '.join(changed)}); resume with the same settings or choose another output.",
            param="resume",
        )
    own = {name: p for name, p in model.named_parameters() if p.requires_grad}
    if set(own) != set(tensors) or any(own[k].shape != tensors[k].shape for k in own):
        raise ConfigError(
            f"resume: the checkpoint {folder} holds other trainable parameters than this model; "
            "resume with the same settings.",
            param="resume",
        )
    with torch.no_grad():
        for name, parameter in own.items():
            parameter.copy_(tensors[name].to(parameter.device, parameter.dtype))
    optimizer.load_state_dict(optimizer_state)
    return state


def write_metrics(out: Path, history: Sequence[Mapping[str, float]]) -> Path:
    """Rewrite ``metrics.jsonl`` (one JSON line per epoch), atomically."""
    text = "".join(json.dumps(dict(row)) + "\n" for row in history)
    return atomic_write_text(out / METRICS_FILE, text)


def write_loss_plot(
    path: Path, step_losses: Sequence[float], history: Sequence[Mapping[str, float]]
) -> Path:
    """Draw the loss per batch (and its running mean) and per epoch into a PNG, atomically.

    Args:
        path: The PNG to write.
        step_losses: The loss of every batch.
        history: Per-epoch records (``loss``, ``steps``).

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3.6), dpi=100)
    axes = figure.add_subplot(1, 1, 1)
    batches = list(range(1, len(step_losses) + 1))
    axes.plot(batches, step_losses, color="#9bb7d4", linewidth=0.8, label="batch")
    window = max(1, len(step_losses) // 20)
    if len(step_losses) > window > 1:
        kernel = [1.0 / window] * window
        import numpy as np

        smooth = np.convolve(np.asarray(step_losses), kernel, mode="valid")
        axes.plot(batches[window - 1 :], smooth, color="#1f4e79", linewidth=1.5,
                  label=f"mean of {window}")  # fmt: skip
    if history:
        per_epoch = len(step_losses) / len(history)
        axes.plot(
            [per_epoch * (i + 1) for i in range(len(history))],
            [row["loss"] for row in history],
            "o",
            color="#c0392b",
            label="epoch mean",
        )
    axes.set_xlabel("batch")
    axes.set_ylabel("loss")
    axes.set_title("AnomalyCLIP prompt training")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return atomic_write_bytes(path, buffer.getvalue())


def settings_record(**values: Any) -> dict[str, Any]:
    """A JSON-ready mapping of settings (dataclasses become dicts, tuples lists)."""

    def plain(value: Any) -> Any:
        if hasattr(value, "__dataclass_fields__"):
            return plain(asdict(value))
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    return {key: plain(value) for key, value in values.items()}
