"""Tests of backend specs, lazy backend loading and the cached backend."""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from vlad.errors import ConfigError, MissingDependencyError, VladError
from vlad.reasoning import registry
from vlad.reasoning.backends.openai_http import OpenAIChatBackend
from vlad.reasoning.cache import AnswerCache
from vlad.reasoning.llm import ChatBackend, GenerationSettings
from vlad.reasoning.registry import BackendSpec, CachedBackend, load_backend, parse_spec

TRANSFORMERS_MODULE = "vlad.reasoning.backends.transformers_backend"
SETTINGS = GenerationSettings()


def ask(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, BackendSpec("offline")),
        ("offline", BackendSpec("offline")),
        (" OFFLINE ", BackendSpec("offline")),
        (
            "transformers:HuggingFaceTB/SmolLM2-135M-Instruct",
            BackendSpec("transformers", "HuggingFaceTB/SmolLM2-135M-Instruct"),
        ),
        ("transformers:./models/qwen", BackendSpec("transformers", "./models/qwen")),
        ("gguf:/m/smollm2.Q8_0.gguf", BackendSpec("gguf", "/m/smollm2.Q8_0.gguf")),
        (
            "openai:http://127.0.0.1:8000/v1#Qwen2.5-7B",
            BackendSpec("openai", "http://127.0.0.1:8000/v1", "Qwen2.5-7B"),
        ),
        (
            "openai:https://api.example.org/v1#org/model#2",
            BackendSpec("openai", "https://api.example.org/v1#org/model", "2"),
        ),
        ("vllm:Qwen/Qwen2.5-VL-7B-Instruct", BackendSpec("vllm", "Qwen/Qwen2.5-VL-7B-Instruct")),
    ],
)
def test_parse_spec(spec: str | None, expected: BackendSpec) -> None:
    assert parse_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("Qwen2.5-7B", "has no known scheme"),
        ("ollama:llama3", "has no known scheme"),
        ("transformers:", "names no model after 'transformers:'"),
        ("gguf:model.bin", "does not end in .gguf"),
        ("openai:http://127.0.0.1:8000/v1", "needs the served model's name after '#'"),
        ("openai:http://127.0.0.1:8000/v1#", "needs the served model's name after '#'"),
    ],
)
def test_bad_specs_list_the_valid_forms(spec: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_backend(spec)
    message = str(caught.value)
    assert message.startswith(f"The LLM spec '{spec}' {why}; use one of offline, ")
    for form in registry.SPEC_FORMS:
        assert form in message
    assert message.count(". ") == 0 and message.endswith(".")


class FakeTransformers:
    """Stands in for the transformers backend module: records how it was called."""

    calls: ClassVar[list[tuple[str, tuple[Any, ...], dict[str, Any]]]] = []

    class TransformersBackend:
        def __init__(self, model: str, *, gguf_file: str | None = None, device: str = "auto"):
            FakeTransformers.calls.append(
                ("TransformersBackend", (model,), {"gguf_file": gguf_file, "device": device})
            )
            self.name = f"transformers:{model}"

        def chat(self, conversations: Sequence[Any], settings: GenerationSettings) -> list[str]:
            return ["" for _ in conversations]

    @staticmethod
    def offline_default(*, device: str = "auto") -> Any:
        FakeTransformers.calls.append(("offline_default", (), {"device": device}))
        return FakeTransformers.TransformersBackend("smollm2")


@pytest.fixture
def fake_transformers(monkeypatch: pytest.MonkeyPatch) -> type[FakeTransformers]:
    module = types.ModuleType(TRANSFORMERS_MODULE)
    module.TransformersBackend = FakeTransformers.TransformersBackend  # type: ignore[attr-defined]
    module.offline_default = FakeTransformers.offline_default  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, TRANSFORMERS_MODULE, module)
    FakeTransformers.calls = []
    return FakeTransformers


def test_offline_and_none_call_offline_default(fake_transformers: type[FakeTransformers]) -> None:
    backend = load_backend(None)
    assert isinstance(backend, ChatBackend)
    load_backend("offline", device="cpu")
    assert [c[0] for c in fake_transformers.calls] == ["offline_default", "TransformersBackend"] * 2
    assert fake_transformers.calls[2][2] == {"device": "cpu"}


def test_transformers_and_gguf_build_transformers_backend(
    fake_transformers: type[FakeTransformers],
) -> None:
    backend = load_backend("transformers:HuggingFaceTB/SmolLM2-135M-Instruct", device="cpu")
    assert backend.name == "transformers:HuggingFaceTB/SmolLM2-135M-Instruct"
    load_backend("gguf:/models/small.gguf")
    assert fake_transformers.calls == [
        (
            "TransformersBackend",
            ("HuggingFaceTB/SmolLM2-135M-Instruct",),
            {"gguf_file": None, "device": "cpu"},
        ),
        ("TransformersBackend", ("/models/small.gguf",), {"gguf_file": None, "device": "auto"}),
    ]


def test_unknown_options_are_one_sentence(fake_transformers: type[FakeTransformers]) -> None:
    with pytest.raises(
        ConfigError, match=r"transformers backend does not take the options \['colour'\]"
    ):
        load_backend("transformers:x/y", colour="red")
    with pytest.raises(ConfigError, match="openai backend does not take"):
        load_backend("openai:http://127.0.0.1:1/v1#m", device="cpu")


def test_a_missing_backend_module_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, TRANSFORMERS_MODULE, None)
    with pytest.raises(MissingDependencyError, match="has no transformers backend"):
        load_backend("offline")


