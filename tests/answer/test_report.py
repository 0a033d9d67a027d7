"""The batch report: HTML and Markdown built from hand-made result records and real PNGs."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from vlad.answer.report import report_order, timeline_svg, write_report
from vlad.errors import ConfigError

EVIL = '<script>alert("x")</script>&"\''


def png(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (32, 24)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def video_record(
    out: Path, record_id: str, score: float, *, definition: str = "a fight", n: int = 41
) -> dict[str, Any]:
    times = [i * 0.5 for i in range(n)]  # 0..20 s
    fused = [min(1.0, score * float(np.exp(-((t - 10.0) ** 2) / 8.0))) for t in times]
    keyframe = f"results/{record_id}/keyframe-1.png"
    overlay = f"results/{record_id}/overlay-1.png"
    png(out / keyframe, (10, 200, 10))
    png(out / overlay, (200, 10, 10))
    anomalous = score >= 0.5
    evidence = (
        [
            {
                "id": "E1",
                "start_s": 8.0,
                "end_s": 12.5,
                "peak_score": score,
                "definition": definition,
                "peak_time_s": 10.0,
                "items": [{"kind": "definition", "text": definition, "score": score}],
            }
        ]
        if anomalous
        else []
    )
    return {
        "id": record_id,
        "input": f"videos/{record_id}.mp4",
        "kind": "video",
        "status": "ok",
        "verdict": "anomalous" if anomalous else "normal",
        "label": "anomalous" if anomalous else "normal",
        "score": score,
        "threshold": 0.5,
        "low_threshold": 0.4,
        "duration_s": 20.0,
        "definitions": [definition],
        "scene": None,
        "intervals": [
            {k: e[k] for k in ("start_s", "end_s", "peak_score", "definition")} for e in evidence
        ],
        "evidence": evidence,
        "keyframes": [],
        "text": f"[E1] {definition} at 0:08." if anomalous else "Nothing anomalous.",
        "text_source": "template",
        "settings_hash": "abc",
        "seconds": 1.25,
        "timeline": {"times": times, "fused": fused, "tracks": {definition: fused}},
        "artifacts": (
            [
                {"kind": "keyframe", "path": keyframe, "time_s": 10.0, "evidence_id": "E1"},
                {"kind": "overlay", "path": overlay, "time_s": 10.0, "evidence_id": "E1"},
            ]
            if anomalous
            else []
        ),
    }


def image_record(out: Path, record_id: str, score: float) -> dict[str, Any]:
    overlay = f"results/{record_id}/overlay-1.png"
    png(out / overlay, (0, 0, 255))
    return {
        "id": record_id,
        "input": f"plates/{record_id}.png",
        "kind": "image",
        "status": "ok",
        "verdict": "anomalous" if score >= 0.5 else "normal",
        "score": score,
        "threshold": 0.5,
        "low_threshold": 0.5,
        "duration_s": 0.0,
        "definitions": ["a scratch"],
        "evidence": [
            {
                "id": "E1",
                "start_s": 0.0,
                "end_s": 0.0,
                "peak_score": score,
                "items": [{"kind": "image", "text": "WinCLIP score", "score": score}],
            }
        ],
        "text": "A scratch.",
        "artifacts": [{"kind": "overlay", "path": overlay, "time_s": 0.0, "evidence_id": "E1"}],
        "seconds": 0.2,
    }


def failed_record(record_id: str, error: str) -> dict[str, Any]:
    return {
        "id": record_id,
        "input": f"videos/{record_id}.mp4",
        "status": "failed",
        "error": error,
        "settings_hash": "abc",
        "seconds": 0.01,
    }


class Tags(HTMLParser):
    """Every start tag with its attributes (and the text, to find what is visible)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    return tags


