"""CLIP encoders: images to global, patch and window embeddings; text to embeddings.

The encoder wraps an open_clip model. A CLIP is named by an architecture plus weights,
where the weights are an open_clip pretrained tag (fetched from the model hub), a local
``.safetensors``/``.pt`` file, or a ``local-dir:`` folder holding ``open_clip_config.json``
and its weights. Nothing is loaded at import time.

Window embeddings (WinCLIP) re-run the vision transformer on the class token plus the
patch tokens inside each sliding window. The tokens are taken, after the positional
embedding, by a forward hook on ``visual.patch_dropout`` that is removed right after the
forward pass.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from vlad.config import LOCAL_DIR_PREFIX, ClipConfig
from vlad.errors import ModelLoadError
from vlad.utils.device import resolve_device

log = logging.getLogger(__name__)

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
_WEIGHT_FILES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.bin",
    "model.safetensors",
    "pytorch_model.bin",
)


@dataclass
class ImageFeatures:
    """What the encoder returns for a batch of B images.

    Attributes:
        image: Global image embeddings, (B, D), in the joint image-text space.
        patches: Patch tokens after the final layer norm, (B, P, W), as open_clip returns
            them (not projected); P = grid height x grid width.
        windows: Window embeddings per window scale, each (B, n_windows, D).
        grid_size: (rows, cols) of the patch grid.
    """

    image: torch.Tensor
    patches: torch.Tensor
    windows: dict[int, torch.Tensor] = field(default_factory=dict)
    grid_size: tuple[int, int] = (0, 0)


def window_indices(grid_size: tuple[int, int], scale: int) -> torch.Tensor:
    """Patch indices inside every window of a square size sliding with stride 1.

    Args:
        grid_size: (rows, cols) of the patch grid.
        scale: Window side in patches.

    Returns:
        Long tensor (n_windows, scale * scale): row-major patch indices of each window,
        windows ordered row-major by their top-left patch.

    Raises:
        ValueError: When the window is larger than the grid.
    """
    rows, cols = grid_size
    if scale > rows or scale > cols:
        raise ValueError(f"A window of {scale} patches does not fit a {rows}x{cols} patch grid.")
    grid = torch.arange(rows * cols).reshape(rows, cols)
    windows = grid.unfold(0, scale, 1).unfold(1, scale, 1)  # (rows-s+1, cols-s+1, s, s)
    return windows.reshape(-1, scale * scale)


class ClipEncoder:
    """An open_clip CLIP that encodes image batches and text, with a text cache.

    Build it with :func:`load_clip` (or :meth:`ClipEncoder.from_config`); the constructor
    takes an already built open_clip model.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        *,
        mean: Sequence[float] = OPENAI_MEAN,
        std: Sequence[float] = OPENAI_STD,
        device: str = "cpu",
        dtype: torch.dtype = torch.float32,
        name: str = "clip",
    ) -> None:
        self.model = model.to(device=device, dtype=dtype).eval()
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.dtype = dtype
        self.name = name
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
        self._text_cache: dict[str, torch.Tensor] = {}
        visual = model.visual
        size = visual.image_size
        self.image_size: tuple[int, int] = (size, size) if isinstance(size, int) else tuple(size)
        grid = getattr(visual, "grid_size", None)
        self.grid_size: tuple[int, int] | None = tuple(grid) if grid is not None else None

    @classmethod
    def from_config(cls, config: ClipConfig) -> ClipEncoder:
        """Load the CLIP a :class:`~vlad.config.ClipConfig` names (see :func:`load_clip`)."""
        return load_clip(config)

    @property
    def embed_dim(self) -> int:
        """Size of the joint image-text embedding."""
        return int(self.model.visual.output_dim)

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Resize RGB images to the model's input size and normalise them.

        The whole image is resized to the (square) input size, without cropping, so that a
        map over the input covers the whole image and maps back by resizing.

        Args:
            images: RGB PIL images.

        Returns:
            Float tensor (B, 3, H, W) on the CPU.
        """
        height, width = self.image_size
        arrays = []
        for image in images:
            resized = image.convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
            arrays.append(np.asarray(resized, dtype=np.uint8))
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0)
        return (batch - self.mean) / self.std

    @torch.inference_mode()
    def encode_images(
        self, pixels: torch.Tensor, *, window_scales: Sequence[int] = ()
    ) -> ImageFeatures:
        """Encode a preprocessed batch into global, patch and window embeddings.

        Args:
            pixels: (B, 3, H, W) from :meth:`preprocess` (any device; moved as needed).
            window_scales: Window sides in patches (WinCLIP uses 2 and 3); empty for none.

        Returns:
            The :class:`ImageFeatures` of the batch, float32 on the encoder's device.
        """
        visual = self.model.visual
        pixels = pixels.to(device=self.device, dtype=self.dtype)
        tokens: list[torch.Tensor] = []
        previous = getattr(visual, "output_tokens", False)
        visual.output_tokens = True
        try:
            with _capture_input(visual, tokens, enabled=bool(window_scales)):
                pooled, patches = visual(pixels)
        finally:
            visual.output_tokens = previous
        features = ImageFeatures(
            image=pooled.float(),
            patches=patches.float(),
            grid_size=self.grid_size or (0, 0),
        )
        for scale in window_scales:
            features.windows[scale] = self._window_embeddings(tokens[0], scale).float()
        return features

    def _window_embeddings(self, tokens: torch.Tensor, scale: int) -> torch.Tensor:
        """Embed each window: its patch tokens plus the class token through the transformer."""
        if self.grid_size is None:
            raise ModelLoadError(f"CLIP '{self.name}' has no patch grid; WinCLIP needs a ViT.")
        visual = self.model.visual
        index = window_indices(self.grid_size, scale).to(tokens.device) + 1  # +1: class token
        n_windows = index.shape[0]
        index = torch.cat(
            [torch.zeros(n_windows, 1, dtype=index.dtype, device=index.device), index], 1
        )
        batch = tokens.shape[0]
        # (B, n_windows, 1 + s*s, width) -> (B * n_windows, 1 + s*s, width)
        windows = tokens[:, index].reshape(batch * n_windows, index.shape[1], tokens.shape[-1])
        pooled = _visual_tail(visual, windows)
        return pooled.reshape(batch, n_windows, -1)

    @torch.inference_mode()
    def encode_text(self, prompts: Sequence[str], *, batch_size: int = 64) -> torch.Tensor:
        """Embed prompts (not normalised), computing each distinct prompt once.

        Args:
            prompts: Texts to embed.
            batch_size: Prompts per forward pass.

        Returns:
            Float32 tensor (len(prompts), D) on the encoder's device.
        """
        missing = [p for p in dict.fromkeys(prompts) if p not in self._text_cache]
        for start in range(0, len(missing), batch_size):
            chunk = missing[start : start + batch_size]
            tokens = self.tokenizer(chunk).to(self.device)
            embedded = _encode_text(self.model, tokens).float()
            for prompt, row in zip(chunk, embedded, strict=True):
                self._text_cache[prompt] = row
        if not prompts:
            return torch.empty(0, 0, device=self.device)
        return torch.stack([self._text_cache[p] for p in prompts])

    @property
    def text_cache_size(self) -> int:
        """How many distinct prompts have been embedded so far."""
        return len(self._text_cache)


@contextmanager
def _capture_input(
    visual: torch.nn.Module, sink: list[torch.Tensor], *, enabled: bool
) -> Iterator[None]:
    """Capture the tokens entering ``visual.patch_dropout``; the hook is always removed."""
    if not enabled:
        yield
        return
    module = getattr(visual, "patch_dropout", None)
    if module is None:
        raise ModelLoadError("This CLIP's vision tower has no token stage; WinCLIP needs a ViT.")

    def hook(_module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], _output: Any) -> None:
        sink.append(inputs[0].detach())

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _visual_tail(visual: Any, tokens: torch.Tensor) -> torch.Tensor:
    """Finish the vision tower from position-embedded tokens (N, L, W) to projected (N, D)."""
    x = visual.patch_dropout(tokens)
    x = visual.ln_pre(x)
    if hasattr(visual.transformer, "batch_first"):
        # open_clip >= 2.26.1 transformers take (N, L, W) whatever their inner layout.
        x = visual.transformer(x)
    else:
        x = visual.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
    if hasattr(visual, "_pool"):
        pooled, _ = visual._pool(x)
    elif getattr(visual, "attn_pool", None) is not None:
        raise ModelLoadError("Window embeddings are not supported for attention-pooled CLIPs.")
    elif getattr(visual, "final_ln_after_pool", False):
        pooled, _ = visual._global_pool(x)
        pooled = visual.ln_post(pooled)
    else:
        pooled, _ = visual._global_pool(visual.ln_post(x))
    if visual.proj is not None:
        pooled = pooled @ visual.proj
    return pooled


def _encode_text(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    """``model.encode_text``, cut to the longest prompt of the batch when that is exact.

    A CLIP text tower with a causal mask pooled at the end-of-text token never lets padding
    after that token reach the pooled output, so running only the first L positions (L the
    longest prompt) gives the same embedding for a fraction of the cost (prompts are ~15
    tokens, the context 77). Other text towers run whole.
    """
    exact = (
        getattr(model, "text_pool_type", "argmax") == "argmax"
        and getattr(model, "attn_mask", None) is not None
        and hasattr(model, "token_embedding")
        and hasattr(model, "positional_embedding")
        and getattr(model, "text_eos_id", None) is None
    )
    if not exact:
        return model.encode_text(tokens)
    length = int(tokens.argmax(dim=-1).max()) + 1  # the EOT token has the largest id
    tokens = tokens[:, :length]
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype) + model.positional_embedding[:length].to(
        cast_dtype
    )
    mask = model.attn_mask[:length, :length]
    if hasattr(model.transformer, "batch_first"):
        x = model.transformer(x, attn_mask=mask)
    else:
        x = model.transformer(x.permute(1, 0, 2), attn_mask=mask).permute(1, 0, 2)
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
    projection = model.text_projection
    if projection is None:
        return x
    return projection(x) if isinstance(projection, torch.nn.Module) else x @ projection


def resolve_dtype(precision: str, device: str) -> torch.dtype:
    """Map a precision name to a dtype: ``auto`` is fp16 on CUDA and fp32 on the CPU."""
    if precision == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def load_clip(config: ClipConfig) -> ClipEncoder:
    """Build a :class:`ClipEncoder` from an architecture and weights.

    Args:
        config: Architecture, weights (tag, file, ``local-dir:`` folder or None), device and
            precision.

    Returns:
        The encoder, in eval mode on the chosen device.

    Raises:
        ModelLoadError: Unknown architecture or tag, a weights file that is missing or does
            not fit the architecture, or weights that must be fetched while the model hub
            cannot be reached (the message says how to pass a local file instead); the
            error's ``param`` is ``weights`` or ``arch`` when one of them is at fault.
        ConfigError: A device this machine does not have (``param="device"``).
    """
    import open_clip

    device = resolve_device(config.device)
    dtype = resolve_dtype(config.precision, device)
    kind = config.weights_kind
    arch = config.arch
    if kind == "local-dir":
        arch, weights_file = _register_local_dir(config.weights[len(LOCAL_DIR_PREFIX) :])
    elif arch not in open_clip.list_models():
        raise ModelLoadError(
            f"Unknown CLIP architecture '{arch}'; pick one of open_clip.list_models() "
            "(e.g. ViT-B-16-plus-240, ViT-B-32, ViT-L-14) or use local-dir:FOLDER."
        )
    if kind == "tag":
        model, preprocess = _create_with_tag(open_clip, arch, config.weights or "")
    else:
        model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None)
        if kind == "file":
            _load_weights_file(open_clip, model, Path(config.weights or ""), arch)
        elif kind == "local-dir":
            _load_weights_file(open_clip, model, weights_file, arch)
        else:
            log.warning("CLIP %s has untrained weights: its scores carry no meaning.", arch)
    mean, std = _normalisation(preprocess)
    tokenizer = open_clip.get_tokenizer(arch)
    name = f"{arch}:{config.weights}" if config.weights else f"{arch}:untrained"
    return ClipEncoder(model, tokenizer, mean=mean, std=std, device=device, dtype=dtype, name=name)


def _create_with_tag(open_clip: Any, arch: str, tag: str) -> tuple[torch.nn.Module, Any]:
    """Create a model with hub weights, turning every failure into one sentence."""
    known = open_clip.list_pretrained_tags_by_model(arch)
    if tag not in known:
        hint = f"known tags: {', '.join(known)}" if known else "it has no published tags"
        raise ModelLoadError(
            f"'{tag}' is neither an existing checkpoint file nor a pretrained tag of {arch} "
            f"({hint}); check the value of weights.",
            param="weights",
        )
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=tag)
    except Exception as exc:  # network, hub and cache errors come in many types
        log.debug("Fetching %s/%s failed", arch, tag, exc_info=True)
        raise ModelLoadError(
            f"Cannot get the pretrained '{tag}' checkpoint of CLIP {arch}: the model hub is "
            f"unreachable and it is not in the local cache ({type(exc).__name__}); download "
            "it on a connected machine and set weights to its file (.safetensors or .pt) "
            "or to local-dir:FOLDER.",
            param="weights",
        ) from exc
    return model, preprocess


def _load_weights_file(open_clip: Any, model: torch.nn.Module, path: Path, arch: str) -> None:
    """Load a state dict from a local file into the model, strictly.

    The file is read by vlad itself (safetensors, or a PyTorch checkpoint with
    ``weights_only``), whatever open_clip's version can read, so that a half-copied file
    and weights of another architecture get different messages.
    """
    if not path.is_file():
        raise ModelLoadError(
            f"CLIP weights file '{path}' does not exist; check the path and its spelling."
        )
    try:
        state_dict = read_state_dict(path)
    except Exception as exc:
        raise ModelLoadError(
            f"CLIP weights file '{path}' cannot be read ({type(exc).__name__}); make sure it is "
            "a .safetensors or PyTorch checkpoint that was fully copied."
        ) from exc
    try:
        if "positional_embedding" in state_dict and not hasattr(model, "positional_embedding"):
            # Weights saved from a CLIP class whose text tower was not yet a submodule.
            state_dict = open_clip.model.convert_to_custom_text_state_dict(state_dict)
        for key in ("logit_scale", "logit_bias"):
            target = getattr(model, key, None)
            if key in state_dict and isinstance(target, torch.Tensor):
                state_dict[key] = state_dict[key].reshape(target.shape)
        model.load_state_dict(state_dict, strict=True)
    except Exception as exc:  # missing/unexpected keys, shapes, conversions
        text = str(exc)
        if "size mismatch" in text:
            detail = "tensor shapes differ"
        elif "Missing key" in text or "Unexpected key" in text:
            detail = "missing or unexpected tensors"
        else:
            detail = f"{type(exc).__name__}"
        raise ModelLoadError(
            f"CLIP weights file '{path}' does not fit architecture {arch} ({detail}); "
            "set arch to the architecture these weights were trained for.",
            param="arch",
        ) from exc


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a PyTorch checkpoint (weights only).

    A checkpoint holding ``{"state_dict": ...}`` is unwrapped and a ``module.`` prefix
    (from DistributedDataParallel) is dropped.

    Args:
        path: The weights file.

    Returns:
        Tensor name to tensor, on the CPU.
    """
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state_dict = load_file(str(path), device="cpu")
    else:
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
        state_dict = (
            checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
        )
        if not isinstance(state_dict, dict):
            raise TypeError(f"{type(checkpoint).__name__} is not a state dict")
    if state_dict and all(k.startswith("module.") for k in state_dict):
        state_dict = {k[len("module.") :]: v for k, v in state_dict.items()}
    return dict(state_dict)


