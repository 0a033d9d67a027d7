"""Unit tests of the vLLM backend's mapping code, with a recording stand-in for ``vllm``.

The stand-in only records what ``vllm.LLM(...)``, ``LLM.chat(...)`` and
``vllm.SamplingParams(...)`` receive: these tests check vlad's side of the boundary (engine
options, settings to sampling params, json_schema to guided decoding by vLLM version,
errors). vLLM itself is exercised for real by ``bench/vllm_cpu_check.sh``.
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from vlad.errors import ConfigError, InputError, MissingDependencyError, ModelLoadError
from vlad.reasoning.backends.vllm_backend import Generation, VLLMBackend
from vlad.reasoning.llm import ChatBackend, GenerationSettings
from vlad.reasoning.registry import load_backend

SCHEMA = {"type": "object", "properties": {"anomaly": {"type": "boolean"}}}
HELLO = [{"role": "user", "content": "Hello"}]


@dataclass
class Recorded:
    """Keyword arguments a stand-in class was built with."""

    kwargs: dict[str, Any]


class SamplingParams(Recorded):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs)


class StructuredOutputsParams(Recorded):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs)


class GuidedDecodingParams(Recorded):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs)


@dataclass
class Completion:
    text: str
    token_ids: list[int]
    finish_reason: str | None


@dataclass
class RequestOutput:
    prompt_token_ids: list[int]
    outputs: list[Completion]


@dataclass
class FakeVLLM:
    """What the stand-in module saw, and how it should answer."""

    module: types.ModuleType
    inits: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    chats: list[tuple[list[Any], Any, dict[str, Any]]] = field(default_factory=list)
    load_error: Exception | None = None
    chat_error: Exception | None = None


def _install(monkeypatch: pytest.MonkeyPatch, guided: str | None) -> FakeVLLM:
    """Put a recording ``vllm`` (and ``vllm.sampling_params``) into ``sys.modules``."""
    vllm = types.ModuleType("vllm")
    vllm.__spec__ = importlib.machinery.ModuleSpec("vllm", None, is_package=True)
    vllm.__path__ = []
    vllm.__version__ = "0.0.fake"
    sampling = types.ModuleType("vllm.sampling_params")
    fake = FakeVLLM(vllm)

    class LLM:
        def __init__(self, model: str, **kwargs: Any) -> None:
            if fake.load_error is not None:
                raise fake.load_error
            fake.inits.append((model, kwargs))

        def chat(self, messages: list[Any], sampling_params: Any, **kwargs: Any) -> list[Any]:
            if fake.chat_error is not None:
                raise fake.chat_error
            fake.chats.append((messages, sampling_params, kwargs))
            # Answer i repeats the last user text, with spaces to strip.
            return [
                RequestOutput(
                    prompt_token_ids=list(range(10 + i)),
                    outputs=[
                        Completion(f"  answer to {c[-1]['content']}\n", [1] * (i + 2), "stop")
                    ],
                )
                for i, c in enumerate(messages)
            ]

    vllm.LLM = LLM
    vllm.SamplingParams = SamplingParams
    sampling.SamplingParams = SamplingParams
    if guided == "structured":  # vLLM 0.10.2 and later keep it in vllm.sampling_params
        sampling.StructuredOutputsParams = StructuredOutputsParams
    elif guided == "guided":
        sampling.GuidedDecodingParams = GuidedDecodingParams
    vllm.sampling_params = sampling
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    return fake


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> FakeVLLM:
    return _install(monkeypatch, guided="structured")


def test_engine_gets_the_options(fake_vllm: FakeVLLM) -> None:
    backend = VLLMBackend(
        "org/model",
        dtype="bf16",
        max_model_len=2048,
        gpu_memory_utilization=0.5,
        tensor_parallel_size=2,
        seed=7,
        enforce_eager=True,
    )
    assert fake_vllm.inits == [
        (
            "org/model",
            {
                "dtype": "bfloat16",
                "gpu_memory_utilization": 0.5,
                "tensor_parallel_size": 2,
                "seed": 7,
                "max_model_len": 2048,
                "enforce_eager": True,
            },
        )
    ]
    assert backend.name == "vllm:org/model"
    assert isinstance(backend, ChatBackend)


def test_defaults_leave_max_model_len_to_vllm(fake_vllm: FakeVLLM) -> None:
    VLLMBackend("org/model")
    _, options = fake_vllm.inits[0]
    assert options == {
        "dtype": "auto",
        "gpu_memory_utilization": 0.9,
        "tensor_parallel_size": 1,
        "seed": 0,
    }


def test_a_local_folder_is_named_by_its_absolute_path(
    fake_vllm: FakeVLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "smol").mkdir()
    monkeypatch.chdir(tmp_path)
    backend = VLLMBackend("smol")
    assert backend.name == f"vllm:{tmp_path.resolve() / 'smol'}"
    assert fake_vllm.inits[0][0] == str(tmp_path.resolve() / "smol")


def test_greedy_settings_map_to_one_batched_call(fake_vllm: FakeVLLM) -> None:
    backend = VLLMBackend("org/model")
    conversations = [
        [{"role": "user", "content": "one"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "two"}],
        ({"role": "user", "content": "three"},),
    ]
    settings = GenerationSettings(max_new_tokens=12, temperature=0.0, top_p=0.5, seed=3)
    answers = backend.chat(conversations, settings)

    assert answers == ["answer to one", "answer to two", "answer to three"]
    assert len(fake_vllm.chats) == 1
    messages, params, kwargs = fake_vllm.chats[0]
    assert messages == [list(c) for c in conversations]
    assert kwargs == {"use_tqdm": False}
    assert params.kwargs == {
        "max_tokens": 12,
        "temperature": 0.0,
        "top_p": 1.0,  # greedy: top_p plays no part
        "seed": 3,
        "stop": None,
    }


def test_sampling_settings_and_stop_strings(fake_vllm: FakeVLLM) -> None:
    backend = VLLMBackend("org/model")
    settings = GenerationSettings(temperature=0.7, top_p=0.9, seed=11, stop=("\n\n", "END"))
    backend.chat([HELLO], settings)
    params = fake_vllm.chats[0][1]
    assert params.kwargs == {
        "max_tokens": 256,
        "temperature": 0.7,
        "top_p": 0.9,
        "seed": 11,
        "stop": ["\n\n", "END"],
    }


def test_json_schema_becomes_structured_outputs(fake_vllm: FakeVLLM) -> None:
    VLLMBackend("org/model").chat([HELLO], GenerationSettings(json_schema=SCHEMA))
    params = fake_vllm.chats[0][1]
    constraint = params.kwargs["structured_outputs"]
    assert isinstance(constraint, StructuredOutputsParams)
    assert constraint.kwargs == {"json": SCHEMA}
    assert "guided_decoding" not in params.kwargs


def test_json_schema_with_an_older_vllm_uses_guided_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = _install(monkeypatch, guided="guided")
    VLLMBackend("org/model").chat([HELLO], GenerationSettings(json_schema=SCHEMA))
    params = fake.chats[0][1]
    constraint = params.kwargs["guided_decoding"]
    assert isinstance(constraint, GuidedDecodingParams)
    assert constraint.kwargs == {"json": SCHEMA}
    assert "structured_outputs" not in params.kwargs


def test_json_schema_without_guided_decoding_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = _install(monkeypatch, guided=None)
    backend = VLLMBackend("org/model")
    with pytest.raises(ConfigError, match=r"\(0\.0\.fake\) has no guided decoding"):
        backend.chat([HELLO], GenerationSettings(json_schema=SCHEMA))
    # Without a schema the same vLLM answers.
    assert backend.chat([HELLO], GenerationSettings()) == ["answer to Hello"]
    assert len(fake.chats) == 1


def test_generate_reports_tokens(fake_vllm: FakeVLLM) -> None:
    generations = VLLMBackend("org/model").generate([HELLO, HELLO], GenerationSettings())
    assert generations == [
        Generation("answer to Hello", prompt_tokens=10, new_tokens=2, finish_reason="stop"),
        Generation("answer to Hello", prompt_tokens=11, new_tokens=3, finish_reason="stop"),
    ]


def test_an_empty_batch_calls_nothing(fake_vllm: FakeVLLM) -> None:
    assert VLLMBackend("org/model").chat([], GenerationSettings()) == []
    assert fake_vllm.chats == []


@pytest.mark.parametrize(
    "conversation, message",
    [
        ([], "Conversation 0 must be a non-empty list"),
        ("Hello", "Conversation 0 must be a non-empty list"),
        ([{"content": "no role"}], "Message 0 of conversation 0 needs a 'role'"),
        ([{"role": "user", "content": 3}], "Message 0 of conversation 0 needs a 'role'"),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://x.org/a.png"}}],
                }
            ],
            "is a web URL",
        ),
    ],
)
def test_malformed_conversations_are_input_errors(
    fake_vllm: FakeVLLM, conversation: Any, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        VLLMBackend("org/model").chat([conversation], GenerationSettings())
    assert fake_vllm.chats == []


def test_a_request_vllm_rejects_is_an_input_error(fake_vllm: FakeVLLM) -> None:
    backend = VLLMBackend("org/model")
    fake_vllm.chat_error = ValueError("The prompt (5000 tokens) is longer than 2048\nmore")
    with pytest.raises(InputError, match=r"\(The prompt \(5000 tokens\) is longer than 2048\)"):
        backend.chat([HELLO], GenerationSettings())


def test_a_model_vllm_cannot_load_is_a_model_load_error(fake_vllm: FakeVLLM) -> None:
    fake_vllm.load_error = OSError("no config.json in /nowhere")
    with pytest.raises(ModelLoadError, match=r"'/nowhere'.*OSError: no config.json"):
        VLLMBackend("/nowhere")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_model_len": 0}, "max_model_len"),
        ({"gpu_memory_utilization": 0.0}, "gpu_memory_utilization"),
        ({"gpu_memory_utilization": 1.5}, "gpu_memory_utilization"),
        ({"tensor_parallel_size": 0}, "tensor_parallel_size"),
    ],
)
def test_options_out_of_range_are_config_errors(
    fake_vllm: FakeVLLM, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        VLLMBackend("org/model", **options)
    assert fake_vllm.inits == []


def test_the_registry_builds_it(fake_vllm: FakeVLLM) -> None:
    backend = load_backend("vllm:org/model", max_model_len=512)
    assert isinstance(backend, VLLMBackend)
    assert fake_vllm.inits == [
        (
            "org/model",
            {
                "dtype": "auto",
                "gpu_memory_utilization": 0.9,
                "tensor_parallel_size": 1,
                "seed": 0,
                "max_model_len": 512,
            },
        )
    ]


def test_without_vllm_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail
    with pytest.raises(MissingDependencyError, match=r"not installed.*pip install 'vlad\[vllm\]'"):
        VLLMBackend("org/model")


def test_a_broken_vllm_install_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    package = tmp_path / "vllm"
    package.mkdir()
    (package / "__init__.py").write_text("import vlad_test_absent_dependency\n")
    monkeypatch.delitem(sys.modules, "vllm", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        MissingDependencyError,
        match=r"cannot import 'vlad_test_absent_dependency'.*pip install 'vlad\[vllm\]'",
    ):
        VLLMBackend("org/model")
    monkeypatch.delitem(sys.modules, "vllm", raising=False)
