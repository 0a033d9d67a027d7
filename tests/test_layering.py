"""Imports inside ``vlad/`` go down the data flow only, and never in a circle.

The layers, lowest first (a module may import its own layer or any lower one)::

    errors, types < utils < config < prompts < metrics, data < media < encoders
    < scoring < reasoning < answer < pipeline < runners < demo < cli

Every import is read with :mod:`ast`, wherever it sits (``importlib.import_module("vlad...")``
with a literal name counts too):

- **Upward imports** fail wherever they are written: at module level, inside a function
  (a lazy import still couples the lower layer to the higher one) or under
  ``if TYPE_CHECKING:`` (an annotation naming a higher layer is the same coupling).
- **Cycles** fail when they run: module-level and function-level imports are both edges (a
  cycle that "works only because the imports sit inside functions" is still a cycle);
  imports under ``if TYPE_CHECKING:`` never run and are not edges.

``vlad/__init__.py`` is the lazy public façade and is exempt. Inside the package only
``__version__`` may be taken from it; any other name is imported from the module that
defines it. The checker is tested on small synthetic packages below, so that a violation
really fails.
"""

from __future__ import annotations

import ast
import itertools
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "vlad"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "types"),
    ("utils",),
    ("config",),
    ("prompts",),
    ("metrics", "data"),
    ("media",),
    ("encoders",),
    ("scoring",),
    ("reasoning",),
    ("answer",),
    ("pipeline",),
    ("runners",),
    ("demo",),
    ("cli",),
    ("__main__",),  # ``python -m vlad``, an entry point like the ``vlad`` command
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
FACADE_NAMES = frozenset({"__version__"})


@dataclass(frozen=True)
class Import:
    """One import statement's edge from a module to a module of the package."""

    importer: str
    target: str
    path: Path
    line: int
    in_function: bool
    type_checking: bool
    names: tuple[str, ...] = ()

    def where(self, root: Path) -> str:
        """``vlad/scoring/x.py:12``, relative to the package's parent folder."""
        try:
            shown = self.path.relative_to(root.parent)
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}"

    def describe(self, root: Path) -> str:
        """The import as a reader finds it: place, modules and how it is written."""
        kind = (
            " (under TYPE_CHECKING)"
            if self.type_checking
            else " (inside a function)"
            if self.in_function
            else ""
        )
        return f"{self.where(root)}: {self.importer} imports {self.target}{kind}"


def module_name(path: Path, root: Path) -> str:
    """The dotted name of a source file under ``root`` (the package folder)."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_type_checking(test: ast.expr) -> bool:
    """Whether an ``if`` test is ``TYPE_CHECKING`` or ``typing.TYPE_CHECKING``."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