def _register_local_dir(folder: str) -> tuple[str, Path]:
    """Register the open_clip config of a ``local-dir:`` folder; return (arch, weights)."""
    import open_clip

    root = Path(folder).expanduser()
    config_path = root / "open_clip_config.json"
    if not root.is_dir():
        raise ModelLoadError(f"CLIP folder '{root}' does not exist; check the local-dir: path.")
    if not config_path.is_file():
        raise ModelLoadError(
            f"CLIP folder '{root}' has no open_clip_config.json; save the model with its config."
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        model_cfg = config.get("model_cfg", config)
        model_cfg["vision_cfg"], model_cfg["text_cfg"]
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        raise ModelLoadError(
            f"'{config_path}' is not an open_clip config with vision_cfg and text_cfg; fix it."
        ) from None
    weights = next((root / n for n in _WEIGHT_FILES if (root / n).is_file()), None)
    if weights is None:
        found = sorted(root.glob("*.safetensors")) + sorted(root.glob("*.pt"))
        weights = found[0] if found else None
    if weights is None:
        raise ModelLoadError(
            f"CLIP folder '{root}' holds no weights file; put open_clip_model.safetensors in it."
        )
    digest = hashlib.sha1(json.dumps(model_cfg, sort_keys=True).encode()).hexdigest()[:10]
    arch = f"vlad-local-{digest}"
    if arch not in open_clip.list_models():
        registry = Path(tempfile.gettempdir()) / "vlad-open-clip-configs"
        registry.mkdir(parents=True, exist_ok=True)
        target = registry / f"{arch}.json"
        target.write_text(json.dumps(model_cfg), encoding="utf-8")
        open_clip.add_model_config(target)
    return arch, weights


def _normalisation(preprocess: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std of the Normalize step of an open_clip preprocessing pipeline."""
    for step in getattr(preprocess, "transforms", []):
        if hasattr(step, "mean") and hasattr(step, "std"):
            return tuple(float(v) for v in step.mean), tuple(float(v) for v in step.std)
    return OPENAI_MEAN, OPENAI_STD
