"""The one prompt reader: packaged names by kind, user files, kinds checked, shadowing said."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import vlad
from vlad.errors import ConfigError
from vlad.prompts import files
from vlad.prompts.files import load_prompt_text, packaged_prompt_names, read_prompt_yaml

REPO = Path(__file__).resolve().parents[2]


def test_every_packaged_prompt_declares_a_kind_and_loads_by_name() -> None:
    kinds = {}
    for name in packaged_prompt_names():
        text = (files.packaged_prompt_dir() / f"{name}.yaml").read_text(encoding="utf-8")
        kinds[name] = yaml.safe_load(text)["kind"]
    assert kinds == {
        "answer": "answer",
        "json-answer": "json",
        "perception": "perception",
        "recall": "recall",
        "rule-induction": "induction",
        "rule-judge": "judge",
        "video": "scene",
        "winclip": "winclip",
        "winclip-anomalib": "winclip",
    }
    assert packaged_prompt_names("WinCLIP") == ["winclip", "winclip-anomalib"]
    assert packaged_prompt_names("judge") == ["rule-judge"]
    data, source = read_prompt_yaml("rule-judge", "Judge")
    assert source == "rule-judge" and data["name"] == "rule-judge"


def test_user_files_and_their_errors(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("kind: judge\nsystem: s\nquestion: q\n")
    data, source = read_prompt_yaml(path, "Judge")
    assert data["question"] == "q" and source == str(path)
    with pytest.raises(ConfigError, match=r"^Recall prompt file .*mine\.yaml holds a judge prompt"):
        read_prompt_yaml(path, "Recall")
    with pytest.raises(
        ConfigError, match=r"^Judge prompt file .*mine\.yaml needs 'check' as text\.$"
    ):
        load_prompt_text(path, "Judge", ("system", "check"))
    with pytest.raises(ConfigError, match=r"^Judge prompt file .*none\.yaml does not exist; check"):
        read_prompt_yaml(tmp_path / "none.yaml", "Judge")
    with pytest.raises(
        ConfigError,
        match=r"^Unknown judge prompt 'nope'; use one of rule-judge or a YAML file path\.$",
    ):
        read_prompt_yaml("nope", "Judge")
    (tmp_path / "bad.yaml").write_text("a: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml is not valid YAML; fix it\.$"):
        read_prompt_yaml(tmp_path / "bad.yaml", "Judge")
    fields = load_prompt_text(path, "Judge", ("system", "question"))
    assert fields == {
        "system": "s",
        "question": "q",
        "name": "mine",
        "version": "1",
        "source": str(path),
    }


def test_a_shadowing_vlad_folder_is_named_in_one_sentence(monkeypatch, tmp_path: Path) -> None:
    class Missing:
        def is_dir(self) -> bool:
            return False

    monkeypatch.setattr(files.resources, "files", lambda _: Missing())
    monkeypatch.setattr(vlad, "__file__", None)
    monkeypatch.setattr(vlad, "__path__", [str(tmp_path / "vlad")])
    with pytest.raises(ConfigError) as info:
        read_prompt_yaml("perception", "Perception")
    assert str(info.value) == (
        f"The folder {tmp_path / 'vlad'} shadows the installed vlad package (Python imported it "
        "instead, and it holds no packaged prompts); run from another folder or rename it."
    )
    monkeypatch.setattr(vlad, "__file__", str(REPO / "vlad" / "__init__.py"))
    with pytest.raises(
        ConfigError, match=r"^The packaged prompts .* are missing .*; reinstall it\.$"
    ):
        packaged_prompt_names()


def test_prompts_still_load_from_a_folder_with_a_vlad_folder_in_it(tmp_path: Path) -> None:
    (tmp_path / "vlad").mkdir()  # what the clone's parent folder looks like
    code = (
        "import vlad; from vlad.scoring.prompts import load_prompt_set;"
        "print(vlad.__file__, load_prompt_set('winclip').name)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "winclip"
