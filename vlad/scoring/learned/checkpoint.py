"""Prompt files: vlad's own format and the AnomalyCLIP authors' checkpoints.

vlad's format is a pair of files, written atomically: ``prompts.safetensors`` (the three
prompt tensors) and ``prompts.json`` (format version, the settings, the CLIP's name and
fingerprint, the training provenance). A folder holding the pair, either file of the pair,
or an authors' ``.pth`` checkpoint (``{"prompt_learner": state_dict}``) can be loaded.

Names in the authors' checkpoints and in vlad's files (:func:`authors_to_vlad`,
:func:`vlad_to_authors`):

- ``ctx_pos`` (1, 1, n_ctx, W) <-> ``ctx_normal`` (n_ctx, W);
- ``ctx_neg`` (1, 1, n_ctx, W) <-> ``ctx_anomalous`` (n_ctx, W);
- ``compound_prompts_text.i`` (t, W) <-> ``text_tokens[i]`` of (depth - 1, t, W);
- ``compound_prompt_projections.*`` (never used by their forward) and the token buffers
  ``token_prefix_*``, ``token_suffix_*``, ``tokenized_prompts_*`` (rebuilt from the CLIP)
  are dropped.

The authors' text forward casts the deep text tokens to fp16 before inserting them, so their
checkpoints act with fp16-rounded tokens; the import rounds them once so that vlad computes
exactly what their code computes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vlad.config.files import from_mapping, to_dict
from vlad.errors import ConfigError, InputError, ModelLoadError
from vlad.scoring.learned.config import LearnedPromptsConfig
from vlad.scoring.learned.prompt_learner import PARAMETER_NAMES, text_tower
from vlad.scoring.learned.vision import vision_tower
from vlad.utils.io import atomic_write_bytes, atomic_write_text

WEIGHTS_NAME = "prompts.safetensors"
META_NAME = "prompts.json"
FORMAT_NAME = "vlad-learned-prompts"
FORMAT_VERSION = 1
AUTHORS_CLIP = "ViT-L-14-336"
"""The only CLIP the authors' code loads (OpenAI ViT-L/14@336px): their checkpoints are for it."""

PARAM = "learned_prompts"


@dataclass
class LearnedPrompts:
    """A loaded prompt file.

    Attributes:
        state: Prompt tensors by vlad's names (float32, CPU).
        config: The settings the prompts were trained with.
        clip_name: The CLIP they were trained on, as recorded (None when unknown).
        clip_fingerprint: Shape fingerprint of that CLIP (None for the authors' files, which
            record none).
        provenance: How the prompts were made (data, epochs, ...), as recorded.
        path: The file or folder they were read from.
        source_format: ``"vlad"`` or ``"authors"``.
    """

    state: dict[str, torch.Tensor]
    config: LearnedPromptsConfig
    clip_name: str | None
    clip_fingerprint: str | None
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    source_format: str = "vlad"


def clip_fingerprint(clip_model: nn.Module) -> str:
    """A fingerprint of a CLIP's shapes, to tell which CLIP prompts were trained on.

    Args:
        clip_model: An open_clip ViT CLIP.

    Returns:
        A readable string, e.g. ``vit-w1024-l24-p14-s336-e768-text-w768-l12-v49408``: vision
        width, layers, patch, image size, embedding size, text width, text layers, vocabulary.
    """
    visual = vision_tower(clip_model)
    text = text_tower(clip_model)
    size = visual.image_size if hasattr(visual, "image_size") else 0
    side = size[0] if isinstance(size, tuple | list) else size
    proj = visual.proj
    embed = int(proj.shape[1]) if proj is not None else int(visual.conv1.weight.shape[0])
    return (
        f"vit-w{int(visual.conv1.weight.shape[0])}-l{len(visual.transformer.resblocks)}"
        f"-p{int(visual.conv1.kernel_size[0])}-s{int(side)}-e{embed}"
        f"-text-w{int(text.token_embedding.weight.shape[1])}"
        f"-l{len(text.transformer.resblocks)}-v{int(text.token_embedding.weight.shape[0])}"
    )


