"""The project's layers, read from the source with `ast`.

- The signer library never reaches up into the service or its frameworks.
- No import cycles between the project's modules, counting imports inside functions (which only
  hide a cycle) but not those under `if TYPE_CHECKING:` (never run).
- No module imports an underscore (private) name from another module of the project.
- The pure modules of `exchange` (rules without I/O) import no SQLAlchemy, not even through
  another module of the project.
- No module imports a test module: what tests share is in tests/support/ and tests/conftest.py.

Each rule has a test proving its check catches a violation.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_SIGNER = {"flask", "sqlalchemy", "exchange", "werkzeug", "alembic"}
# The source trees whose modules make up the project (tests included: they import helpers).
PROJECT_PACKAGES = ("signer", "exchange", "tests")
# Modules of `exchange` holding rules, values and settings only: no database, no web framework.
EXCHANGE_PURE_MODULES = (
    "exchange.actors",
    "exchange.config",
    "exchange.enums",
    "exchange.errors",
    "exchange.statuses",
    "exchange.services.directory_rules",
)
FORBIDDEN_IN_PURE = {"sqlalchemy", "alembic", "flask", "werkzeug"}


def imported_top_level_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


SIGNER_MODULES = sorted((ROOT / "signer").rglob("*.py"))


def test_signer_has_modules() -> None:
    assert len(SIGNER_MODULES) >= 3


@pytest.mark.parametrize("path", SIGNER_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_signer_imports_no_service_layer(path: Path) -> None:
    assert imported_top_level_modules(path).isdisjoint(FORBIDDEN_IN_SIGNER)


def test_layering_check_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from exchange.models import Document\nimport flask\n")
    assert imported_top_level_modules(bad) & FORBIDDEN_IN_SIGNER == {"exchange", "flask"}


# The project's import graph.


@dataclass(frozen=True)
class ImportLine:
    """One module imported by one statement (`names`: what `from module import` takes)."""

    importer: str
    module: str
    names: tuple[str, ...]
    line: int

    def __str__(self) -> str:
        taken = f" ({', '.join(self.names)})" if self.names else ""
        return f"{self.importer}:{self.line} → {self.module}{taken}"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Every module of `packages` under `root`, by dotted name."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            found[module_name(path, root)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement at any depth (functions too), but none under `if TYPE_CHECKING:`."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
        return
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        children: Iterable[ast.AST] = node.orelse
    else:
        children = ast.iter_child_nodes(node)
    for child in children:
        yield from _import_nodes(child)


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(name: str, path: Path, modules: Mapping[str, Path]) -> list[ImportLine]:
    """What module `name` (at `path`) imports, each import resolved to the module it loads."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[ImportLine] = []
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            found += [ImportLine(name, alias.name, (), node.lineno) for alias in node.names]
            continue
        source = _absolute(node, name, path.name == "__init__.py")
        taken: list[str] = []
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            if submodule in modules:  # `from package import module`
                found.append(ImportLine(name, submodule, (), node.lineno))
            else:
                taken.append(alias.name)
        if taken or not node.names:
            found.append(ImportLine(name, source, tuple(taken), node.lineno))
    return found


def import_graph(root: Path, packages: Iterable[str]) -> dict[str, list[ImportLine]]:
    """Each project module's imports."""
    modules = project_modules(root, packages)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def _project_edges(graph: Mapping[str, list[ImportLine]]) -> dict[str, list[ImportLine]]:
    return {
        name: [i for i in lines if i.module in graph and i.module != name]
        for name, lines in graph.items()
    }


def import_cycles(graph: Mapping[str, list[ImportLine]]) -> list[list[ImportLine]]:
    """The imports inside each group of modules that import one another (Tarjan's algorithm)."""
    edges = _project_edges(graph)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for line in edges[module]:
            if line.module not in index:
                visit(line.module)
                low[module] = min(low[module], low[line.module])
            elif line.module in on_stack:
                low[module] = min(low[module], index[line.module])
        if low[module] == index[module]:
            group: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(group)

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return [
        sorted((i for m in sorted(group) for i in edges[m] if i.module in group), key=str)
        for group in groups
    ]


def private_imports(graph: Mapping[str, list[ImportLine]]) -> list[str]:
    """`from module import _name` where the module is another one of the project."""
    return [
        f"{line.importer}:{line.line} takes {name} from {line.module}"
        for lines in graph.values()
        for line in lines
        if line.module in graph and line.module != line.importer
        for name in line.names
        if name.startswith("_") and not name.startswith("__")
    ]


def is_test_module(module: str) -> bool:
    return module.rsplit(".", 1)[-1].startswith("test_")


def imports_of_test_modules(graph: Mapping[str, list[ImportLine]]) -> list[str]:
    """Imports of a test module (`test_*.py`) by any other module."""
    return [
        f"{line.importer}:{line.line} imports {line.module}"
        for lines in graph.values()
        for line in lines
        if line.module in graph and line.module != line.importer and is_test_module(line.module)
    ]


