"""Uploads the demo refuses are removed from Gradio's upload folder, and nothing else is."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlad.config.demo import DemoLimits
from vlad.demo.handlers import DemoHandlers
from vlad.errors import ConfigError, InputError


class RefusingPipeline:
    """A pipeline stand-in whose analysis fails with a chosen error."""

    def __init__(self, error: type[Exception] = InputError, names_file: bool = True) -> None:
        self.error = error
        self.names_file = names_file
        self.calls = 0

    def analyze_one(self, path: Path, **options: object) -> None:
        self.calls += 1
        where = f" '{path}'" if self.names_file else ""
        raise self.error(f"Cannot read image{where}: the file is truncated; re-export it.")


def upload(folder: Path, name: str, size: int) -> Path:
    """A file where Gradio puts uploads: UPLOADS/<hash>/NAME."""
    path = folder / "5f2c9e" / name
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x89PNG" + b"\0" * (size - 4))
    return path


@pytest.fixture()
def uploads(tmp_path: Path) -> Path:
    folder = tmp_path / "gradio"
    folder.mkdir()
    return folder


def test_an_upload_over_the_size_limit_is_removed(uploads: Path) -> None:
    path = upload(uploads, "big.png", 2000)
    handlers = DemoHandlers(
        RefusingPipeline(), DemoLimits(max_upload_mb=0.001), upload_folder=uploads
    )
    message, _ = handlers.analyze(str(path), "", "", None)
    assert message == (
        "The file 'big.png' is 0.0 MB, over this demo's limit of 0.001 MB; upload a shorter "
        "or smaller file."
    )
    assert list(uploads.iterdir()) == []  # the file and Gradio's folder for it are gone
    assert uploads.is_dir()


def test_an_unreadable_upload_is_removed(uploads: Path) -> None:
    path = upload(uploads, "photo.png", 100)
    pipeline = RefusingPipeline()
    message, _ = DemoHandlers(pipeline, upload_folder=uploads).analyze(str(path), "", "", None)
    assert message == "Cannot read image 'photo.png': the file is truncated; re-export it."
    assert pipeline.calls == 1 and list(uploads.iterdir()) == []


def test_an_upload_refused_for_a_setting_is_kept(uploads: Path) -> None:
    path = upload(uploads, "photo.png", 100)
    for pipeline in (RefusingPipeline(ConfigError), RefusingPipeline(names_file=False)):
        DemoHandlers(pipeline, upload_folder=uploads).analyze(str(path), "", "", None)
        assert path.is_file()  # the person may press Analyze again with other settings


def test_files_outside_the_upload_folder_are_never_removed(tmp_path: Path, uploads: Path) -> None:
    mine = tmp_path / "mine" / "big.png"
    mine.parent.mkdir()
    mine.write_bytes(b"\0" * 2000)
    link = uploads / "5f2c9e" / "big.png"
    link.parent.mkdir()
    link.symlink_to(mine)
    limits = DemoLimits(max_upload_mb=0.001)
    for path in (mine, link):
        message, _ = DemoHandlers(RefusingPipeline(), limits, upload_folder=uploads).analyze(
            str(path), "", "", None
        )
        assert "over this demo's limit" in message
    assert mine.read_bytes() == b"\0" * 2000 and link.is_symlink()


def test_the_default_upload_folder_is_gradios(monkeypatch, tmp_path: Path) -> None:
    from vlad.demo.handlers import gradio_upload_folder

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "uploads"))
    assert gradio_upload_folder() == tmp_path / "uploads"
