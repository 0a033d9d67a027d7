"""LoRA adapters on the CLIP towers, through peft's injection API, in peft's own file format.

Learned prompts move only the text side of CLIP; LoRA (Hu et al., 2022) also adapts its
weights: low-rank updates ``W + (alpha / r) B A`` on chosen linear layers of the vision
and/or text transformer. :func:`add_lora` injects them into an open_clip model in place
(``peft.inject_adapter_in_model``); the base weights stay frozen and only ``lora_A`` /
``lora_B`` train. :func:`save_lora` writes ``adapter_config.json`` and
``adapter_model.safetensors`` (the files ``PeftModel.save_pretrained`` writes, keys without
the adapter name), :func:`load_lora` reads them back into a fresh CLIP of the same
architecture, and :func:`merge_lora` folds the updates into the base weights and removes
the adapter layers (inference at the plain model's speed).

Targets (``LoraSettings.targets``), per residual block of the chosen towers:

- ``c_fc``, ``c_proj``: the MLP's two ``nn.Linear`` layers (the default; every forward path,
  DPAM's included, calls them as modules, so their updates always apply);
- ``attn``: the whole ``nn.MultiheadAttention`` (peft's LoRA for it adapts the fused
  ``in_proj`` and ``out_proj``). Only paths that call the attention module see it:
  code that reads ``in_proj_weight`` itself (the value-value path of DPAM) uses the base
  weights until the adapter is merged, so merged and unmerged maps differ; prefer the MLP
  targets unless you merge before inference.

``out_proj`` alone is not offered: ``nn.MultiheadAttention`` uses ``out_proj.weight``
directly inside its forward, never calling the module, so a LoRA layer there would be
silently skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from vlad.errors import ConfigError, InputError, MissingDependencyError

TARGETS: dict[str, str] = {"c_fc": r"mlp\.c_fc", "c_proj": r"mlp\.c_proj", "attn": r"attn"}
TOWERS: dict[str, str] = {"visual": r"visual\.", "text": r""}
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
VLAD_FILE = "vlad_adapter.json"


@dataclass(frozen=True)
class LoraSettings:
    """Where and how big the LoRA adapters are.

    Attributes:
        rank: Rank ``r`` of each update (>= 1).
        alpha: Scale numerator: the update is multiplied by ``alpha / rank``.
        dropout: Dropout on the adapter's input while training, in [0, 1).
        targets: Layers of each residual block: ``c_fc``, ``c_proj`` (the MLP), ``attn``.
        towers: ``visual``, ``text`` or both.
    """

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] = ("c_fc", "c_proj")
    towers: tuple[str, ...] = ("visual", "text")

    def __post_init__(self) -> None:
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise ConfigError(
                f"lora_rank must be an integer >= 1, got {self.rank!r}.", param="lora_rank"
            )
        if not self.alpha > 0:
            raise ConfigError(f"lora_alpha must be > 0, got {self.alpha!r}.", param="lora_alpha")
        if not 0 <= self.dropout < 1:
            raise ConfigError(
                f"lora_dropout must be in [0, 1), got {self.dropout!r}.", param="lora_dropout"
            )
        object.__setattr__(self, "targets", tuple(self.targets))
        object.__setattr__(self, "towers", tuple(self.towers))
        unknown = [t for t in self.targets if t not in TARGETS]
        if unknown or not self.targets:
            raise ConfigError(
                f"lora_targets {', '.join(unknown) or '(none)'} not known; use some of "
                f"{', '.join(TARGETS)}.",
                param="lora_targets",
            )
        unknown = [t for t in self.towers if t not in TOWERS]
        if unknown or not self.towers:
            raise ConfigError(
                f"lora_towers {', '.join(unknown) or '(none)'} not known; use visual and/or text.",
                param="lora_towers",
            )

    def pattern(self) -> str:
        """The regular expression of module names (relative to the CLIP) peft targets."""
        towers = "|".join(TOWERS[t] for t in self.towers)
        layers = "|".join(TARGETS[t] for t in self.targets)
        return rf"^(?:{towers})transformer\.resblocks\.\d+\.(?:{layers})$"

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON-ready mapping."""
        values = asdict(self)
        values["targets"] = list(self.targets)
        values["towers"] = list(self.towers)
        return values


def _peft() -> Any:
    try:
        import peft
    except ImportError as exc:  # pragma: no cover - peft is a dependency
        raise MissingDependencyError(
            "LoRA adapters need peft; install it with 'pip install peft>=0.10'."
        ) from exc
    return peft


def lora_config(settings: LoraSettings) -> Any:
    """The ``peft.LoraConfig`` of the settings."""
    peft = _peft()
    return peft.LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.pattern(),
        bias="none",
    )


def add_lora(clip_model: torch.nn.Module, settings: LoraSettings) -> list[torch.nn.Parameter]:
    """Inject LoRA adapters into an open_clip model, in place; freeze everything else in it.

    Args:
        clip_model: The open_clip ``CLIP`` (the one the learned-prompt model wraps).
        settings: Ranks, targets and towers.

    Returns:
        The adapter parameters (the only ones of ``clip_model`` that now require grad).

    Raises:
        ConfigError: The model has no layer the targets name (``param="lora_targets"``),
            or already carries adapters.
    """
    peft = _peft()
    if has_lora(clip_model):
        raise ConfigError("The CLIP already carries LoRA adapters; add them once.")
    pattern = re.compile(settings.pattern())
    if not any(pattern.fullmatch(name) for name, _ in clip_model.named_modules()):
        raise ConfigError(
            f"The CLIP has no layer matching the LoRA targets {', '.join(settings.targets)} in "
            f"the {' and '.join(settings.towers)} tower(s); is it an open_clip ViT?",
            param="lora_targets",
        )
    peft.inject_adapter_in_model(lora_config(settings), clip_model)
    for name, parameter in clip_model.named_parameters():
        parameter.requires_grad_("lora_" in name)
    return lora_parameters(clip_model)


