"""The vision side: an open_clip ViT run block by block, with DPAM in its top blocks.

DPAM (diagonally prominent attention map) gives the top vision blocks a second path whose
attention compares values with values (softmax(v v^T / sqrt(d))), which keeps each patch
token close to its own content and so sharpens local anomaly maps. The second path reads the
layer-normed tokens of the ordinary path, adds only the attention output (no MLP) to its own
running sum, and starts from the ordinary tokens entering the first DPAM block. Patch maps are
taken from the DPAM path in DPAM blocks and from the ordinary tokens below them; the global
image feature is the ordinary path's class token, projected without ``ln_post`` (as the
authors do; they report that adding ``ln_post`` makes no difference).

Nothing in the CLIP is replaced or hooked: this module calls the blocks' own sub-modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vlad.errors import ConfigError, ModelLoadError
from vlad.scoring.learned.config import LearnedPromptsConfig
from vlad.scoring.learned.math import resize_positional


@dataclass
class VisionOutput:
    """Features of a batch of B images.

    Attributes:
        image: (B, D) global feature (ordinary path's class token, projected, no ln_post).
        layer_tokens: Per listed layer, (B, P, D) patch tokens after ln_post and projection
            (class token dropped).
        grid: (rows, cols) of the patch grid.
    """

    image: torch.Tensor
    layer_tokens: list[torch.Tensor]
    grid: tuple[int, int]


def vision_tower(clip_model: nn.Module) -> Any:
    """The open_clip ``VisionTransformer`` of a CLIP, checked for what DPAM needs.

    Args:
        clip_model: An open_clip CLIP.

    Returns:
        ``clip_model.visual``.

    Raises:
        ModelLoadError: When the vision tower is not an open_clip ViT with class-token pooling.
    """
    visual = getattr(clip_model, "visual", None)
    needed = (
        "conv1",
        "class_embedding",
        "positional_embedding",
        "ln_pre",
        "transformer",
        "ln_post",
    )
    if visual is None or not all(hasattr(visual, name) for name in needed):
        raise ModelLoadError(
            "Learned prompts need an open_clip ViT CLIP (e.g. ViT-L-14-336); this CLIP's vision "
            "tower is not one.",
            param="clip",
        )
    if (
        getattr(visual, "attn_pool", None) is not None
        or getattr(visual, "pool_type", "tok") != "tok"
    ):
        raise ModelLoadError(
            "Learned prompts need a ViT pooled by its class token; this CLIP pools otherwise, "
            "pick an OpenAI-style architecture such as ViT-L-14-336.",
            param="clip",
        )
    return visual


def dpam_start(config: LearnedPromptsConfig, layers: int) -> int:
    """First vision block (1-based) with the DPAM path; ``layers + 1`` when DPAM is off.

    Args:
        config: The settings (``dpam_layer`` counts as the authors do).
        layers: Vision blocks of the CLIP.

    Returns:
        ``layers - (dpam_layer - 1) + 1``.

    Raises:
        ConfigError: When ``dpam_layer - 1`` exceeds the number of blocks, or a feature layer
            does not exist.
    """
    if config.dpam_layer - 1 > layers:
        raise ConfigError(
            f"dpam_layer {config.dpam_layer} asks for DPAM in {config.dpam_layer - 1} blocks but "
            f"this CLIP's vision tower has {layers}; use at most {layers + 1}.",
            param="dpam_layer",
        )
    if max(config.feature_layers) > layers:
        raise ConfigError(
            f"feature_layers {list(config.feature_layers)} name a block above the {layers} of "
            f"this CLIP's vision tower; use blocks 1 to {layers}.",
            param="feature_layers",
        )
    return layers - (config.dpam_layer - 1) + 1


def _dual_attention(block: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Ordinary and value-value attention outputs of one block on (L, N, W) normed tokens."""
    attn = block.attn
    length, batch, width = x.shape
    heads = attn.num_heads
    head_dim = width // heads
    qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = qkv.reshape(length, batch, 3, heads, head_dim).permute(2, 1, 3, 0, 4)  # (N,h,L,d)
    scale = head_dim**-0.5
    ordinary = torch.softmax((q * scale) @ k.transpose(-2, -1), dim=-1) @ v
    values = torch.softmax((v * scale) @ v.transpose(-2, -1), dim=-1) @ v

    def merge(heads_out: torch.Tensor) -> torch.Tensor:
        merged = heads_out.permute(2, 0, 1, 3).reshape(length, batch, width)
        return attn.out_proj(merged)

    return merge(ordinary), merge(values)


def _block(block: Any, x: torch.Tensor, batch_first: bool) -> torch.Tensor:
    """One ordinary block on (L, N, W) tokens whatever the block's own layout."""
    if batch_first:
        return block(x.transpose(0, 1)).transpose(0, 1)
    return block(x)


def encode_image(
    clip_model: nn.Module, images: torch.Tensor, config: LearnedPromptsConfig
) -> VisionOutput:
    """Run the vision tower with DPAM and collect the listed layers' projected patch tokens.

    Args:
        clip_model: An open_clip ViT CLIP.
        images: (B, 3, H, W) normalised pixels, H and W multiples of the patch size.
        config: Which layers, which DPAM depth, and the feature mode.

    Returns:
        The :class:`VisionOutput`.

    Raises:
        ConfigError: When the image side is not a multiple of the patch size, or the layers
            do not fit the CLIP.
    """
    visual = vision_tower(clip_model)
    blocks = visual.transformer.resblocks
    start = dpam_start(config, len(blocks))
    patch = int(visual.conv1.kernel_size[0])
    height, width = int(images.shape[-2]), int(images.shape[-1])
    if height % patch or width % patch:
        raise ConfigError(
            f"The image size {height}x{width} is not a multiple of this CLIP's {patch}-pixel "
            "patches; pick a multiple of the patch size.",
            param="image_size",
        )
    grid = (height // patch, width // patch)
    weight = visual.conv1.weight
    x = visual.conv1(images.to(device=weight.device, dtype=weight.dtype))
    x = x.reshape(x.shape[0], x.shape[1], -1).transpose(1, 2)  # (N, P, W)
    cls = visual.class_embedding.to(x.dtype).view(1, 1, -1).expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], dim=1)
    x = x + resize_positional(visual.positional_embedding, grid).to(x.dtype)
    x = visual.ln_pre(x).transpose(0, 1)  # (L, N, W)
    batch_first = bool(getattr(visual.transformer, "batch_first", False))
    wanted = set(config.feature_layers)
    collected: dict[int, torch.Tensor] = {}
    ordinary = x
    dense: torch.Tensor | None = None
    for number, block in enumerate(blocks, start=1):
        if number < start:
            ordinary = _block(block, ordinary, batch_first)
            if number in wanted:
                collected[number] = ordinary
            continue
        normed = block.ln_1(ordinary)
        attn_ordinary, attn_values = _dual_attention(block, normed)
        dense = (ordinary if dense is None else dense) + block.ls_1(attn_values)
        ordinary = ordinary + block.ls_1(attn_ordinary)
        ordinary = ordinary + block.ls_2(block.mlp(block.ln_2(ordinary)))
        if number in wanted:
            collected[number] = dense
    if config.feature_mode == "aliased" and dense is not None:
        # The released code stored each layer's tensor without copying it and then added the
        # DPAM path in place, so every layer from the one before DPAM onwards held the last
        # block's DPAM tokens.
        for number in collected:
            if number >= start - 1:
                collected[number] = dense
    proj = visual.proj
    layer_tokens = []
    for number in config.feature_layers:
        tokens = visual.ln_post(collected[number].transpose(0, 1))
        if proj is not None:
            tokens = tokens @ proj
        layer_tokens.append(tokens[:, 1:])
    image = ordinary[0]
    if proj is not None:
        image = image @ proj
    return VisionOutput(image=image, layer_tokens=layer_tokens, grid=grid)