@pytest.fixture
def batch(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    out = tmp_path / "run"
    records = [
        video_record(out, "low", 0.2),
        failed_record("broken", "The video 'videos/broken.mp4' cannot be decoded; re-encode it."),
        video_record(out, "high", 0.9),
        image_record(out, "plate", 0.7),
        video_record(out, "mid", 0.55),
    ]
    return out, records


def summary_ids(page: str) -> list[str]:
    rows = re.findall(r'<tr data-order="\d+" [^>]*data-target="(input-\d+)"', page)
    names = re.findall(r'<a class="open" href="#input-\d+">([^<]*)</a>', page)
    assert len(rows) == len(names)
    return names


def test_the_table_lists_most_anomalous_first_and_failed_last(batch) -> None:
    out, records = batch
    [path] = write_report(out, records)
    assert path == out / "report.html"
    page = path.read_text(encoding="utf-8")
    assert summary_ids(page) == ["high.mp4", "plate.png", "mid.mp4", "low.mp4", "broken.mp4"]
    assert [r["id"] for r in report_order(records)] == ["high", "plate", "mid", "low", "broken"]
    assert "5 inputs: 3 anomalous, 1 normal, 1 failed." in page
    rows = dict(re.findall(r'data-score="([^"]*)" data-verdict="([^"]*)"', page))
    assert rows == {
        "0.900": "anomalous",
        "0.700": "anomalous",
        "0.550": "anomalous",
        "0.200": "normal",
        "": "failed",
    }


def test_equal_scores_keep_the_records_order(tmp_path: Path) -> None:
    records = [video_record(tmp_path, name, 0.6) for name in ("b", "a", "c")]
    assert [r["id"] for r in report_order(records)] == ["b", "a", "c"]


def test_a_video_has_its_timeline_and_pictures_an_image_has_no_timeline(batch) -> None:
    out, records = batch
    page = write_report(out, records)[0].read_text(encoding="utf-8")
    details = dict(
        re.findall(r'<details class="input" id="(input-\d+)"(.*?)</details>', page, re.S)
    )
    high, plate, low = details["input-1"], details["input-2"], details["input-4"]
    assert high.count("<svg") == 1 and "<polyline" in high
    assert 'class="event"' in high and ">E1 0:08–0:13</title>" in high
    assert 'class="threshold"' in high and "threshold 0.50" in high
    # the time axis in m:ss, every 2 s over 20 s
    assert re.findall(r'text-anchor="middle">([^<]+)</text>', high) == [
        f"0:{s:02d}" for s in range(0, 21, 2)
    ]
    assert "E1 keyframe at 0:10" in high and "E1 heat map at 0:10" in high
    assert "[E1] a fight at 0:08." in high
    assert "<svg" not in plate and "E1 heat map" in plate and "at 0:" not in plate
    assert "<svg" in low and 'class="event"' not in low and "<img" not in low


def test_small_pictures_are_embedded_big_ones_linked(batch) -> None:
    out, records = batch
    page = write_report(out, records)[0].read_text(encoding="utf-8")
    sources = [a["src"] for tag, a in parse(page).tags if tag == "img"]
    assert len(sources) == 5 and all(s.startswith("data:image/png;base64,") for s in sources)
    pixels = base64.b64decode(sources[0].split(",", 1)[1])
    assert pixels == (out / "results/high/keyframe-1.png").read_bytes()

    page = write_report(out, records, embed_limit_bytes=10)[0].read_text(encoding="utf-8")
    sources = [a["src"] for tag, a in parse(page).tags if tag == "img"]
    assert sources[:2] == ["results/high/keyframe-1.png", "results/high/overlay-1.png"]
    assert all((out / s).is_file() for s in sources)

    # the budget: only the first picture fits
    size = (out / "results/high/keyframe-1.png").stat().st_size
    page = write_report(out, records, embed_budget_bytes=size)[0].read_text(encoding="utf-8")
    sources = [a["src"] for tag, a in parse(page).tags if tag == "img"]
    assert sources[0].startswith("data:") and not any(s.startswith("data:") for s in sources[1:])


def test_a_missing_picture_or_one_outside_the_folder_is_named_not_read(batch, tmp_path) -> None:
    out, records = batch
    secret = tmp_path / "secret.png"
    png(secret, (1, 2, 3))
    records[2]["artifacts"][0]["path"] = "../secret.png"
    records[2]["artifacts"][1]["path"] = "results/high/gone.png"
    page = write_report(out, records)[0].read_text(encoding="utf-8")
    assert "missing: ../secret.png" in page and "missing: results/high/gone.png" in page
    assert base64.b64encode(secret.read_bytes()).decode() not in page


def test_failed_inputs_are_listed_with_their_error(batch) -> None:
    out, records = batch
    page = write_report(out, records)[0].read_text(encoding="utf-8")
    failed = re.search(r'<ul id="failed">(.*?)</ul>', page, re.S)
    assert failed is not None
    assert failed.group(1) == (
        '<li><b>broken.mp4</b> (videos/broken.mp4): <span class="error">'
        "The video &#x27;videos/broken.mp4&#x27; cannot be decoded; re-encode it.</span></li>"
    )
    assert 'data-verdict="failed"' in page


def test_all_text_is_escaped(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    record = video_record(out, "evil", 0.9, definition=EVIL)
    record["input"] = f"videos/{EVIL}.mp4"
    record["notes"] = [EVIL]
    record["text"] = EVIL
    failed = failed_record("bad", EVIL)
    failed["input"] = f"{EVIL}.mp4"
    page = write_report(out, [record, failed])[0].read_text(encoding="utf-8")
    tags = parse(page)
    assert len(tags.scripts) == 1 and "alert" not in tags.scripts[0]
    assert [t for t, _ in tags.tags].count("script") == 1
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&quot;&#x27;" in page
    assert '<script>alert("x")' not in page
    names = [
        a.get("href") for t, a in tags.tags if t == "a" and "input-link" in (a.get("class") or "")
    ]
    quoted = "%3Cscript%3Ealert%28%22x%22%29%3C/script%3E%26%22%27.mp4"
    assert names == [f"../videos/{quoted}", f"../{quoted}"]


def test_nothing_is_fetched_from_the_network(batch) -> None:
    out, records = batch
    records[0]["input"] = "https://example.com/cam.mp4"
    records[0]["artifacts"] = [{"kind": "overlay", "path": "https://example.com/x.png"}]
    page = write_report(out, records, embed_limit_bytes=10)[0].read_text(encoding="utf-8")
    for tag, attrs in parse(page).tags:
        for name in ("src", "href", "xlink:href", "action", "data"):
            value = attrs.get(name) or ""
            assert not re.match(r"\s*(https?:)?//", value, re.I), (tag, name, value)
    assert "@import" not in page and "url(" not in page
    assert "https://example.com/cam.mp4" in page  # shown as text, not linked


def test_inputs_are_linked_relatively_or_by_their_absolute_file_uri(
    batch, monkeypatch, tmp_path
) -> None:
    out, records = batch
    monkeypatch.chdir(tmp_path)
    records[2]["input"] = str(tmp_path / "abs dir" / "high.mp4")
    page = write_report(out, records)[0].read_text(encoding="utf-8")
    links = [a["href"] for t, a in parse(page).tags if t == "a" and a.get("class") == "input-link"]
    assert links[0] == (tmp_path / "abs dir" / "high.mp4").as_uri()
    assert links[0].startswith("file:///") and links[0].endswith("/abs%20dir/high.mp4")
    assert links[1] == "../plates/plate.png"  # relative input: from the working folder
    assert (out / links[1]).resolve() == tmp_path / "plates" / "plate.png"


def test_markdown_has_a_table_and_sections_with_relative_images(batch) -> None:
    out, records = batch
    written = write_report(out, records, formats=("html", "md"))
    assert written == [out / "report.html", out / "report.md"]
    text = (out / "report.md").read_text(encoding="utf-8")
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert table == [
        "| # | Input | Verdict | Score | Events | Length |",
        "| 1 | high.mp4 | anomalous | 0.900 | 1 | 0:20 |",
        "| 2 | plate.png | anomalous | 0.700 | 1 | image |",
        "| 3 | mid.mp4 | anomalous | 0.550 | 1 | 0:20 |",
        "| 4 | low.mp4 | normal | 0.200 | 0 | 0:20 |",
        "| 5 | broken.mp4 | failed |  |  |  |",
    ]
    assert "## 1. high.mp4" in text and "## 5." not in text
    assert '- E1 0:08–0:13, peak 0.900: definition "a fight" scored 0.90' in text
    assert "![E1 keyframe at 0:10](<results/high/keyframe-1.png>)" in text
    assert (
        "- videos/broken.mp4: The video 'videos/broken.mp4' cannot be decoded; re-encode it."
        in text
    )
    images = re.findall(r"\]\(<([^>]+)>\)", text)
    assert images and all(not i.startswith(("http", "/")) for i in images)


def test_markdown_escapes_table_breakers_and_html(tmp_path: Path) -> None:
    out = tmp_path / "run"
    record = video_record(out, "pipe", 0.9, definition="a | b")
    record["input"] = "videos/x|<b>y.mp4"
    record["text"] = "line one\nline two"
    [path] = write_report(out, [record], formats=("md",))
    text = path.read_text(encoding="utf-8")
    assert "| 1 | x\\|&lt;b&gt;y.mp4 | anomalous |" in text
    assert "<b>" not in text
    assert "line one line two" in text


def test_writes_are_atomic_and_leave_no_temporary_files(batch) -> None:
    out, records = batch
    write_report(out, records, formats=("md", "html"))
    write_report(out, records, formats=("md", "html"))
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.md", "results"]


@pytest.mark.parametrize("formats", [("pdf",), (), ("html", "docx")])
def test_an_unknown_format_is_refused_in_one_sentence(tmp_path: Path, formats) -> None:
    with pytest.raises(ConfigError) as caught:
        write_report(tmp_path, [], formats=formats)
    assert caught.value.param == "formats"
    assert str(caught.value).startswith("formats must be among html, md, got ")
    assert str(caught.value).endswith("; choose html and/or md.")
    assert not (tmp_path / "report.html").exists()


def test_an_empty_batch_still_gives_a_page(tmp_path: Path) -> None:
    [path] = write_report(tmp_path, [])
    page = path.read_text(encoding="utf-8")
    assert "0 inputs: 0 anomalous, 0 normal, 0 failed." in page and "<tbody></tbody>" in page


def test_a_broken_timeline_is_named_and_the_rest_still_shown(batch) -> None:
    out, records = batch
    records[2]["timeline"]["fused"] = records[2]["timeline"]["fused"][:-1]
    page = write_report(out, records)[0].read_text(encoding="utf-8")
    assert (
        "The timeline could not be drawn: track &#x27;fused score&#x27; has 40 values for 41 times."
        in page
    )
    assert "E1 keyframe at 0:10" in page


def test_timeline_svg_breaks_lines_at_missing_values_and_clamps() -> None:
    svg = timeline_svg(
        {"times": [0, 1, 2, 3], "fused": [0.1, None, 2.0, -1.0], "tracks": {}}, threshold=0.5
    )
    lines = re.findall(r'<polyline class="fused"[^>]*points="([^"]*)"', svg)
    assert len(lines) == 2 and len(lines[0].split()) == 1 and len(lines[1].split()) == 2
    ys = [float(p.split(",")[1]) for p in lines[1].split()]
    assert ys == [12.0, 190.0]  # 1.0 at the top, 0.0 at the bottom of the plot
    with pytest.raises(ValueError, match="no times"):
        timeline_svg({"times": [], "fused": []})
