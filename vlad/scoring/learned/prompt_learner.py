"""The learnable text side: context vectors, deep text tokens, and the text forward with them.

Two prompts are learnt: ``[SOT] c_1 .. c_n <normal words> . [EOT]`` and
``[SOT] c'_1 .. c'_n <anomalous words> . [EOT]``, where the c are free vectors in the token
embedding space. Inside the text transformer, the input of layers 2..text_depth has its
positions 1..text_ctx overwritten by further learnable tokens (one set per layer), so that the
prompts can steer the intermediate layers too. The CLIP itself is only read, never changed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vlad.errors import ConfigError, ModelLoadError
from vlad.scoring.learned.config import LearnedPromptsConfig

INIT_STD = 0.02
"""Standard deviation of the random initialisation of every learnable token."""

PARAMETER_NAMES: tuple[str, ...] = ("ctx_normal", "ctx_anomalous", "text_tokens")
"""Names of the prompt learner's parameters, as saved in vlad's prompt files."""


def text_tower(clip_model: nn.Module) -> Any:
    """The module holding an open_clip CLIP's text transformer and its embeddings.

    Args:
        clip_model: An open_clip ``CLIP`` (text parts on the model) or ``CustomTextCLIP``
            (text parts on ``model.text``).

    Returns:
        The object with ``token_embedding``, ``positional_embedding``, ``transformer``,
        ``ln_final``, ``text_projection`` and ``attn_mask``.

    Raises:
        ModelLoadError: When the CLIP has no such text transformer (e.g. a Hugging Face text
            tower) or does not pool it at the end-of-text token.
    """
    for candidate in (clip_model, getattr(clip_model, "text", None)):
        if candidate is not None and all(
            hasattr(candidate, name)
            for name in ("token_embedding", "positional_embedding", "transformer", "ln_final")
        ):
            pool = getattr(candidate, "text_pool_type", getattr(candidate, "pool_type", "argmax"))
            if pool != "argmax" or getattr(candidate, "cls_emb", None) is not None:
                break
            return candidate
    raise ModelLoadError(
        "Learned prompts need a CLIP with open_clip's own text transformer pooled at the "
        "end-of-text token; pick an OpenAI-style architecture such as ViT-L-14-336.",
        param="clip",
    )


class PromptLearner(nn.Module):
    """Learnable prompt tokens for one CLIP text tower.

    Args:
        clip_model: The open_clip CLIP whose token embedding builds the fixed tokens.
        tokenizer: open_clip tokenizer (texts -> LongTensor (N, context)).
        config: Shape of the prompts.

    Raises:
        ConfigError: When the prompts do not fit the text context, or text_depth exceeds
            the text layers.
    """

    def __init__(self, clip_model: nn.Module, tokenizer: Any, config: LearnedPromptsConfig) -> None:
        super().__init__()
        text = text_tower(clip_model)
        width = int(text.token_embedding.weight.shape[1])
        context = int(text.positional_embedding.shape[0])
        layers = len(text.transformer.resblocks)
        if config.text_depth > layers:
            raise ConfigError(
                f"text_depth {config.text_depth} exceeds the {layers} layers of this CLIP's "
                f"text encoder; use at most {layers}.",
                param="text_depth",
            )
        self.config = config
        self.width = width
        token_rows = []
        for words in (config.normal_words, config.anomalous_words):
            token_rows.append(self._prompt_tokens(tokenizer, words, context))
        tokens = torch.stack(token_rows)  # (2, context)
        eot = tokens.argmax(dim=-1)
        length = int(eot.max()) + 1
        tokens = tokens[:, :length]
        with torch.no_grad():
            weight = text.token_embedding.weight
            embedded = text.token_embedding(tokens.to(weight.device)).float().cpu()
        self.register_buffer("token_ids", tokens, persistent=False)
        self.register_buffer("eot_index", eot, persistent=False)
        self.register_buffer("prefix", embedded[:, :1].clone(), persistent=False)
        self.register_buffer("suffix", embedded[:, 1 + config.n_ctx :].clone(), persistent=False)
        self.ctx_normal = nn.Parameter(torch.empty(config.n_ctx, width))
        self.ctx_anomalous = nn.Parameter(torch.empty(config.n_ctx, width))
        self.text_tokens = nn.Parameter(torch.empty(config.text_depth - 1, config.text_ctx, width))
        for parameter in (self.ctx_normal, self.ctx_anomalous, self.text_tokens):
            nn.init.normal_(parameter, std=INIT_STD)
        if config.text_depth > 1 and 1 + config.text_ctx > length:
            raise ConfigError(
                f"text_ctx {config.text_ctx} is longer than the prompts; use at most {length - 1}.",
                param="text_ctx",
            )

    def _prompt_tokens(self, tokenizer: Any, words: str, context: int) -> torch.Tensor:
        """Token ids ``SOT, n_ctx placeholders, words, '.', EOT, padding`` of one prompt."""
        encoded = tokenizer([f"{words}."])[0].long()
        eot = int(encoded.argmax())
        needed = eot + 1 + self.config.n_ctx
        if needed > context:
            raise ConfigError(
                f"The prompt '{words}' with {self.config.n_ctx} context tokens needs {needed} "
                f"tokens but this CLIP reads {context}; use fewer words or a smaller n_ctx.",
                param="n_ctx",
            )
        placeholder = torch.full((self.config.n_ctx,), int(encoded[1]), dtype=torch.long)
        row = torch.cat([encoded[:1], placeholder, encoded[1 : eot + 1]])
        out = torch.zeros(context, dtype=torch.long)
        out[: row.numel()] = row
        return out

    def prompt_embeddings(self) -> torch.Tensor:
        """Input embeddings of the two prompts, (2, L, width): normal first."""
        context = torch.stack([self.ctx_normal, self.ctx_anomalous])
        prefix = self.prefix.to(context.dtype)
        suffix = self.suffix.to(context.dtype)
        return torch.cat([prefix, context, suffix], dim=1)


def encode_prompts(clip_model: nn.Module, learner: PromptLearner) -> torch.Tensor:
    """Run the CLIP text transformer on the learnt prompts, with the deep tokens inserted.

    Positions after the end-of-text token never reach the pooled output under the causal
    mask, so the prompts are cut after their longest end-of-text token.

    Args:
        clip_model: The open_clip CLIP the learner was built for.
        learner: The prompt learner.

    Returns:
        (2, D) text embeddings (normal, anomalous), not normalised, in float32.
    """
    text = text_tower(clip_model)
    transformer = text.transformer
    cast = transformer.get_cast_dtype()
    x = learner.prompt_embeddings().to(cast)
    length = x.shape[1]
    x = x + text.positional_embedding[:length].to(cast)
    mask = text.attn_mask
    mask = mask[:length, :length].to(cast) if mask is not None else None
    batch_first = bool(getattr(transformer, "batch_first", False))
    x = x if batch_first else x.transpose(0, 1)
    deep = learner.text_tokens.to(cast)
    n_ctx = learner.config.text_ctx
    for index, block in enumerate(transformer.resblocks):
        if 1 <= index <= deep.shape[0]:
            tokens = deep[index - 1]
            if batch_first:
                tokens = tokens.unsqueeze(0).expand(x.shape[0], -1, -1)
                x = torch.cat([x[:, :1], tokens, x[:, 1 + n_ctx :]], dim=1)
            else:
                tokens = tokens.unsqueeze(1).expand(-1, x.shape[1], -1)
                x = torch.cat([x[:1], tokens, x[1 + n_ctx :]], dim=0)
        x = block(x, attn_mask=mask)
    x = x if batch_first else x.transpose(0, 1)
    x = text.ln_final(x)
    pooled = x[torch.arange(x.shape[0], device=x.device), learner.eot_index.to(x.device)]
    projection = getattr(text, "text_projection", None)
    if projection is not None:
        pooled = projection(pooled) if isinstance(projection, nn.Module) else pooled @ projection
    return pooled.float()
