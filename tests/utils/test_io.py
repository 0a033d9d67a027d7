"""Tests of vlad.utils.io: atomic files and folders, and what an interrupted write leaves."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from vlad.utils.io import atomic_folder, atomic_open, atomic_write_bytes, atomic_write_text


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ----------------------------------------------------------------------------- files


def test_text_and_bytes_are_written_and_replace_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "rules.yaml"
    assert atomic_write_text(target, "a: 1\n") == target  # the parent folder is made
    assert target.read_text(encoding="utf-8") == "a: 1\n"
    atomic_write_text(target, "ümlaut\n")
    assert target.read_bytes() == "ümlaut\n".encode()
    assert atomic_write_bytes(target, b"\x00\x01") == target
    assert target.read_bytes() == b"\x00\x01"
    assert names(target.parent) == ["rules.yaml"]  # no temporary file left


def test_the_file_gets_the_mode_a_plain_write_gives(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = atomic_write_text(tmp_path / "atomic.txt", "x")
    assert stat.S_IMODE(atomic.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_streaming_writer_appears_only_when_the_block_ends(tmp_path: Path) -> None:
    target = tmp_path / "frames.jsonl"
    target.write_text("old\n")
    with atomic_open(target) as stream:
        stream.write("line 1\n")
        stream.flush()
        assert target.read_text() == "old\n"  # readers still see the old file
        [temporary] = [p for p in tmp_path.iterdir() if p != target]
        assert temporary.name.startswith(".frames.jsonl.") and temporary.suffix == ".tmp"
        stream.write("line 2\n")
    assert target.read_text() == "line 1\nline 2\n"
    assert names(tmp_path) == ["frames.jsonl"]


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError, ValueError])
def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, error: type[BaseException]
) -> None:
    target = tmp_path / "frames.jsonl"
    target.write_text("old\n")
    with pytest.raises(error), atomic_open(target) as stream:
        stream.write("half of it")
        raise error("stopped")
    assert target.read_text() == "old\n"
    assert names(tmp_path) == ["frames.jsonl"]


def test_an_interrupted_first_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), atomic_open(tmp_path / "new.txt", "wb") as stream:
        stream.write(b"abc")
        raise KeyboardInterrupt
    assert names(tmp_path) == []


def test_a_failed_rename_removes_the_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()  # a folder cannot be replaced by a file
    with pytest.raises(OSError):
        atomic_write_text(tmp_path / "taken", "x")
    assert names(tmp_path) == ["taken"]
    assert names(tmp_path / "taken") == []


def test_bad_mode_is_refused(tmp_path: Path) -> None:
    bad = atomic_open(tmp_path / "x", "a")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode 'w' or 'wb', not 'a'"), bad:
        pass
    assert names(tmp_path) == []


# ----------------------------------------------------------------------------- folders


def test_folder_appears_complete_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "parent" / "memory"
    with atomic_folder(target) as partial:
        assert partial.parent == target.parent and partial.name.startswith(".memory.")
        assert partial.name.endswith(".partial") and not target.exists()
        (partial / "manifest.json").write_text("{}")
    assert names(target) == ["manifest.json"]
    assert names(target.parent) == ["memory"]


def test_an_interrupted_folder_leaves_the_old_one_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "memory"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_folder(target, overwrite=True) as partial:
        (partial / "new.txt").write_text("new")
        raise KeyboardInterrupt
    assert names(tmp_path) == ["memory"]
    assert names(target) == ["old.txt"]


def test_overwrite_replaces_the_old_folder_and_removes_it(tmp_path: Path) -> None:
    target = tmp_path / "memory"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_folder(target, overwrite=True) as partial:
        (partial / "new.txt").write_text("new")
    assert names(tmp_path) == ["memory"]
    assert names(target) == ["new.txt"]


def test_without_overwrite_a_full_folder_is_kept_and_the_new_one_removed(tmp_path: Path) -> None:
    target = tmp_path / "memory"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(OSError), atomic_folder(target) as partial:
        (partial / "new.txt").write_text("new")
    assert names(tmp_path) == ["memory"]
    assert names(target) == ["old.txt"]


def test_a_failed_swap_puts_the_old_folder_back(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "memory"
    target.mkdir()
    (target / "old.txt").write_text("old")
    real_rename = Path.rename

    def rename(self: Path, destination: os.PathLike[str] | str) -> Path:
        if self.name.endswith(".partial"):
            raise OSError("disk gone")
        return real_rename(self, destination)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="disk gone"), atomic_folder(target, overwrite=True) as p:
        (p / "new.txt").write_text("new")
    monkeypatch.undo()
    assert names(tmp_path) == ["memory"]
    assert names(target) == ["old.txt"]


def test_overwrite_with_owned_names_removes_only_those(tmp_path: Path) -> None:
    target = tmp_path / "memory"
    target.mkdir()
    (target / "manifest.json").write_text("old")
    (target / "run.yaml").write_text("old")
    with atomic_folder(target, overwrite=True, owned={"manifest.json", "run.yaml"}) as partial:
        (partial / "manifest.json").write_text("new")
    assert names(tmp_path) == ["memory"]
    assert names(target) == ["manifest.json"]
    assert (target / "manifest.json").read_text() == "new"


def test_overwrite_refuses_a_folder_holding_files_the_writer_does_not_own(tmp_path: Path) -> None:
    target = tmp_path / "memory"
    target.mkdir()
    (target / "manifest.json").write_text("old")
    (target / "keep.txt").write_text("mine")
    with (
        pytest.raises(FileExistsError, match=r"keep\.txt"),
        atomic_folder(target, overwrite=True, owned={"manifest.json"}) as partial,
    ):
        (partial / "manifest.json").write_text("new")
    assert names(tmp_path) == ["memory"]  # the new folder is removed, the old one kept whole
    assert names(target) == ["keep.txt", "manifest.json"]
    assert (target / "manifest.json").read_text() == "old"
