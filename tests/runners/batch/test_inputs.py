"""Batch inputs: files, folders, globs, frame folders and manifests -> stable unique ids."""

from __future__ import annotations

import json

import pytest

from vlad.errors import InputError
from vlad.runners.batch.inputs import expand_inputs, make_id


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "cams" / "north").mkdir(parents=True)
    (tmp_path / "cams" / "south").mkdir(parents=True)
    for name in ("cams/north/a.mp4", "cams/south/a.mp4", "cams/south/b.png", "cams/notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "cams" / ".hidden").mkdir()
    (tmp_path / "cams" / ".hidden" / "c.png").write_bytes(b"x")
    (tmp_path / "frames").mkdir()
    for n in range(3):
        (tmp_path / "frames" / f"{n:03d}.jpg").write_bytes(b"x")
    return tmp_path


def test_folder_walked_recursively_media_only_with_path_ids(tree):
    items = expand_inputs([str(tree / "cams")])
    assert [i.id for i in items] == ["north__a.mp4", "south__a.mp4", "south__b.png"]
    assert all(i.error is None for i in items)


def test_ids_are_stable_and_unique(tree):
    first = expand_inputs([str(tree / "cams" / "north" / "a.mp4"), str(tree / "cams" / "south")])
    again = expand_inputs([str(tree / "cams" / "north" / "a.mp4"), str(tree / "cams" / "south")])
    assert [i.id for i in first] == [i.id for i in again]
    assert len({i.id for i in first}) == len(first) == 3
    assert first[0].id == "a.mp4" and first[1].id.startswith("a.mp4-")


def test_same_file_twice_is_one_input(tree):
    path = str(tree / "cams" / "south" / "b.png")
    assert len(expand_inputs([path, path])) == 1


def test_glob_and_no_match(tree):
    items = expand_inputs([f"{tree}/cams/**/*.mp4", f"{tree}/nothing/*.mp4"])
    assert [i.path for i in items[:2]] == [
        str(tree / "cams" / "north" / "a.mp4"),
        str(tree / "cams" / "south" / "a.mp4"),
    ]
    assert len({i.id for i in items}) == 3
    assert items[2].error == f"Pattern '{tree}/nothing/*.mp4' matches no file; check the pattern."


def test_frame_folder_is_one_video_with_frames_fps(tree):
    [item] = expand_inputs([str(tree / "frames")], frames_fps=5.0)
    assert item.path == str(tree / "frames") and item.error is None


def test_missing_file_and_empty_folder_are_error_items(tree):
    (tree / "empty").mkdir()
    missing, empty = expand_inputs([str(tree / "gone.mp4"), str(tree / "empty")])
    assert missing.error == f"File '{tree / 'gone.mp4'}' does not exist; check the path."
    assert (
        empty.error == f"Folder '{tree / 'empty'}' holds no image or video files; check the path."
    )


def test_wrong_type_file_given_by_name_is_kept_for_the_pipeline(tree):
    [item] = expand_inputs([str(tree / "cams" / "notes.txt")])
    assert item.error is None  # the pipeline says why it cannot be read


def test_csv_manifest_with_row_options(tree):
    rules = tree / "rules.txt"
    rules.write_text("anomaly: fire\n")
    manifest = tree / "list.csv"
    manifest.write_text(
        "path,id,definitions,scene,rules,memory\n"
        "cams/north/a.mp4,cam-1,a fire|smoke,a parking lot,rules.txt,\n"
        "cams/south/b.png,,,,,\n"
        ",orphan,,,,\n"
        "cams/south/a.mp4,,,,missing-rules.txt,\n"
        "cams/south/a.mp4,,,,,no-memory\n"
    )
    one, two, orphan, bad_rules, bad_memory = expand_inputs([], manifest=manifest)
    assert one.id == "cam-1" and one.path == str(tree / "cams/north/a.mp4")
    assert one.definitions == ("a fire", "smoke") and one.scene == "a parking lot"
    assert one.rules == str(rules) and one.error is None
    assert two.id == "cams__south__b.png" and two.definitions is None
    assert orphan.id == "orphan"
    assert orphan.error == (
        "Manifest list.csv line 4 has no 'path'; add a path column (the input file) to every row."
    )
    assert bad_rules.error == (
        "The rules file 'missing-rules.txt' named in manifest list.csv line 5 does not exist; "
        "fix the path."
    )
    assert bad_memory.error == (
        "The memory folder 'no-memory' named in manifest list.csv line 6 does not exist; "
        "fix the path."
    )
    assert bad_rules.id != bad_memory.id


def test_csv_manifest_without_path_column(tree):
    manifest = tree / "list.csv"
    manifest.write_text("file,scene\ncams/south/b.png,x\ncams/north/a.mp4,y\n")
    items = expand_inputs([], manifest=manifest)
    assert len(items) == 2 and len({i.id for i in items}) == 2
    assert all("has no 'path'" in (i.error or "") for i in items)


def test_jsonl_manifest_bad_lines_and_duplicate_ids(tree):
    manifest = tree / "list.jsonl"
    rows = [
        {"path": str(tree / "cams/north/a.mp4"), "definitions": ["a fire"], "id": "x/1"},
        "not json",
        {"path": str(tree / "cams/south/a.mp4"), "id": "x/1"},
        [1, 2],
    ]
    manifest.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n\n"
    )
    first, not_json, duplicate, not_object = expand_inputs([], manifest=manifest)
    assert first.id == "x__1" and first.definitions == ("a fire",)
    assert not_json.error == "Manifest list.jsonl line 2 is not valid JSON; fix that line."
    assert duplicate.error == (
        "Manifest id 'x/1' is used by another row; give each row its own id."
    )
    assert duplicate.id != first.id
    assert not_object.error == "Manifest list.jsonl line 4 is not a JSON object; fix that line."


def test_unreadable_manifest_is_one_sentence(tree):
    with pytest.raises(InputError, match=r"Manifest '.*nope.csv' does not exist; check the path."):
        expand_inputs([], manifest=tree / "nope.csv")
    (tree / "list.xlsx").write_bytes(b"x")
    with pytest.raises(InputError, match=r"is not a \.csv or \.jsonl file"):
        expand_inputs([], manifest=tree / "list.xlsx")


def test_make_id_is_file_safe():
    assert make_id("../a b/c?.mp4") == "a_b__c_.mp4"
    long = make_id("x" * 400 + ".mp4")
    assert len(long) <= 150 and long.endswith(long[-6:])
