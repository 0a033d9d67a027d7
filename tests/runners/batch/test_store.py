"""The batch folder: one atomic record per input, resumable, index rebuilt when behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vlad.errors import ConfigError
from vlad.runners.batch.store import (
    INDEX_FIELDS,
    MARKER,
    ResultStore,
    check_out_dir,
    index_line,
    settings_hash,
)


def _record(input_id: str, *, status: str = "ok", digest: str = "h1", score: float = 0.4) -> dict:
    if status != "ok":
        return {
            "id": input_id,
            "input": f"{input_id}.mp4",
            "status": "failed",
            "error": f"Cannot read video '{input_id}.mp4'; check the file.",
            "settings_hash": digest,
            "seconds": 0.0,
        }
    return {
        "id": input_id,
        "input": f"{input_id}.mp4",
        "status": "ok",
        "verdict": "anomalous",
        "score": score,
        "intervals": [{"start_s": 1.0, "end_s": 2.5, "definition": "fire"}],
        "text": "Anomalous: fire at 0:01.",
        "settings_hash": digest,
        "seconds": 1.5,
    }


def test_settings_hash_is_order_free_and_sensitive_to_values():
    assert settings_hash({"a": 1, "b": [1, 2]}) == settings_hash({"b": [1, 2], "a": 1})
    assert settings_hash({"a": 1}) != settings_hash({"a": 2})
    assert len(settings_hash({})) == 16


def test_write_has_state_and_records(tmp_path):
    store = ResultStore(tmp_path / "run").open()
    assert (tmp_path / "run" / MARKER).is_file()
    store.write(_record("a"))
    store.write(_record("b", status="failed"))
    assert store.state("a", "h1") == "done"
    assert store.state("b", "h1") == "failed"
    assert store.state("a", "h2") == "changed"
    assert store.state("c", "h1") == "missing"
    assert store.has("a", "h1") and store.has("b", "h1") and not store.has("a", "h2")
    assert [r["id"] for r in store.records()] == ["a", "b"]
    lines = [json.loads(x) for x in store.index_path.read_text().splitlines()]
    assert [tuple(line) for line in lines] == [INDEX_FIELDS, INDEX_FIELDS]
    assert lines[0]["intervals"] == [[1.0, 2.5]]
    errors = [json.loads(x) for x in store.errors_path.read_text().splitlines()]
    assert errors == [
        {"id": "b", "input": "b.mp4", "error": _record("b", status="failed")["error"]}
    ]
    assert store.summary() == {"ok": 1, "failed": 1}


def test_half_written_and_foreign_files_are_not_trusted(tmp_path):
    store = ResultStore(tmp_path / "run").open()
    store.write(_record("a"))
    (store.results_dir / "b.json").write_text('{"id": "b", "status": "o')  # cut by a kill
    (store.results_dir / "c.json").write_text(json.dumps({"id": "other", "status": "ok"}))
    (store.results_dir / "d.json").write_text(json.dumps({"id": "d"}))  # no status
    leftover = store.results_dir / ".e.json.1234abcd.tmp"
    leftover.write_text("{")
    partial = store.results_dir / ".e.x1.partial"
    partial.mkdir()
    assert store.load("b") is None and store.state("b", "h1") == "missing"
    assert [r["id"] for r in store.records()] == ["a"]
    ResultStore(tmp_path / "run").open()  # a rerun clears vlad's own leftovers only
    assert not leftover.exists() and not partial.exists()
    assert (store.results_dir / "b.json").exists()


def test_index_rebuilt_when_behind_duplicated_or_torn(tmp_path):
    store = ResultStore(tmp_path / "run").open()
    store.write(_record("a"))
    store.write(_record("b"))
    assert store.index_is_current()
    assert store.rebuild_index() is False
    store.index_path.write_text(store.index_path.read_text().splitlines()[0] + "\n")  # behind
    assert not store.index_is_current()
    assert store.rebuild_index() is True
    assert store.index_is_current()
    store.write(_record("a", score=0.9))  # a redone input: a second line for the same id
    assert not store.index_is_current()
    store.rebuild_index()
    lines = [json.loads(x) for x in store.index_path.read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == ["a", "b"]
    assert next(line for line in lines if line["id"] == "a")["score"] == 0.9
    with store.index_path.open("a") as handle:
        handle.write('{"id": "c", "inp')  # torn last line
    store.rebuild_index()
    assert store.index_is_current()


def test_unsafe_ids_are_refused(tmp_path):
    store = ResultStore(tmp_path / "run").open()
    for bad in ("", "../x", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="not a safe file name"):
            store.write(_record(bad))


def test_index_line_of_a_failure_shows_its_error():
    line = index_line(_record("x", status="failed"))
    assert line["verdict"] == "failed" and line["score"] is None
    assert line["text"].startswith("Cannot read video")


def test_out_dir_checks(tmp_path):
    check_out_dir(tmp_path / "new" / "run")  # not there yet: fine
    (tmp_path / "empty").mkdir()
    check_out_dir(tmp_path / "empty")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        check_out_dir(a_file)
    with pytest.raises(ConfigError, match="cannot be written"):
        check_out_dir(a_file / "run")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a vlad batch folder") as info:
        check_out_dir(foreign)
    assert info.value.param == "out"
    assert (foreign / "keep.txt").read_text() == "mine"
    ResultStore(tmp_path / "ours").open()
    check_out_dir(tmp_path / "ours")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_out_dir_not_writable(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="not writable"):
            check_out_dir(locked / "run")
    finally:
        locked.chmod(0o700)


def test_concurrent_appends_keep_whole_lines(tmp_path):
    import threading

    store = ResultStore(tmp_path / "run").open()

    def write(start: int) -> None:
        for n in range(start, start + 25):
            store.write(_record(f"i{n}"))

    threads = [threading.Thread(target=write, args=(k * 25,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = Path(store.index_path).read_text().splitlines()
    assert len(lines) == 100 and all(json.loads(x)["id"].startswith("i") for x in lines)
    assert store.index_is_current()
