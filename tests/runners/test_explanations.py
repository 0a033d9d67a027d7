"""Explanation evaluation: pairing, figures per corpus and per video, UCA data, bad inputs."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.shared_data import UCA
from vlad.errors import InputError, MissingDependencyError
from vlad.runners.explanations import (
    ExplainedVideo,
    evaluate_explanations,
    format_explanation_figures,
    load_explanations,
    parse_explanations,
)


class TableEmbedder:
    """Fixed vectors for known texts (unit rows), so cosines are known exactly."""

    name = "table"
    dim = 2

    def __init__(self, table: dict[str, tuple[float, float]]) -> None:
        self.table = table

    def embed(self, texts, *, batch_size: int = 64) -> np.ndarray:
        rows = np.array([self.table[t] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def video(name: str, sentences: list[str], spans: list[list[float]] | None = None):
    return ExplainedVideo(
        name,
        tuple(sentences),
        None if spans is None else tuple((float(s), float(e)) for s, e in spans),
    )


REFERENCE = {
    "v1": video("v1", ["a man runs", "a car stops"], [[0, 4], [6, 10]]),
    "v2": video("v2", ["a dog barks"], [[0, 2]]),
}


def test_sentences_are_paired_by_their_spans_not_their_order() -> None:
    predicted = {
        "v1": video("v1", ["a car stops", "a man runs"], [[6, 10], [0, 4]]),
        "v2": video("v2", ["a dog barks"], [[0, 2]]),
    }
    report = evaluate_explanations(predicted, REFERENCE)
    figures = report.figures
    assert figures["BLEU-1"] == pytest.approx(1.0, abs=1e-9)
    assert figures["ROUGE-L"] == 1.0
    assert figures["tIoU"] == 1.0
    assert (figures["R@0.3"], figures["R@0.5"], figures["R@0.7"]) == (1.0, 1.0, 1.0)
    assert (figures["P@0.3"], figures["P@0.5"], figures["P@0.7"]) == (1.0, 1.0, 1.0)
    assert (figures["videos"], figures["items"], figures["paired_items"]) == (2, 3, 3)
    assert figures["embedding_cosine"] is None
    assert [r["video"] for r in report.videos] == ["v1", "v2"]


def test_temporal_figures_pool_reference_and_predicted_spans_over_videos() -> None:
    predicted = {
        "v1": video("v1", ["a man runs"], [[0, 2]]),  # IoU 0.5 with [0, 4], 0 with [6, 10]
        "v2": video("v2", ["a dog barks", "noise"], [[0, 2], [5, 6]]),  # 1.0, and a miss
    }
    figures = evaluate_explanations(predicted, REFERENCE).figures
    assert figures["tIoU"] == pytest.approx((0.5 + 0.0 + 1.0) / 3)
    assert (figures["R@0.3"], figures["R@0.5"], figures["R@0.7"]) == pytest.approx(
        (2 / 3, 2 / 3, 1 / 3)
    )
    # Predicted spans: [0, 2] -> 0.5, [0, 2] -> 1.0, [5, 6] -> 0.
    assert (figures["P@0.3"], figures["P@0.5"], figures["P@0.7"]) == pytest.approx(
        (2 / 3, 2 / 3, 1 / 3)
    )
    # 'a car stops' has no partner: scored against the empty sentence.
    assert figures["paired_items"] == 2
    per_video = {r["video"]: r for r in evaluate_explanations(predicted, REFERENCE).videos}
    assert per_video["v1"]["ROUGE-L"] == pytest.approx(0.5)
    assert per_video["v1"]["tIoU"] == pytest.approx(0.25)
    assert per_video["v2"]["R@0.7"] == 1.0


def test_without_timestamps_sentences_pair_in_order_and_no_temporal_figure() -> None:
    predicted = {"v1": video("v1", ["a man runs", "a cat sits"])}
    embedder = TableEmbedder({"a man runs": (1, 0), "a cat sits": (1, 1), "a car stops": (0, 1)})
    report = evaluate_explanations(predicted, REFERENCE, embedder=embedder)
    figures = report.figures
    assert figures["tIoU"] is None
    assert "R@0.5" not in figures
    assert figures["videos"] == 1
    assert figures["missing_videos"] == ["v2"]
    # cosines: 1 for the same sentence, 1/sqrt(2) for (1, 1) against (0, 1).
    assert figures["embedding_cosine"] == pytest.approx((1 + 2**-0.5) / 2, abs=1e-6)
    assert figures["embedder"] == "table"
    assert report.videos[0]["embedding_cosine"] == pytest.approx((1 + 2**-0.5) / 2, abs=1e-6)
    text = format_explanation_figures(figures)
    assert "videos            1 scored of 2 referenced (1 without a prediction)" in text
    assert "embedding cosine  0.8536 (table)" in text
    assert "temporal IoU      n/a" in text


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            [1, 2],
            "predictions P is not in the UCA layout; give a JSON object {video: "
            '{"timestamps": [[start, end], ...], "sentences": [text, ...]}}.',
        ),
        (
            {"v": {"timestamps": []}},
            "predictions P is not in the UCA layout: video 'v' has "
            'no list of sentences; give {video: {"timestamps": [[start, end], ...], '
            '"sentences": [text, ...]}}.',
        ),
        (
            {"v": {"sentences": ["a", "b"], "timestamps": [[0, 1]]}},
            "predictions P: video 'v' has 1 timestamps for 2 sentences; give one [start, end] "
            "per sentence.",
        ),
        (
            {"v": {"sentences": ["a"], "timestamps": [[3, 1]]}},
            "predictions P: video 'v' has the timestamp [3, 1]; give [start, end] in seconds "
            "with start <= end.",
        ),
        (
            "{not json",
            "predictions file P is not JSON (line 1); give a file in the layout "
            '{video: {"timestamps": [[start, end], ...], "sentences": [text, ...]}}.',
        ),
    ],
)
def test_bad_files_say_one_sentence(tmp_path: Path, content: object, message: str) -> None:
    path = write(tmp_path / "p.json", content)
    with pytest.raises(InputError) as caught:
        load_explanations(path, param="predictions")
    assert str(caught.value) == message.replace(" P", f" {path}")
    assert caught.value.param == "predictions"


def test_missing_file_and_no_common_video(tmp_path: Path) -> None:
    with pytest.raises(
        InputError,
        match=r"^references file .*nope.json does not exist; give "
        r"a JSON file\.$",
    ):
        load_explanations(tmp_path / "nope.json", param="references")
    other = parse_explanations({"x": {"sentences": ["a"]}}, param="predictions", source="P")
    with pytest.raises(InputError) as caught:
        evaluate_explanations(other, REFERENCE)
    assert str(caught.value) == (
        "predictions shares no video id with the references; predict the videos they name."
    )


def test_meteor_without_java_says_one_sentence(monkeypatch) -> None:
    pytest.importorskip("pycocoevalcap")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(MissingDependencyError) as caught:
        evaluate_explanations(REFERENCE, REFERENCE, with_meteor=True)
    assert str(caught.value) == (
        "METEOR runs on Java, which is not installed; install a Java runtime "
        "(apt-get install default-jre-headless) or leave METEOR out."
    )


@pytest.mark.slow
@pytest.mark.parity
def test_meteor_through_coco_caption_when_java_is_there() -> None:
    pytest.importorskip("pycocoevalcap")
    if shutil.which("java") is None:
        pytest.skip("java is not installed")
    same = evaluate_explanations(REFERENCE, REFERENCE, with_meteor=True).figures
    assert same["METEOR"] == pytest.approx(1.0)
    other = {"v1": video("v1", ["a man walks", "a bus stops"], [[0, 4], [6, 10]])}
    assert 0 < evaluate_explanations(other, REFERENCE, with_meteor=True).figures["METEOR"] < 1


# ---------------------------------------------------------------------------- UCA data


def uca(split: str) -> dict[str, ExplainedVideo]:
    path = UCA / f"UCFCrime_{split}.json"
    if not path.is_file():
        pytest.skip(f"UCA data not found at {UCA}")
    return load_explanations(path, param="references")


def test_uca_validation_against_itself_perturbed_copies_and_a_baseline() -> None:
    references = uca("Val")
    same = evaluate_explanations(references, references).figures
    assert same["items"] == same["paired_items"] == 3534
    for key in ("BLEU-1", "BLEU-4", "ROUGE-L", "tIoU", "R@0.7", "P@0.7"):
        assert same[key] == pytest.approx(1.0, abs=1e-9)

    # Every third word dropped, spans shifted 2 s later: lower on every figure.
    shifted = {
        name: ExplainedVideo(
            name,
            tuple(" ".join(w for i, w in enumerate(s.split()) if i % 3 != 2) for s in v.sentences),
            tuple((a + 2.0, b + 2.0) for a, b in v.timestamps or ()),
        )
        for name, v in references.items()
    }
    changed = evaluate_explanations(shifted, references).figures
    for key in ("BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr-D", "tIoU", "R@0.7"):
        assert changed[key] < same[key]
    assert changed["R@0.3"] > changed["R@0.7"]

    # Dense-caption baseline: the validation set's most frequent sentence at every reference
    # span, so timing is perfect and the words are generic.
    common = Counter(s for v in references.values() for s in v.sentences).most_common(1)[0][0]
    baseline = {
        name: ExplainedVideo(name, (common,) * len(v.sentences), v.timestamps)
        for name, v in references.items()
    }
    dense = evaluate_explanations(baseline, references).figures
    assert dense["tIoU"] == pytest.approx(1.0)
    assert dense["CIDEr-D"] < changed["CIDEr-D"] < same["CIDEr-D"]
    assert dense["BLEU-4"] < changed["BLEU-4"]