def test_the_real_transformers_module_offers_what_the_registry_calls() -> None:
    if importlib.util.find_spec(TRANSFORMERS_MODULE) is None:
        pytest.skip("the transformers backend is not written yet")
    module = pytest.importorskip(TRANSFORMERS_MODULE)
    assert callable(module.offline_default)
    import inspect

    assert "device" in inspect.signature(module.TransformersBackend).parameters


def test_openai_spec_builds_without_network_and_reads_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VLAD_LLM_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    backend = load_backend("openai:http://127.0.0.1:9/v1/#Qwen2.5-7B", timeout_s=3)
    assert isinstance(backend, OpenAIChatBackend)
    assert backend.name == "openai:http://127.0.0.1:9/v1#Qwen2.5-7B"
    assert backend.timeout_s == 3
    assert backend._api_key == "sk-openai"
    monkeypatch.setenv("VLAD_LLM_API_KEY", "sk-vlad")
    assert load_backend("openai:http://h:1/v1#m")._api_key == "sk-vlad"  # type: ignore[attr-defined]
    assert load_backend("openai:http://h:1/v1#m", api_key="sk-x")._api_key == "sk-x"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="not an http"):
        load_backend("openai:127.0.0.1:8000/v1#m")


def test_vllm_without_the_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "vllm" else real_find_spec(name, *a),
    )
    with pytest.raises(MissingDependencyError, match=r"pip install 'vlad\[vllm\]'"):
        load_backend("vllm:Qwen/Qwen2.5-VL-7B-Instruct")


class CountingBackend:
    """A backend that answers 'answer to <text>' and records each batch it gets."""

    name = "counting"

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def chat(self, conversations: Sequence[Any], settings: GenerationSettings) -> list[str]:
        texts = [c[-1]["content"] for c in conversations]
        self.batches.append(texts)
        return [f"answer to {t}" for t in texts]


def test_cached_backend_sends_only_misses(tmp_path: Path) -> None:
    inner = CountingBackend()
    cached = CachedBackend(inner, AnswerCache(tmp_path / "a.sqlite"))
    assert isinstance(cached, ChatBackend) and cached.name == "counting"
    assert cached.chat([ask("a"), ask("b"), ask("a")], SETTINGS) == [
        "answer to a",
        "answer to b",
        "answer to a",
    ]
    assert inner.batches == [["a", "b"]]
    assert (cached.hits, cached.misses) == (1, 2)
    assert cached.chat([ask("c"), ask("b"), ask("a")], SETTINGS) == [
        "answer to c",
        "answer to b",
        "answer to a",
    ]
    assert inner.batches[-1] == ["c"]
    assert (cached.hits, cached.misses) == (3, 3)
    cached.chat([ask("a")], GenerationSettings(seed=5))  # other settings: another key
    assert inner.batches[-1] == ["a"]
    assert cached.chat([], SETTINGS) == []

    again = CachedBackend(CountingBackend(), AnswerCache(tmp_path / "a.sqlite"))
    assert again.chat([ask("b"), ask("c")], SETTINGS) == ["answer to b", "answer to c"]
    assert again.backend.batches == []  # type: ignore[attr-defined]
    assert (again.hits, again.misses) == (2, 0)


def test_cached_backend_chunks_and_stores_as_it_goes(tmp_path: Path) -> None:
    class FailsOnThirdBatch(CountingBackend):
        def chat(self, conversations: Sequence[Any], settings: GenerationSettings) -> list[str]:
            if len(self.batches) == 2:
                raise VladError("the server went away")
            return super().chat(conversations, settings)

    cache = AnswerCache(tmp_path / "a.sqlite")
    cached = CachedBackend(FailsOnThirdBatch(), cache, chunk_size=2)
    with pytest.raises(VladError, match="went away"):
        cached.chat([ask(str(i)) for i in range(6)], SETTINGS)
    assert len(cache) == 4  # the two finished batches were kept
    resumed = CachedBackend(CountingBackend(), cache, chunk_size=2)
    resumed.chat([ask(str(i)) for i in range(6)], SETTINGS)
    assert resumed.backend.batches == [["4", "5"]]  # type: ignore[attr-defined]


def test_cached_backend_rejects_wrong_answer_counts(tmp_path: Path) -> None:
    class Short(CountingBackend):
        def chat(self, conversations: Sequence[Any], settings: GenerationSettings) -> list[str]:
            return super().chat(conversations, settings)[:-1]

    cached = CachedBackend(Short(), AnswerCache(tmp_path / "a.sqlite"))
    with pytest.raises(VladError, match="returned 1 answers for 2 conversations"):
        cached.chat([ask("a"), ask("b")], SETTINGS)
    with pytest.raises(ConfigError, match="chunk_size"):
        CachedBackend(Short(), AnswerCache(tmp_path / "a.sqlite"), chunk_size=0)


def test_cached_backend_goes_on_when_the_cache_breaks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = AnswerCache(tmp_path / "a.sqlite")
    cached = CachedBackend(CountingBackend(), cache)
    cache._path.unlink()
    cache.close()
    cache._path = tmp_path / "missing-dir-file"  # a folder in the way makes SQLite fail
    cache._path.mkdir()
    assert cached.chat([ask("a")], SETTINGS) == ["answer to a"]
    assert "without the cache" in caplog.text
    uncacheable = [{"role": "user", "content": [{"type": "image", "image": object()}]}]
    assert cached.chat([uncacheable], SETTINGS) == ["answer to " + repr(uncacheable[0]["content"])]