def _paths(target: str | Path) -> tuple[Path, Path]:
    """(weights, meta) paths for a folder, a ``.safetensors`` file or a ``.json`` file."""
    path = Path(target).expanduser()
    if path.suffix == ".safetensors":
        return path, path.with_suffix(".json")
    if path.suffix == ".json":
        return path.with_suffix(".safetensors"), path
    return path / WEIGHTS_NAME, path / META_NAME


def save_prompts(
    target: str | Path,
    model_or_state: nn.Module | dict[str, torch.Tensor],
    config: LearnedPromptsConfig,
    *,
    clip_name: str | None,
    clip_fingerprint: str | None,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write prompts in vlad's format, atomically.

    Args:
        target: A folder (gets ``prompts.safetensors`` and ``prompts.json``; created if
            needed) or a ``NAME.safetensors`` file (gets ``NAME.json`` beside it).
        model_or_state: An ``AnomalyClipModel`` (anything with ``prompt_state()``) or a
            state dict with the prompt tensors by vlad's names.
        config: The settings the prompts were trained with.
        clip_name: Name of the CLIP (e.g. ``ViT-L-14-336:openai``).
        clip_fingerprint: :func:`clip_fingerprint` of that CLIP.
        provenance: How they were made (JSON-serialisable: data, epochs, seed, vlad version).

    Returns:
        The path of the ``.safetensors`` file.

    Raises:
        ConfigError: When a prompt tensor is missing from the state.
    """
    from safetensors.torch import save as save_bytes

    getter = getattr(model_or_state, "prompt_state", None)
    state = getter() if callable(getter) else dict(model_or_state)  # type: ignore[arg-type]
    missing = [name for name in PARAMETER_NAMES if name not in state]
    if missing:
        raise ConfigError(
            f"The prompt state lacks {', '.join(missing)}; save an AnomalyClipModel or its "
            "prompt_state().",
            param="model_or_state",
        )
    tensors = {name: state[name].detach().float().cpu().contiguous() for name in PARAMETER_NAMES}
    weights, meta = _paths(target)
    weights.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "config": to_dict(config),
        "clip_name": clip_name,
        "clip_fingerprint": clip_fingerprint,
        "provenance": provenance or {},
        "tensors": {name: list(tensor.shape) for name, tensor in tensors.items()},
    }
    atomic_write_bytes(weights, save_bytes(tensors))
    atomic_write_text(meta, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return weights


def load_prompts(path: str | Path) -> LearnedPrompts:
    """Read prompts from vlad's format or from an authors' ``.pth`` checkpoint.

    Args:
        path: A folder with ``prompts.safetensors`` and ``prompts.json``, either file of such a
            pair, or an authors' checkpoint (``.pth``/``.pt`` holding ``{"prompt_learner": ...}``).

    Returns:
        The :class:`LearnedPrompts`.

    Raises:
        InputError: The path does not exist, a file of the pair is missing, or a file cannot
            be read as prompts (``param="learned_prompts"``).
    """
    source = Path(path).expanduser()
    if not source.exists():
        raise InputError(
            f"Learned prompts '{source}' do not exist; pass the folder or file that "
            "'vlad train prompts' wrote, or an AnomalyCLIP .pth checkpoint.",
            param=PARAM,
        )
    if source.is_file() and source.suffix in (".pth", ".pt"):
        return _load_authors(source)
    weights, meta = _paths(source)
    for needed in (weights, meta):
        if not needed.is_file():
            raise InputError(
                f"Learned prompts '{source}' lack {needed.name}; pass a folder holding "
                f"{WEIGHTS_NAME} and {META_NAME} as 'vlad train prompts' writes them.",
                param=PARAM,
            )
    try:
        from safetensors.torch import load_file

        record = json.loads(meta.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get("format") != FORMAT_NAME:
            raise ValueError("not a vlad prompt description")
        tensors = load_file(str(weights), device="cpu")
        config = from_mapping(LearnedPromptsConfig, record.get("config") or {})
    except Exception as exc:  # JSON, settings, and safetensors' own error types
        raise InputError(
            f"Learned prompts '{source}' cannot be read ({type(exc).__name__}); write them again "
            "with 'vlad train prompts' or copy the folder completely.",
            param=PARAM,
        ) from exc
    if int(record.get("version", 0)) > FORMAT_VERSION:
        raise InputError(
            f"Learned prompts '{source}' use format version {record.get('version')}, newer than "
            f"this vlad reads ({FORMAT_VERSION}); update vlad.",
            param=PARAM,
        )
    missing = [name for name in PARAMETER_NAMES if name not in tensors]
    if missing:
        raise InputError(
            f"Learned prompts '{source}' lack the tensor(s) {', '.join(missing)}; write them again "
            "with 'vlad train prompts'.",
            param=PARAM,
        )
    return LearnedPrompts(
        state={name: tensors[name].float() for name in PARAMETER_NAMES},
        config=config,
        clip_name=record.get("clip_name"),
        clip_fingerprint=record.get("clip_fingerprint"),
        provenance=dict(record.get("provenance") or {}),
        path=source,
        source_format="vlad",
    )


def authors_to_vlad(
    state_dict: dict[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], LearnedPromptsConfig]:
    """Map an authors' prompt-learner state dict to vlad's tensors and settings.

    Args:
        state_dict: ``checkpoint["prompt_learner"]`` of an AnomalyCLIP checkpoint.

    Returns:
        (state by vlad's names, settings with the shapes found and the authors' inference
        settings: DPAM 20, maps from layer 24, sigma 4, 518 pixels).

    Raises:
        ValueError: When the context vectors are missing or their shapes do not fit.
    """
    if "ctx_pos" not in state_dict or "ctx_neg" not in state_dict:
        raise ValueError("no ctx_pos/ctx_neg tensors")
    ctx_pos, ctx_neg = state_dict["ctx_pos"], state_dict["ctx_neg"]
    if ctx_pos.dim() != 4 or ctx_pos.shape[:2] != (1, 1) or ctx_pos.shape != ctx_neg.shape:
        raise ValueError(f"context vectors shaped {tuple(ctx_pos.shape)}, {tuple(ctx_neg.shape)}")
    width = int(ctx_pos.shape[-1])
    n_ctx = int(ctx_pos.shape[2])
    deep = []
    while f"compound_prompts_text.{len(deep)}" in state_dict:
        deep.append(state_dict[f"compound_prompts_text.{len(deep)}"])
    defaults = LearnedPromptsConfig()
    if deep:
        text_tokens = torch.stack([t.float() for t in deep]).half().float()
        text_ctx = int(text_tokens.shape[1])
        if int(text_tokens.shape[2]) != width:
            raise ValueError("deep text tokens and context vectors differ in width")
    else:
        text_ctx = defaults.text_ctx
        text_tokens = torch.zeros(0, text_ctx, width)
    config = LearnedPromptsConfig(
        n_ctx=n_ctx, text_depth=len(deep) + 1, text_ctx=text_ctx, feature_layers=(24,)
    )
    state = {
        "ctx_normal": ctx_pos.reshape(n_ctx, width).float().clone(),
        "ctx_anomalous": ctx_neg.reshape(n_ctx, width).float().clone(),
        "text_tokens": text_tokens.contiguous(),
    }
    return state, config


def vlad_to_authors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map vlad's prompt tensors to the authors' parameter names (the reverse of the import).

    Only the learnt tensors are produced; their prompt learner rebuilds its token buffers from
    its CLIP, so load the result into it with ``load_state_dict(..., strict=False)``.

    Args:
        state: Prompt tensors by vlad's names.

    Returns:
        ``ctx_pos`` and ``ctx_neg`` shaped (1, 1, n_ctx, W) and ``compound_prompts_text.i``.
    """
    n_ctx, width = state["ctx_normal"].shape
    mapped = {
        "ctx_pos": state["ctx_normal"].reshape(1, 1, n_ctx, width).clone(),
        "ctx_neg": state["ctx_anomalous"].reshape(1, 1, n_ctx, width).clone(),
    }
    for index, tokens in enumerate(state["text_tokens"]):
        mapped[f"compound_prompts_text.{index}"] = tokens.clone()
    return mapped


def _load_authors(source: Path) -> LearnedPrompts:
    """Read an authors' ``{"prompt_learner": state_dict}`` checkpoint (weights only)."""
    try:
        checkpoint = torch.load(str(source), map_location="cpu", weights_only=True)
        learner = checkpoint["prompt_learner"] if isinstance(checkpoint, dict) else None
        if not isinstance(learner, dict):
            raise ValueError("no 'prompt_learner' state dict")
        state, config = authors_to_vlad(learner)
    except Exception as exc:  # unpickling, missing keys and shapes raise many types
        raise InputError(
            f"Learned prompts '{source}' is not an AnomalyCLIP checkpoint with a "
            f"'prompt_learner' state dict ({type(exc).__name__}); pass such a .pth file or a "
            "folder that 'vlad train prompts' wrote.",
            param=PARAM,
        ) from exc
    return LearnedPrompts(
        state=state,
        config=config,
        clip_name=AUTHORS_CLIP,
        clip_fingerprint=None,
        provenance={
            "source": "AnomalyCLIP authors' checkpoint (github.com/zqhang/AnomalyCLIP)",
            "file": source.name,
            "note": f"the authors' code trains on {AUTHORS_CLIP} only; the file records no CLIP",
        },
        path=source,
        source_format="authors",
    )


def check_clip(
    prompts: LearnedPrompts, clip_model: nn.Module, *, clip_name: str | None = None
) -> None:
    """Refuse prompts trained for another CLIP, in one sentence.

    Files with a fingerprint must match this CLIP's :func:`clip_fingerprint`; the authors'
    files, which record none, must match its text width.

    Args:
        prompts: The loaded prompts.
        clip_model: The CLIP they are about to be used with.
        clip_name: This CLIP's name, for the message.

    Raises:
        ModelLoadError: They were made for another CLIP (``param="learned_prompts"``).
    """
    here = clip_fingerprint(clip_model)
    name = clip_name or "the CLIP in use"
    origin = prompts.path or "the learned prompts"
    if prompts.clip_fingerprint is not None:
        if prompts.clip_fingerprint != here:
            raise ModelLoadError(
                f"learned_prompts '{origin}' were trained for CLIP {prompts.clip_name or '?'} "
                f"({prompts.clip_fingerprint}), not for {name} ({here}); use that CLIP or "
                "train prompts for this one.",
                param=PARAM,
            )
        return
    width = int(text_tower(clip_model).token_embedding.weight.shape[1])
    got = int(prompts.state["ctx_normal"].shape[-1])
    if got != width:
        raise ModelLoadError(
            f"learned_prompts '{origin}' have {got}-wide tokens for CLIP "
            f"{prompts.clip_name or '?'}, but {name} has a {width}-wide text encoder; use "
            "that CLIP or train prompts for this one.",
            param=PARAM,
        )


def model_from_prompts(
    clip_model: nn.Module,
    tokenizer: Any,
    prompts: LearnedPrompts,
    *,
    clip_name: str | None = None,
    **overrides: Any,
) -> Any:
    """Build an ``AnomalyClipModel`` carrying loaded prompts, after checking the CLIP.

    Args:
        clip_model: The open_clip CLIP to use (frozen by the model).
        tokenizer: Its tokenizer.
        prompts: Loaded prompts (:func:`load_prompts`).
        clip_name: This CLIP's name, for the message when it does not fit.
        **overrides: Inference settings to change from the file's (``image_size``,
            ``sigma``, ``feature_layers``, ``feature_mode``, ``dpam_layer``).

    Returns:
        The ``AnomalyClipModel`` with the prompts loaded, in eval mode.

    Raises:
        ModelLoadError: The prompts were made for another CLIP (``param="learned_prompts"``).
        ConfigError: An override names a shape setting or a value out of range.
    """
    from dataclasses import replace

    from vlad.scoring.learned.model import AnomalyClipModel

    shape = {"n_ctx", "text_depth", "text_ctx", "normal_words", "anomalous_words"} & set(overrides)
    if shape:
        raise ConfigError(
            f"{', '.join(sorted(shape))} are fixed by the learned prompts and cannot be changed "
            "at inference; train new prompts instead.",
            param=sorted(shape)[0],
        )
    check_clip(prompts, clip_model, clip_name=clip_name)
    config = replace(prompts.config, **overrides) if overrides else prompts.config
    model = AnomalyClipModel(clip_model, tokenizer, config)
    model.load_prompt_state(prompts.state)
    return model.eval()