def reached_frameworks(
    graph: Mapping[str, list[ImportLine]], start: str, forbidden: set[str]
) -> list[str]:
    """The forbidden top-level packages `start` imports, itself or through project modules."""
    found: list[str] = []
    path: dict[str, str] = {start: start}
    queue = [start]
    while queue:
        module = queue.pop(0)
        reached: list[str] = []
        for line in graph[module]:
            if line.module in graph and line.module not in path:
                path[line.module] = f"{path[module]} → {line.module}"
                queue.append(line.module)
            elif line.module.split(".")[0] in forbidden:
                reached.append(f"{line.module} (line {line.line})")
        if reached:
            found.append(f"{path[module]} imports {', '.join(reached)}")
    return found


@pytest.fixture(scope="module")
def project_graph() -> dict[str, list[ImportLine]]:
    return import_graph(ROOT, PROJECT_PACKAGES)


def test_the_graph_has_the_project(project_graph: dict[str, list[ImportLine]]) -> None:
    assert {"signer.keys", "exchange.app", "tests.test_layering"} <= set(project_graph)
    assert "signer.keys" in {line.module for line in project_graph["signer.pkcs11"]}


def test_no_import_cycles(project_graph: dict[str, list[ImportLine]]) -> None:
    cycles = import_cycles(project_graph)
    assert not cycles, "modules importing one another:\n" + "\n\n".join(
        "\n".join(map(str, cycle)) for cycle in cycles
    )


def test_no_private_names_imported(project_graph: dict[str, list[ImportLine]]) -> None:
    taken = private_imports(project_graph)
    assert not taken, "private names taken from other modules:\n" + "\n".join(taken)


def test_no_module_imports_a_test_module(project_graph: dict[str, list[ImportLine]]) -> None:
    taken = imports_of_test_modules(project_graph)
    assert not taken, "test modules imported (move what they share to tests/support/):\n" + (
        "\n".join(taken)
    )


@pytest.mark.parametrize("module", EXCHANGE_PURE_MODULES)
def test_pure_modules_import_no_database(
    project_graph: dict[str, list[ImportLine]], module: str
) -> None:
    assert module in project_graph
    reached = reached_frameworks(project_graph, module, FORBIDDEN_IN_PURE)
    assert not reached, "\n".join(reached)


def _write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_cycle_check_catches_an_import_hidden_in_a_function(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/app.py": "def build():\n    from pkg.api import routes\n    return routes\n",
            "pkg/api/__init__.py": "from pkg.app import build\n",
            "pkg/api/routes.py": "from . import build\n",
            "pkg/typed.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.app import x\n"
            ),
            "pkg/plain.py": "from pkg import typed\n",
        },
    )
    graph = import_graph(tmp_path, ["pkg"])
    cycles = import_cycles(graph)
    assert [[str(line) for line in cycle] for cycle in cycles] == [
        [
            "pkg.api.routes:1 → pkg.api (build)",
            "pkg.api:1 → pkg.app (build)",
            "pkg.app:2 → pkg.api.routes",
        ]
    ]
    assert graph["pkg.plain"][0].module == "pkg.typed"
    assert graph["pkg.typed"] == [ImportLine("pkg.typed", "typing", ("TYPE_CHECKING",), 1)]


def test_private_name_check_catches_a_private_import(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/core.py": "def _helper(): ...\n_LIMIT = 1\n",
            "pkg/user.py": (
                "from __future__ import annotations\n"
                "from os import _exit\n"
                "from pkg.core import _LIMIT, _helper as helper\n"
            ),
            "pkg/late.py": "def go():\n    from .core import _helper\n",
        },
    )
    assert private_imports(import_graph(tmp_path, ["pkg"])) == [
        "pkg.late:2 takes _helper from pkg.core",
        "pkg.user:3 takes _LIMIT from pkg.core",
        "pkg.user:3 takes _helper from pkg.core",
    ]


def test_purity_check_catches_a_database_import_through_another_module(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/rules.py": "from pkg.models import Role\n",
            "pkg/models.py": "import enum\nfrom sqlalchemy.orm import Mapped\nfrom pkg import db\n",
            "pkg/db.py": "import sqlalchemy\n",
            "pkg/clean.py": "import enum\n",
        },
    )
    graph = import_graph(tmp_path, ["pkg"])
    assert reached_frameworks(graph, "pkg.rules", FORBIDDEN_IN_PURE) == [
        "pkg.rules → pkg.models imports sqlalchemy.orm (line 2)",
        "pkg.rules → pkg.models → pkg.db imports sqlalchemy (line 1)",
    ]
    assert reached_frameworks(graph, "pkg.clean", FORBIDDEN_IN_PURE) == []


def test_test_module_check_catches_a_test_importing_another(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "tests/__init__.py": "",
            "tests/support/__init__.py": "",
            "tests/support/cli.py": "def run_cli(): ...\n",
            "tests/test_a.py": "from tests.support.cli import run_cli\ndef helper(): ...\n",
            "tests/test_b.py": "from tests.test_a import helper\n",
            "tests/test_c.py": "def go():\n    from tests import test_a\n",
        },
    )
    assert imports_of_test_modules(import_graph(tmp_path, ["tests"])) == [
        "tests.test_b:1 imports tests.test_a",
        "tests.test_c:2 imports tests.test_a",
    ]