class _Collector(ast.NodeVisitor):
    """Every import of one module, with where it sits (function, TYPE_CHECKING)."""

    def __init__(self, module: str, path: Path, is_package: bool, modules: set[str]) -> None:
        self.module = module
        self.path = path
        self.package = module if is_package else module.rpartition(".")[0]
        self.modules = modules
        self.depth_function = 0
        self.depth_type_checking = 0
        self.found: list[Import] = []

    def _add(self, target: str, node: ast.AST, names: tuple[str, ...] = ()) -> None:
        self.found.append(
            Import(
                importer=self.module,
                target=target,
                path=self.path,
                line=getattr(node, "lineno", 0),
                in_function=self.depth_function > 0,
                type_checking=self.depth_type_checking > 0,
                names=names,
            )
        )

    def _known(self, dotted: str) -> str | None:
        """The longest prefix of ``dotted`` that is a module of the package."""
        parts = dotted.split(".")
        while parts:
            name = ".".join(parts)
            if name in self.modules:
                return name
            parts.pop()
        return None

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self.depth_function += 1
        self.generic_visit(node)
        self.depth_function -= 1

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function
    visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        if not is_type_checking(node.test):
            self.generic_visit(node)
            return
        self.visit(node.test)
        self.depth_type_checking += 1
        for child in node.body:
            self.visit(child)
        self.depth_type_checking -= 1
        for child in node.orelse:  # the else branch of TYPE_CHECKING is what runs
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                target = self._known(alias.name)
                if target is not None:
                    self._add(target, node)

    def visit_Call(self, node: ast.Call) -> None:
        # importlib.import_module("vlad.x.y") with a literal name is an import too.
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if (
            name == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            dotted = node.args[0].value
            if dotted == PACKAGE or dotted.startswith(PACKAGE + "."):
                target = self._known(dotted)
                if target is not None:
                    self._add(target, node)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base_parts = self.package.split(".")
            if node.level > 1:
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
            base = ".".join(part for part in [*base_parts, node.module or ""] if part)
        else:
            base = node.module or ""
        if not (base == PACKAGE or base.startswith(PACKAGE + ".")):
            return
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            if submodule in self.modules:
                self._add(submodule, node)
            else:
                target = self._known(base)
                if target is not None:
                    self._add(target, node, (alias.name,))


def collect_imports(root: Path) -> list[Import]:
    """Every import of a package module by a package module, read from the sources.

    Args:
        root: The package folder (its name is the package's name).

    Returns:
        The imports, in file and line order.
    """
    files = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    modules = {module_name(p, root) for p in files}
    found: list[Import] = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        collector = _Collector(module_name(path, root), path, path.name == "__init__.py", modules)
        collector.visit(tree)
        found.extend(collector.found)
    return found


def layer(module: str) -> str | None:
    """The layer name of a module: its first component below the package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def layering_violations(imports: list[Import], root: Path) -> list[str]:
    """One line per import that goes up the layers or takes a name from the façade."""
    problems: list[str] = []
    package = root.name
    unknown: dict[str, Import] = {}
    for edge in imports:
        if edge.importer == package:
            continue  # the lazy public façade
        source, target = layer(edge.importer), layer(edge.target)
        for name in (source, target):
            if name is not None and name not in RANK and name not in unknown:
                unknown[name] = edge
        if edge.target == package:
            taken = [n for n in edge.names if n not in FACADE_NAMES]
            if taken:
                problems.append(
                    f"{edge.where(root)}: {edge.importer} takes {', '.join(taken)} from the "
                    f"façade '{package}'; import it from the module that defines it"
                )
            continue
        if source in RANK and target in RANK and RANK[target] > RANK[source]:
            problems.append(
                f"{edge.describe(root)}: layer '{source}' must not import the higher "
                f"layer '{target}'"
            )
    for name, edge in unknown.items():
        problems.append(
            f"{edge.where(root)}: '{package}.{name}' belongs to no layer; add it to LAYERS "
            "in tests/test_layering.py (and to the design notes)"
        )
    return problems


def import_cycles(imports: list[Import], root: Path) -> list[str]:
    """One description per import cycle among the modules (edges that run only).

    Strongly connected components are found with Tarjan's algorithm; each is shown as one
    concrete circle of imports with the file and line of every step.
    """
    package = root.name
    graph: dict[str, dict[str, Import]] = {}
    for edge in imports:
        if edge.type_checking or package in (edge.importer, edge.target):
            continue
        graph.setdefault(edge.importer, {}).setdefault(edge.target, edge)
        graph.setdefault(edge.target, {})

    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        # Recursive Tarjan: the graph has a few hundred modules at most.
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in graph[node]:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_describe_cycle(component, graph, root) for component in components]


def _describe_cycle(component: list[str], graph: dict[str, dict[str, Import]], root: Path) -> str:
    """A shortest circle through the component's first module, one import per line."""
    members = set(component)
    start = component[0]
    # Breadth-first search back to the start within the component.
    previous: dict[str, str] = {}
    frontier = [start]
    found = False
    while frontier and not found:
        following: list[str] = []
        for node in frontier:
            for nxt in sorted(graph[node]):
                if nxt not in members:
                    continue
                if nxt == start:
                    previous[start] = node
                    found = True
                    break
                if nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
            if found:
                break
        frontier = following
    path = [start]
    node = previous[start]
    while node != start:
        path.append(node)
        node = previous[node]
    path.append(start)
    path.reverse()
    steps = [graph[a][b].describe(root) for a, b in itertools.pairwise(path)]
    return "import cycle " + " -> ".join(path) + ":\n    " + "\n    ".join(steps)


# -- the real package ---------------------------------------------------------------------


def test_no_import_goes_up_the_layers() -> None:
    problems = layering_violations(collect_imports(ROOT), ROOT)
    assert not problems, "imports that go up the data flow:\n" + "\n".join(problems)


def test_no_import_cycle() -> None:
    cycles = import_cycles(collect_imports(ROOT), ROOT)
    assert not cycles, "\n".join(cycles)


def test_every_top_level_module_has_a_layer() -> None:
    names = {
        p.stem if p.is_file() else p.name
        for p in ROOT.iterdir()
        if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))
    }
    names.discard("__init__")
    assert names - set(RANK) == set(), "modules missing from LAYERS"


