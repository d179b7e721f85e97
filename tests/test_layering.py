"""The signer library never reaches up into the service or its frameworks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_SIGNER = {"flask", "sqlalchemy", "exchange", "werkzeug", "alembic"}


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
