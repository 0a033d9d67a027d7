"""``vlad eval explanations`` as a user runs it: table, JSON, per-video file, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlad.cli.main import main

REFERENCES = {
    "v1": {
        "duration": 12.0,
        "timestamps": [[0, 4], [6, 10]],
        "sentences": ["A man runs.", "A car stops."],
    },
    "v2": {"timestamps": [[0, 2]], "sentences": ["A dog barks."]},
}
PREDICTIONS = {
    "v1": {"timestamps": [[6, 10], [0, 2]], "sentences": ["A car stops.", "A man runs."]},
    "v2": {"timestamps": [[0, 2]], "sentences": ["A dog barks."]},
}


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    predictions = tmp_path / "pred.json"
    references = tmp_path / "ref.json"
    predictions.write_text(json.dumps(PREDICTIONS))
    references.write_text(json.dumps(REFERENCES))
    return predictions, references


def argv(files: tuple[Path, Path], *more: str) -> list[str]:
    return [
        "eval",
        "explanations",
        "--predictions",
        str(files[0]),
        "--references",
        str(files[1]),
        "--embedder",
        "none",
        *more,
    ]


def test_prints_a_table_of_every_figure(files, capsys) -> None:
    assert main(argv(files)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "videos            2 scored of 2 referenced"
    assert lines[1] == "sentences         3 references, 3 paired with a prediction"
    assert lines[2] == "BLEU-1            1.0000"
    assert lines[6] == "METEOR            n/a"
    assert lines[7] == "ROUGE-L           1.0000"
    # 'a' is in every reference (idf 0); every other 1- to 3-gram matches, no 4-grams: 7.5.
    assert lines[8] == "CIDEr-D           7.5000"
    assert lines[9] == "embedding cosine  n/a"
    assert lines[10] == "temporal IoU      0.8333"  # (0.5 + 1 + 1) / 3
    assert lines[11:17] == [
        "recall @0.3       1.0000",
        "recall @0.5       1.0000",
        "recall @0.7       0.6667",
        "precision @0.3    1.0000",
        "precision @0.5    1.0000",
        "precision @0.7    0.6667",
    ]
    assert lines[17].startswith("wall time ")


def test_json_and_per_video_file(files, tmp_path: Path, capsys) -> None:
    out = tmp_path / "scores.json"
    assert main(argv(files, "--json", "--out", str(out))) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["R@0.7"] == pytest.approx(2 / 3)
    assert figures["ROUGE-L"] == 1.0
    written = json.loads(out.read_text())
    assert written["figures"]["items"] == 3
    assert [v["video"] for v in written["videos"]] == ["v1", "v2"]
    assert written["videos"][0]["tIoU"] == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("which", "content", "message"),
    [
        ("predictions", None, "vlad: --predictions file {path} does not exist; give a JSON file."),
        (
            "references",
            [],
            "vlad: --references {path} is not in the UCA layout; give a JSON "
            'object {{video: {{"timestamps": [[start, end], ...], "sentences": [text, ...]}}}}.',
        ),
        (
            "predictions",
            {"other": {"sentences": ["x"]}},
            "vlad: --predictions shares no video id "
            "with the references; predict the videos they name.",
        ),
    ],
)
def test_bad_inputs_say_one_sentence_and_exit_2(
    files, tmp_path, capsys, which, content, message
) -> None:
    path = tmp_path / f"bad-{which}.json"
    if content is not None:
        path.write_text(json.dumps(content))
    chosen = (path, files[1]) if which == "predictions" else (files[0], path)
    assert main(argv(chosen)) == 2
    assert capsys.readouterr().err.strip() == message.format(path=path)