def has_lora(model: torch.nn.Module) -> bool:
    """Whether a model holds peft adapter layers (not merged away)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    return any(isinstance(module, BaseTunerLayer) for module in model.modules())


def lora_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The LoRA parameters of a model (``lora_A`` / ``lora_B`` weights), in module order."""
    return [p for name, p in model.named_parameters() if "lora_A" in name or "lora_B" in name]


def lora_state_dict(clip_model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The adapter weights in peft's saved form (keys without the adapter name)."""
    peft = _peft()
    return {
        key: value.detach().cpu().contiguous()
        for key, value in peft.get_peft_model_state_dict(clip_model).items()
    }


def save_lora(
    clip_model: torch.nn.Module,
    folder: str | Path,
    settings: LoraSettings,
    *,
    clip_name: str = "",
) -> Path:
    """Write the adapters in peft's format (``adapter_config.json``, ``adapter_model.safetensors``).

    A small ``vlad_adapter.json`` beside them keeps vlad's settings (towers, targets) and the
    CLIP's name. The files are written into ``folder`` (created); call it inside
    :func:`vlad.utils.io.atomic_folder` for an all-or-nothing write.

    Args:
        clip_model: The CLIP carrying the adapters.
        folder: The adapter folder.
        settings: The settings the adapters were added with.
        clip_name: The CLIP's name, for the record.

    Returns:
        ``folder``.
    """
    from safetensors.torch import save_file

    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    lora_config(settings).save_pretrained(str(target))
    save_file(lora_state_dict(clip_model), str(target / WEIGHTS_FILE))
    (target / VLAD_FILE).write_text(
        json.dumps({"settings": settings.to_json(), "clip_name": clip_name}, indent=2) + "\n",
        encoding="utf-8",
    )
    return target


def read_lora_settings(folder: str | Path) -> LoraSettings:
    """The settings of an adapter folder written by :func:`save_lora`.

    Raises:
        InputError: The folder lacks the adapter files or they cannot be read.
    """
    source = Path(folder)
    files = [source / CONFIG_FILE, source / WEIGHTS_FILE, source / VLAD_FILE]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise InputError(
            f"The adapter folder {source} lacks {', '.join(missing)}; give a folder written "
            "by a LoRA training run (its adapter/ folder).",
            param="adapter",
        )
    try:
        data = json.loads((source / VLAD_FILE).read_text(encoding="utf-8"))
        return LoraSettings(**data["settings"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"The adapter file {source / VLAD_FILE} cannot be read.") from exc


def load_lora(
    clip_model: torch.nn.Module, folder: str | Path, *, merge: bool = False
) -> LoraSettings:
    """Add the adapters of a folder to a CLIP (in place), optionally merged into its weights.

    Args:
        clip_model: A CLIP of the architecture the adapters were trained on, without adapters.
        folder: A folder written by :func:`save_lora`.
        merge: Fold the updates into the base weights and drop the adapter layers.

    Returns:
        The adapters' settings.

    Raises:
        InputError: The folder is not an adapter folder, or its weights do not fit the CLIP
            (``param="adapter"``).
    """
    from safetensors.torch import load_file

    peft = _peft()
    settings = read_lora_settings(folder)
    add_lora(clip_model, settings)
    weights = load_file(str(Path(folder) / WEIGHTS_FILE))
    expected = set(lora_state_dict(clip_model))
    if set(weights) != expected:
        raise InputError(
            f"The adapter in {folder} does not fit this CLIP ({len(set(weights) ^ expected)} "
            "weights differ); load it with the CLIP it was trained on.",
            param="adapter",
        )
    try:
        peft.set_peft_model_state_dict(clip_model, weights)
    except RuntimeError as exc:
        raise InputError(
            f"The adapter in {folder} does not fit this CLIP (shapes differ); load it with "
            "the CLIP it was trained on.",
            param="adapter",
        ) from exc
    for parameter in clip_model.parameters():
        parameter.requires_grad_(False)
    if merge:
        merge_lora(clip_model)
    return settings


def merge_lora(model: torch.nn.Module) -> int:
    """Fold every LoRA update into its base weights and put the base layers back, in place.

    Args:
        model: A model carrying peft adapter layers.

    Returns:
        The number of adapter layers merged.
    """
    from peft.tuners.tuners_utils import BaseTunerLayer

    # Outermost first: peft's attention layer merges its own out_proj adapter with it.
    merged = 0
    while True:
        found = next(
            (
                (name, module)
                for name, module in model.named_modules()
                if isinstance(module, BaseTunerLayer)
            ),
            None,
        )
        if found is None:
            return merged
        name, module = found
        with torch.no_grad():
            module.merge()
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, _unwrapped(module.get_base_layer()))
        merged += 1


def _unwrapped(layer: torch.nn.Module) -> torch.nn.Module:
    """A base layer with any adapter layers still inside it replaced by their own base."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for name, child in list(layer.named_children()):
        if isinstance(child, BaseTunerLayer):
            setattr(layer, name, _unwrapped(child.get_base_layer()))
    return layer
