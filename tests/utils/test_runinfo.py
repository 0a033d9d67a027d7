"""Tests of vlad.utils.runinfo: run.yaml holds settings, command, versions and times."""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from vlad.utils import runinfo
from vlad.utils.runinfo import (
    RUN_FILE,
    is_run_record,
    package_versions,
    plain,
    utc_now,
    write_run_info,
)

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_utc_now_is_iso_with_seconds():
    assert ISO.match(utc_now())


def test_package_versions_from_metadata():
    versions = package_versions()
    assert set(versions) == {"vlad", "torch", "open_clip", "python"}
    assert versions["python"] == platform.python_version()
    assert versions["torch"] == metadata.version("torch")
    assert versions["open_clip"] == metadata.version("open_clip_torch")
    assert versions["vlad"]


def test_package_versions_missing_library(monkeypatch):
    real = metadata.version

    def version(name: str) -> str:
        if name == "torch":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(runinfo.metadata, "version", version)
    assert package_versions()["torch"] is None


def test_reading_versions_does_not_import_torch():
    code = (
        "import sys; from vlad.utils.runinfo import package_versions; package_versions(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@dataclass(frozen=True)
class _Config:
    name: str
    scales: tuple[int, ...]


def test_plain_turns_settings_into_yaml_data():
    value = {
        "out": Path("a/b"),
        "define": ("x", "y"),
        "config": _Config("n", (2, 3)),
        "none": None,
        "flag": True,
        "number": 2.5,
        "other": {1, 2} - {1, 2},
        "object": object,
    }
    assert plain(value) == {
        "out": "a/b",
        "define": ["x", "y"],
        "config": {"name": "n", "scales": [2, 3]},
        "none": None,
        "flag": True,
        "number": 2.5,
        "other": [],
        "object": str(object),
    }


def test_write_run_info_content(tmp_path):
    folder = tmp_path / "maps"
    path = write_run_info(
        folder,
        settings={"fps": 2.0, "map_out": folder, "define": ["a fight"]},
        command=["vlad", "detect", "v.mp4", "--fps", "2"],
        started="2026-01-31T12:00:00Z",
        ended="2026-01-31T12:00:05Z",
    )
    assert path == folder / RUN_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert list(data) == ["command", "settings", "versions", "started", "ended"]
    assert data["command"] == ["vlad", "detect", "v.mp4", "--fps", "2"]
    assert data["settings"] == {"fps": 2.0, "map_out": str(folder), "define": ["a fight"]}
    assert data["versions"] == package_versions()
    assert (data["started"], data["ended"]) == ("2026-01-31T12:00:00Z", "2026-01-31T12:00:05Z")
    assert [p.name for p in folder.iterdir()] == [RUN_FILE]


def test_write_run_info_default_end_and_replace(tmp_path):
    write_run_info(tmp_path, settings={"a": 1}, command=["vlad"], started="2026-01-01T00:00:00Z")
    write_run_info(tmp_path, settings={"a": 2}, command=["vlad"], started="2026-01-01T00:00:00Z")
    data = yaml.safe_load((tmp_path / RUN_FILE).read_text(encoding="utf-8"))
    assert data["settings"] == {"a": 2}
    assert ISO.match(data["ended"])
    assert [p.name for p in tmp_path.iterdir()] == [RUN_FILE]


def test_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    write_run_info(tmp_path, settings={"a": 1}, command=["vlad"], started="2026-01-01T00:00:00Z")

    def stop(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("vlad.utils.io.os.replace", stop)
    with pytest.raises(KeyboardInterrupt):
        write_run_info(
            tmp_path, settings={"a": 2}, command=["vlad"], started="2026-01-01T00:00:00Z"
        )
    data = yaml.safe_load((tmp_path / RUN_FILE).read_text(encoding="utf-8"))
    assert data["settings"] == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == [RUN_FILE]


def test_a_file_vlad_did_not_write_is_left_alone(tmp_path):
    mine = tmp_path / RUN_FILE
    mine.write_text("- a list, not a run record\n", encoding="utf-8")
    assert not is_run_record(mine)
    started = "2026-01-01T00:00:00Z"
    assert write_run_info(tmp_path, settings={}, command=["vlad"], started=started) is None
    assert mine.read_text(encoding="utf-8") == "- a list, not a run record\n"


def test_a_record_path_is_written_as_named_and_recognised(tmp_path):
    record = tmp_path / "timeline.run.yaml"
    started = "2026-01-01T00:00:00Z"
    path = write_run_info(record, settings={"fps": 2.0}, command=["vlad"], started=started)
    assert path == record and is_run_record(record)
    assert not is_run_record(tmp_path / "missing.yaml")
