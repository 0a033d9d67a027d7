"""Rule induction: tolerant parsing, reference collection, batching, merging, voting, errors."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vlad.config.reasoning import InductionConfig
from vlad.errors import ConfigError, InputError
from vlad.reasoning.induction import (
    Candidate,
    InductionReport,
    aggregate,
    check_rules,
    collect_references,
    induce_rules,
    load_induction_prompt,
    parse_rule_answer,
    read_caption_file,
    sample_batches,
)
from vlad.reasoning.llm import Conversation, GenerationSettings
from vlad.reasoning.rules import Rule


class WordEmbedder:
    """A deterministic bag-of-words embedder: cosine = shared words / sqrt(len * len)."""

    name = "words"
    dim = 256

    def embed(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        vocab: dict[str, int] = {}
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in set(text.lower().replace(".", "").split()):
                column = vocab.setdefault(word, sum(map(ord, word)) % self.dim)
                rows[i, column] = 1.0
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


ANSWERS = {
    ("normal", "human activities", 0): "1. Walking\n2. Standing\n3. Juggling",
    ("normal", "human activities", 1): "Here are the activities:\n- walking.\n- Standing",
    ("normal", "human activities", 2): "1. Walking\n1. Standing\n2. Standing",
    ("normal", "non-human objects", 0): "- Trees\n- **Benches**",
    ("normal", "non-human objects", 1): "Trees\nBenches\nA building",
    ("normal", "non-human objects", 2): "I am not sure.",
    ("anomaly", "human activities", 0): "1. Running\n2. Fighting\n3. Walking",
    ("anomaly", "human activities", 1): "1. Running.\n2. running",
    ("anomaly", "human activities", 2): "**Anomalies:**\n1. Fighting\n2. Riding a bike",
    ("anomaly", "non-human objects", 0): "1. A car on the walkway",
    ("anomaly", "non-human objects", 1): "",
    ("anomaly", "non-human objects", 2): "1. A car on the walkway\n2. Fire",
}
CAPTIONS = [f"caption {i} people walk" for i in range(6)]


class ScriptedLLM:
    """Answers by (kind, category, batch), the batch counted from the calls."""

    name = "scripted"

    def __init__(self, answers: dict[tuple[str, str, int], str] = ANSWERS) -> None:
        self.answers = answers
        self.calls: list[list[Conversation]] = []

    def chat(
        self, conversations: Sequence[Conversation], settings: GenerationSettings
    ) -> list[str]:
        self.calls.append(list(conversations))
        out = []
        for conversation in conversations:
            text = conversation[-1]["content"]
            kind = "anomaly" if "abnormal or anomalous" in text else "normal"
            category = "human activities" if "human activities" in text else "non-human objects"
            # Each batch makes two calls: normal rules, then anomaly rules.
            batch = (len(self.calls) - 1) // 2
            out.append(self.answers[(kind, category, batch)])
        return out


def test_parse_rule_answer_tolerates_small_model_output() -> None:
    assert parse_rule_answer("1. Walking.\n2) **Standing** still\n- walking\n* Trees;") == [
        "Walking",
        "Standing still",
        "Trees",
    ]
    assert parse_rule_answer("Sure! Here are the rules:\nWalking\nRules:\n\n  standing  \n") == [
        "Walking",
        "Standing",
    ]
    assert parse_rule_answer("### Normal Human Activities\nWalking alone") == ["Walking alone"]
    assert parse_rule_answer("1. a\n2. b\n3. c", limit=2) == ["A", "B"]
    assert parse_rule_answer(" ".join(["word"] * 26)) == []
    assert parse_rule_answer("") == []
    assert parse_rule_answer("1. Bridge\n2. Bridge\n3. Bridge") == ["Bridge"]


def test_packaged_prompt() -> None:
    prompt = load_induction_prompt()
    assert prompt.name == "rule-induction"
    assert prompt.version == 1
    assert prompt.categories == {
        "human activity": "human activities",
        "object": "non-human objects",
    }
    assert "{captions}" in prompt.normal
    assert "{rules}" in prompt.anomaly
    assert prompt.scene_line == "The camera watches {scene}.\n"
    assert prompt.none_listed == "(none listed)"


def test_a_user_prompt_sets_the_scene_line_and_keeps_the_defaults_it_omits(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "kind: induction\nname: mine\ncategories: {human activity: human activities}\n"
        "scene_line: 'Scene: {scene}. '\n"
        "normal: '{scene}N {captions} {category} {count}'\nanomaly: '{scene}A {rules}'\n"
    )
    prompt = load_induction_prompt(path)
    assert (prompt.name, prompt.none_listed) == ("mine", "(none listed)")
    # Nothing usable comes back (the scripted answers key on the category's words only).
    llm = ScriptedLLM({("normal", c, 0): "" for c in ("human activities", "non-human objects")})
    rules = induce_rules(
        ["a man walks"],
        llm,
        WordEmbedder(),
        scene="a lot.",
        batches=1,
        per_batch=1,
        prompt=prompt,
        definitions=["a fire"],
    )
    assert [r.text for r in rules.anomaly()] == ["a fire"]
    asked = [c[-1]["content"] for calls in llm.calls for c in calls]
    assert asked == [
        "Scene: a lot. N - a man walks human activities 8",
        "Scene: a lot. A (none listed)",
    ]


def test_sample_batches() -> None:
    disjoint = sample_batches(6, 3, 2, seed=0)
    assert len(disjoint) == 3
    assert sorted(i for b in disjoint for i in b) == list(range(6))
    overlapping = sample_batches(3, 4, 2, seed=0)
    assert [len(b) for b in overlapping] == [2, 2, 2, 2]
    assert all(len(set(b)) == 2 for b in overlapping)
    assert sample_batches(2, 2, 5, seed=1) == [[0, 1], [0, 1]]
    assert sample_batches(6, 3, 2, seed=0) == disjoint


def _scripted() -> ScriptedLLM:
    return ScriptedLLM()


def test_induce_votes_merges_and_drops_contradictions() -> None:
    llm = _scripted()
    report = InductionReport()
    rules = induce_rules(
        CAPTIONS,
        llm,
        WordEmbedder(),
        scene="a campus walkway",
        batches=3,
        per_batch=2,
        references=["captions.txt"],
        report=report,
    )
    assert [(r.id, r.text, r.votes) for r in rules.rules] == [
        ("normal-human-activity-1", "Walking", 3),
        ("normal-human-activity-2", "Standing", 3),
        ("normal-object-1", "Trees", 2),
        ("normal-object-2", "Benches", 2),
        ("anomaly-human-activity-1", "Running", 2),
        ("anomaly-human-activity-2", "Fighting", 2),
        ("anomaly-object-1", "A car on the walkway", 2),
    ]
    assert all(r.source == "induced" for r in rules.rules)
    assert rules.scene == "a campus walkway"
    assert report.answers == 12
    assert report.empty_answers == 2  # "I am not sure." and ""
    assert report.contradicting == 1  # "Walking" offered as an anomaly
    assert report.proposed == {"normal": 12, "anomaly": 9}
    assert report.kept == {"normal": 4, "anomaly": 3}
    provenance = rules.provenance
    assert provenance["model"] == "scripted"
    assert provenance["embedder"] == "words"
    assert provenance["batches"] == 3
    assert provenance["per_batch"] == 2
    assert provenance["min_votes"] == 2
    assert provenance["references"] == ["captions.txt"]
    assert provenance["prompt"] == "rule-induction v1"
    assert provenance["created"].endswith("+00:00")
    # two calls per batch: normal rules for both categories, then anomaly rules
    assert [len(c) for c in llm.calls] == [2, 2, 2, 2, 2, 2]
    anomaly_request = llm.calls[1][0][-1]["content"]
    assert anomaly_request.startswith("The camera watches a campus walkway.\n")
    assert "1. Walking\n2. Standing\n3. Juggling" in anomaly_request
    assert llm.calls[0][0][0]["role"] == "system"


def test_min_votes_one_keeps_everything_and_definitions_are_added() -> None:
    rules = induce_rules(
        CAPTIONS,
        _scripted(),
        WordEmbedder(),
        batches=3,
        per_batch=2,
        min_votes=1,
        definitions=["a dog on the lawn"],
    )
    assert [r.text for r in rules.anomaly()] == [
        "Running",
        "Fighting",
        "Riding a bike",
        "A car on the walkway",
        "Fire",
        "a dog on the lawn",
    ]
    assert rules.anomaly()[-1] == Rule(
        "a dog on the lawn", "anomaly", "user definition", "anomaly-user-definition-1", 1, "user"
    )
    assert "Juggling" in [r.text for r in rules.normal()]


def test_aggregate_merges_paraphrases_keeping_the_most_common_wording() -> None:
    candidates = [
        Candidate("A person running fast", "anomaly", "human activity", 0),
        Candidate("A person running", "anomaly", "human activity", 1),
        Candidate("A person running", "anomaly", "human activity", 2),
        Candidate("A bike", "anomaly", "object", 0),
    ]
    rules = aggregate(candidates, WordEmbedder(), min_votes=2, merge_threshold=0.8)
    assert [(r.text, r.votes) for r in rules] == [("A person running", 3)]


def test_too_few_rules_is_one_clear_error() -> None:
    names = ["Alpha", "Beta", "Gamma"]
    disagreeing = ScriptedLLM(
        {key: "1. Walking" if key[0] == "normal" else f"1. {names[key[2]]}" for key in ANSWERS}
    )
    with pytest.raises(ConfigError) as info:
        induce_rules(CAPTIONS, disagreeing, WordEmbedder(), batches=3, per_batch=2)
    message = str(info.value)
    assert message.startswith(
        "The LLM scripted produced no anomaly rule that 2 of 3 batches agree on "
        "(6 proposed, 0 of 12 answers unusable); use a stronger LLM"
    )
    assert message.endswith("or add anomalies as definitions.")
    assert info.value.param == "min_votes"
    assert "lower --min-votes" in info.value.for_surface({"min_votes": "--min-votes"})
    unparseable = {key: "I do not know.\n" for key in ANSWERS}
    with pytest.raises(ConfigError, match=r"\(0 proposed, 12 of 12 answers unusable\)"):
        induce_rules(CAPTIONS, ScriptedLLM(unparseable), WordEmbedder(), batches=3, per_batch=2)
    # a user definition is enough to make a usable rule set
    rules = induce_rules(
        CAPTIONS,
        ScriptedLLM(unparseable),
        WordEmbedder(),
        batches=3,
        per_batch=2,
        definitions=["a fire"],
    )
    assert [r.text for r in rules.anomaly()] == ["a fire"]


REFERENCES = [
    "Two people are walking on the path.",
    "One person is standing near the door of a building.",
]
COPYING = {
    key: answer
    for batch in (0, 1)
    for key, answer in {
        # the issue: the captions written back as rules, word for word
        ("normal", "human activities", batch): (
            "1. Two people are walking on the path\n"
            "2. One person is standing near the door of a building\n"
            "3. People walking"
        ),
        ("normal", "non-human objects", batch): (
            "1. Trees along the path\n2. Abnormal objects\n3. A door of a building"
        ),
        ("anomaly", "human activities", batch): (
            "1. Two people are walking on the path.\n"
            "2. Human activities that would be abnormal or anomalous there\n"
            "3. A car drives on the"
        ),
        ("anomaly", "non-human objects", batch): "1. A door of a building.",
    }.items()
}


def test_copied_captions_echoes_and_fragments_are_dropped_before_the_vote() -> None:
    llm = ScriptedLLM(COPYING)
    report = InductionReport()
    rules = induce_rules(
        REFERENCES,
        llm,
        WordEmbedder(),
        batches=2,
        per_batch=2,
        definitions=["a person riding a bicycle"],
        report=report,
    )
    assert [r.text for r in rules.normal()] == [
        "People walking",
        "Trees along the path",
        "A door of a building",
    ]
    assert [r.text for r in rules.anomaly()] == ["a person riding a bicycle"]
    assert report.kept == {"normal": 3, "anomaly": 0}
    # per batch: 2 + 1 captions copied, an echo, a fragment, a label contradicted and a
    # normal rule restated as an anomaly rule
    assert report.dropped == {
        "copied input": 6,
        "prompt echo": 2,
        "fragment": 2,
        "contradicts its label": 2,
        "restates a normal rule": 2,
    }
    assert report.drops() == (
        "6 copied input, 2 contradicts its label, 2 fragment, 2 prompt echo, "
        "2 restates a normal rule"
    )
    assert rules.provenance["dropped"] == {
        "contradicts its label": 2,
        "copied input": 6,
        "fragment": 2,
        "prompt echo": 2,
        "restates a normal rule": 2,
    }
    # the checks saw the captions the batch was shown, and never the scene or the captions
    # as instructions: "People walking" is kept although the prompt lists the captions
    assert "- Two people are walking on the path." in llm.calls[0][0][-1]["content"]


def test_with_no_anomaly_rule_left_the_error_counts_the_drops() -> None:
    with pytest.raises(ConfigError) as info:
        induce_rules(REFERENCES, ScriptedLLM(COPYING), WordEmbedder(), batches=2, per_batch=2)
    assert str(info.value) == (
        "The LLM scripted produced no anomaly rule that 1 of 2 batches agree on (0 proposed, "
        "4 of 8 answers unusable, 14 rules dropped: 6 copied input, 2 contradicts its label, "
        "2 fragment, 2 prompt echo, 2 restates a normal rule); use a stronger LLM, lower "
        "min_votes, or add anomalies as definitions."
    )


def test_check_rules_names_each_reason() -> None:
    dropped: Counter[str] = Counter()
    kept = check_rules(
        [
            "A building with a door",
            "Riding a bicycle on the path",
            "Normal walking is abnormal",
            "Walking along the",
            "Two people are walking on the path",
            "List up to 8 human activities that would be abnormal",
        ],
        "anomaly",
        instructions=["list up to 8 human activities that would be abnormal or anomalous there"],
        captions=REFERENCES,
        normal_rules=["A building with a door", "Walking"],
        dropped=dropped,
    )
    assert kept == ["Riding a bicycle on the path"]
    assert dropped == Counter(
        {
            "restates a normal rule": 1,
            "contradicts its label": 1,
            "fragment": 1,
            "copied input": 1,
            "prompt echo": 1,
        }
    )


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"batches": 0}, r"^batches must be at least 1, got 0\.$"),
        ({"per_batch": 0}, r"^per_batch must be at least 1, got 0\.$"),
        ({"min_votes": 4}, r"^min_votes must lie in \[1, 3\] \(the batches\), got 4\.$"),
        ({"merge_threshold": 0.0}, r"^merge_threshold must lie in \(0, 1\], got 0\.0\.$"),
    ],
)
def test_bad_settings(options: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        induce_rules(CAPTIONS, ScriptedLLM(), WordEmbedder(), **{"batches": 3, **options})
    # The error names the parameter; the CLI says its flag (``--per-batch``) instead.
    [param] = options
    assert info.value.param == param
    flag = "--" + param.replace("_", "-")
    assert info.value.for_surface({param: flag}).startswith(f"{flag} must")
    # The same settings as a config refuse the same way.
    with pytest.raises(ConfigError, match=match):
        InductionConfig(**{"batches": 3, **options})


def test_no_captions() -> None:
    with pytest.raises(InputError, match=r"^There are no reference captions to induce rules"):
        induce_rules(["  "], ScriptedLLM(), WordEmbedder())


def test_caption_files(tmp_path: Path) -> None:
    text = tmp_path / "c.txt"
    text.write_text("a  person walks\n\nthe lawn\n")
    assert read_caption_file(text) == ["a person walks", "the lawn"]
    lines = tmp_path / "c.jsonl"
    lines.write_text(
        json.dumps({"text": "one"})
        + "\n"
        + json.dumps("two")
        + "\n"
        + json.dumps({"caption": "three", "label": "normal"})
        + "\n"
        + json.dumps({"text": "skip", "label": "anomalous"})
        + "\n"
    )
    assert read_caption_file(lines) == ["one", "two", "three"]
    refs = collect_references([text, lines, text])
    assert refs.captions == ("a person walks", "the lawn", "one", "two", "three")
    assert refs.counts == {"caption file": 7, "image": 0, "video frame": 0}
    assert refs.sources == (str(text), str(lines), str(text))


def test_bad_references(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=r"^Reference .*none\.txt does not exist; check the path\.$"
    ):
        collect_references([tmp_path / "none.txt"])
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    with pytest.raises(InputError, match=r"^Caption file .*empty\.txt holds no captions; "):
        collect_references([empty])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{oops\n')
    with pytest.raises(InputError, match=r"^Line 2 of .*bad\.jsonl is not valid JSON; "):
        read_caption_file(bad)
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text('{"label": "normal"}\n')
    with pytest.raises(InputError, match=r"^Line 1 of .*wrong\.jsonl has no caption; "):
        read_caption_file(wrong)
    image = tmp_path / "frame.png"
    Image.new("RGB", (8, 8)).save(image)
    with pytest.raises(
        ConfigError, match=r"^The references include images or videos; pass captioner"
    ):
        collect_references([image])


def test_images_and_videos_are_captioned(tmp_path: Path) -> None:
    from tests.reasoning.test_perception import FrameReader
    from tests.videos import moving_square_frames, write_video
    from vlad.reasoning.perception import FrameCaptioner

    frames = moving_square_frames(12, 48, 64)
    folder = tmp_path / "refs"
    folder.mkdir()
    Image.fromarray(frames[5]).save(folder / "a.png")
    video = write_video(tmp_path / "v.mp4", frames, fps=10)
    refs = collect_references(
        [folder, video], captioner=FrameCaptioner(FrameReader()), frames_per_video=3
    )
    assert refs.captions == ("frame 5", "frame 0", "frame 6", "frame 11")
    assert refs.counts == {"caption file": 0, "image": 1, "video frame": 3}