# -- the checker itself, on synthetic packages --------------------------------------------


def write_package(tmp_path: Path, files: dict[str, str]) -> Path:
    """A throwaway package named like the real one, from ``{relative path: source}``."""
    root = tmp_path / PACKAGE
    for relative, source in {"__init__.py": "", **files}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            init = root / parent / "__init__.py"
            if not init.exists():
                init.write_text("")
        path.write_text(textwrap.dedent(source))
    return root


def check(root: Path) -> tuple[list[str], list[str]]:
    imports = collect_imports(root)
    return layering_violations(imports, root), import_cycles(imports, root)


def test_a_downward_package_passes(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "errors.py": "",
            "types.py": "from vlad.errors import VladError\n",
            "scoring/a.py": "from vlad import __version__\nfrom vlad.types import X\n",
            "pipeline/p.py": "import vlad.scoring.a\nfrom vlad.scoring import a\n",
            "cli/main.py": "from vlad.pipeline.p import run\nfrom . import other\n",
            "cli/other.py": "from vlad.demo import app\n",
            "demo/app.py": "from ..pipeline import p\n",
        },
    )
    assert check(root) == ([], [])


def test_an_upward_import_at_module_level_fails_with_its_place(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {"scoring/a.py": "import os\n\nfrom vlad.pipeline.p import run\n", "pipeline/p.py": ""},
    )
    problems, cycles = check(root)
    assert problems == [
        "vlad/scoring/a.py:3: vlad.scoring.a imports vlad.pipeline.p: layer 'scoring' must "
        "not import the higher layer 'pipeline'"
    ]
    assert cycles == []


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("def f():\n    from vlad.cli import main\n", "(inside a function)"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from vlad.cli import main\n",
            "(under TYPE_CHECKING)",
        ),
        (
            "import typing\nif typing.TYPE_CHECKING:\n    import vlad.cli.main\n",
            "(under TYPE_CHECKING)",
        ),
        ("class A:\n    def m(self):\n        from ..cli import main\n", "(inside a function)"),
    ],
)
def test_upward_imports_fail_wherever_they_are_written(
    tmp_path: Path, source: str, kind: str
) -> None:
    root = write_package(tmp_path, {"reasoning/r.py": source, "cli/main.py": ""})
    problems, _ = check(root)
    assert len(problems) == 1
    assert problems[0].startswith("vlad/reasoning/r.py:")
    assert kind in problems[0]
    assert "layer 'reasoning' must not import the higher layer 'cli'" in problems[0]


def test_demo_must_not_import_the_cli(tmp_path: Path) -> None:
    root = write_package(
        tmp_path, {"demo/app.py": "from vlad.cli.main import main\n", "cli/main.py": ""}
    )
    problems, _ = check(root)
    assert problems == [
        "vlad/demo/app.py:1: vlad.demo.app imports vlad.cli.main: layer 'demo' must not "
        "import the higher layer 'cli'"
    ]


def test_a_module_level_cycle_in_one_layer_fails(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "scoring/a.py": "from vlad.scoring.b import g\n",
            "scoring/b.py": "\nfrom vlad.scoring.c import h\n",
            "scoring/c.py": "import vlad.scoring.a\n",
        },
    )
    problems, cycles = check(root)
    assert problems == []
    assert cycles == [
        "import cycle vlad.scoring.a -> vlad.scoring.b -> vlad.scoring.c -> vlad.scoring.a:\n"
        "    vlad/scoring/a.py:1: vlad.scoring.a imports vlad.scoring.b\n"
        "    vlad/scoring/b.py:2: vlad.scoring.b imports vlad.scoring.c\n"
        "    vlad/scoring/c.py:1: vlad.scoring.c imports vlad.scoring.a"
    ]


