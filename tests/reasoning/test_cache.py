"""Tests of the on-disk answer cache: keys, persistence, processes, images."""

from __future__ import annotations

import base64
import multiprocessing
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vlad.errors import ConfigError, InputError
from vlad.reasoning.cache import AnswerCache, answer_key, canonical, default_cache_path
from vlad.reasoning.llm import GenerationSettings

SETTINGS = GenerationSettings()


def ask(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def with_image(url: str) -> list[dict]:
    content = [
        {"type": "text", "text": "What is odd?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    return [{"role": "user", "content": content}]


def data_url(payload: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(payload).decode()


def test_keys_are_stable_and_depend_on_every_part() -> None:
    key = answer_key("b", ask("hi"), SETTINGS)
    assert len(key) == 64 and int(key, 16) >= 0
    assert key == answer_key("b", [{"content": "hi", "role": "user"}], GenerationSettings())
    assert key != answer_key("other", ask("hi"), SETTINGS)
    assert key != answer_key("b", ask("hi!"), SETTINGS)
    assert key != answer_key("b", ask("hi"), GenerationSettings(seed=1))
    assert key != answer_key("b", ask("hi"), GenerationSettings(stop=("x",)))
    assert key != answer_key("b", ask("hi"), GenerationSettings(json_schema={"type": "object"}))
    assert answer_key("b", ask("\ud800 lone surrogate"), SETTINGS)  # still a key


def test_data_urls_are_hashed_by_content_not_kept() -> None:
    image = data_url(b"\x89PNG" + bytes(range(256)) * 200)
    shown = canonical(with_image(image))
    url_part = shown[0]["content"][1]["image_url"]["url"]
    assert set(url_part) == {"data_url_sha256"}
    assert image not in repr(shown)
    same = answer_key("b", with_image(str(image)), SETTINGS)
    assert same == answer_key("b", with_image(image), SETTINGS)
    assert same != answer_key("b", with_image(data_url(b"other")), SETTINGS)
    remote = canonical(with_image("https://example.org/a.png"))
    assert remote[0]["content"][1]["image_url"]["url"] == "https://example.org/a.png"


def test_local_files_pil_images_and_arrays_are_hashed_by_content(tmp_path: Path) -> None:
    path = tmp_path / "frame.png"
    path.write_bytes(b"one")
    first = answer_key("b", with_image(f"file://{path}"), SETTINGS)
    assert first == answer_key("b", with_image(str(path)), SETTINGS)
    path.write_bytes(b"two")
    assert first != answer_key("b", with_image(str(path)), SETTINGS)

    def pil_message(image: Image.Image) -> list[dict]:
        return [{"role": "user", "content": [{"type": "image", "image": image}]}]

    black = Image.new("RGB", (8, 8))
    assert answer_key("b", pil_message(black), SETTINGS) == answer_key(
        "b", pil_message(Image.new("RGB", (8, 8))), SETTINGS
    )
    assert answer_key("b", pil_message(black), SETTINGS) != answer_key(
        "b", pil_message(Image.new("RGB", (8, 8), "white")), SETTINGS
    )
    array = np.zeros((4, 4), dtype=np.uint8)
    shown = canonical({"image": array, "raw": b"abc", "video": tmp_path / "missing.mp4"})
    assert set(shown["image"]) == {"array_sha256"}
    assert set(shown["raw"]) == {"bytes_sha256"}
    assert shown["video"] == str(tmp_path / "missing.mp4")  # no file: the name is the key
    with pytest.raises(InputError, match="type object cannot enter the answer cache key"):
        canonical({"image": object()})


def test_get_put_and_persistence_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "answers.sqlite"
    with AnswerCache(path) as cache:
        assert cache.get_many(["a", "b"]) == {}
        cache.put_many({"a": "normal", "b": ""})
        cache.put_many([("c", "anomalous"), ("a", "normal again")])
        assert cache.get_many(["a", "b", "c", "d", "a"]) == {
            "a": "normal again",
            "b": "",
            "c": "anomalous",
        }
        assert len(cache) == 3 and "b" in cache and "d" not in cache
        assert cache.get("d") is None
    reopened = AnswerCache(path)
    assert reopened.get("c") == "anomalous"
    assert reopened.get_many([f"k{i}" for i in range(1200)] + ["a"]) == {"a": "normal again"}
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reopened.clear()
    assert len(reopened) == 0


def test_answers_survive_a_process_restart(tmp_path: Path) -> None:
    path = tmp_path / "answers.sqlite"
    AnswerCache(path).put_many({"key": "written by the parent"})
    script = (
        "import sys; from vlad.reasoning.cache import AnswerCache; "
        "c = AnswerCache(sys.argv[1]); print(c.get('key')); c.put_many({'child': 'yes'})"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "written by the parent", result.stderr
    assert AnswerCache(path).get("child") == "yes"


def _writer(path: str, worker: int, rounds: int, go: object) -> None:
    cache = AnswerCache(path, timeout_s=20)
    go.wait(10)  # type: ignore[attr-defined]
    for round_ in range(rounds):
        cache.put_many({f"w{worker}-{round_}-{i}": f"{worker}:{round_}:{i}" for i in range(10)})
        cache.put_many({f"shared-{i}": f"from {worker}" for i in range(5)})
        cache.get_many([f"w{1 - worker}-{round_}-{i}" for i in range(10)])


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "answers.sqlite")
    AnswerCache(path)  # the parent holds a connection across fork(): children reopen
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    go = context.Event()
    workers = [context.Process(target=_writer, args=(path, w, 30, go)) for w in (0, 1)]
    for process in workers:
        process.start()
    go.set()  # both write at the same moment
    for process in workers:
        process.join(timeout=60)
        assert process.exitcode == 0
    cache = AnswerCache(path)
    assert len(cache) == 2 * 30 * 10 + 5
    assert cache.get("w1-29-9") == "1:29:9"
    assert cache.get("shared-0") in ("from 0", "from 1")


def test_default_path_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLAD_CACHE_DIR", str(tmp_path / "vc"))
    assert default_cache_path() == tmp_path / "vc" / "llm" / "answers.sqlite"
    cache = AnswerCache()
    assert cache.path == tmp_path / "vc" / "llm" / "answers.sqlite" and cache.path.exists()
    monkeypatch.delenv("VLAD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "vlad" / "llm" / "answers.sqlite"


def test_unusable_files_are_one_sentence(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match=r"answer cache at .*junk.sqlite cannot be used"):
        AnswerCache(junk)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="VLAD_CACHE_DIR"):
        AnswerCache(blocker / "answers.sqlite")
    with pytest.raises(InputError, match="text keys and text answers"):
        AnswerCache(tmp_path / "ok.sqlite").put_many({"k": 3})  # type: ignore[dict-item]