def test_a_cycle_hidden_inside_a_function_still_fails(tmp_path: Path) -> None:
    # The old cli.py -> cli_demo.py -> cli.py: it ran only because one side imported lazily.
    root = write_package(
        tmp_path,
        {
            "cli/main.py": "def run():\n    from vlad.cli.demo import add\n",
            "cli/demo.py": "from vlad.cli.main import _options\n",
        },
    )
    _, cycles = check(root)
    assert len(cycles) == 1
    assert (
        "vlad/cli/main.py:2: vlad.cli.main imports vlad.cli.demo (inside a function)" in cycles[0]
    )


def test_type_checking_imports_make_no_cycle(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "answer/a.py": "from vlad.answer.b import B\n",
            "answer/b.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                "    from vlad.answer.a import A\nelse:\n    A = None\n"
            ),
        },
    )
    assert check(root) == ([], [])


def test_the_else_branch_of_type_checking_runs(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "answer/a.py": "from vlad.answer.b import B\n",
            "answer/b.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    pass\n"
                "else:\n    from vlad.answer.a import A\n"
            ),
        },
    )
    _, cycles = check(root)
    assert len(cycles) == 1


def test_a_self_import_is_a_cycle(tmp_path: Path) -> None:
    root = write_package(tmp_path, {"media/m.py": "from . import m\n"})
    _, cycles = check(root)
    assert cycles == [
        "import cycle vlad.media.m -> vlad.media.m:\n"
        "    vlad/media/m.py:1: vlad.media.m imports vlad.media.m"
    ]


def test_relative_imports_resolve_across_packages(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "scoring/winclip/scorer.py": "from ...answer.render import draw\nfrom .math import f\n",
            "scoring/winclip/math.py": "",
            "answer/render.py": "",
        },
    )
    problems, _ = check(root)
    assert problems == [
        "vlad/scoring/winclip/scorer.py:1: vlad.scoring.winclip.scorer imports "
        "vlad.answer.render: layer 'scoring' must not import the higher layer 'answer'"
    ]


def test_names_other_than_the_version_come_from_their_module(tmp_path: Path) -> None:
    root = write_package(tmp_path, {"scoring/a.py": "from vlad import __version__, Pipeline\n"})
    problems, _ = check(root)
    assert problems == [
        "vlad/scoring/a.py:1: vlad.scoring.a takes Pipeline from the façade 'vlad'; import "
        "it from the module that defines it"
    ]


def test_the_facade_is_exempt(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {"__init__.py": "from vlad.cli.main import main\n", "cli/main.py": "import vlad\n"},
    )
    assert check(root) == ([], [])


def test_a_module_outside_every_layer_is_named(tmp_path: Path) -> None:
    root = write_package(
        tmp_path, {"helpers.py": "", "scoring/a.py": "from vlad.helpers import x\n"}
    )
    problems, _ = check(root)
    assert problems == [
        "vlad/scoring/a.py:1: 'vlad.helpers' belongs to no layer; add it to LAYERS in "
        "tests/test_layering.py (and to the design notes)"
    ]


def test_third_party_and_standard_imports_are_ignored(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {"scoring/a.py": "import os\nimport vladimir\nfrom vladx import y\nimport numpy\n"},
    )
    assert collect_imports(root) == []


def _all_edges(root: Path) -> Iterator[tuple[str, str]]:
    for edge in collect_imports(root):
        yield edge.importer, edge.target


def test_from_package_import_submodule_is_an_edge_to_the_submodule(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "pipeline/p.py": "from vlad.scoring import winclip, CONSTANT\n",
            "scoring/winclip/__init__.py": "",
        },
    )
    assert sorted(_all_edges(root)) == [
        ("vlad.pipeline.p", "vlad.scoring"),
        ("vlad.pipeline.p", "vlad.scoring.winclip"),
    ]


def test_import_module_with_a_literal_name_is_an_import(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "media/m.py": (
                "import importlib\n\ndef load():\n"
                "    return importlib.import_module('vlad.pipeline.p')\n"
            ),
            "pipeline/p.py": "",
        },
    )
    problems, _ = check(root)
    assert problems == [
        "vlad/media/m.py:4: vlad.media.m imports vlad.pipeline.p (inside a function): layer "
        "'media' must not import the higher layer 'pipeline'"
    ]
