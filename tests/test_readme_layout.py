"""The README's Layout section names every module and package of signer/ and exchange/."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Kept out of the tree on purpose: package markers, and folders that only hold data.
UNLISTED = {"__init__.py", "__main__.py", "__pycache__", "fonts", "static"}


def _layout() -> str:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```\n(.*?)```", section, re.DOTALL)
    assert block, "the Layout section has no tree"
    return block.group(1)


def _entries(package: str) -> set[str]:
    names = set()
    for child in (ROOT / package).iterdir():
        if child.name in UNLISTED or child.name.startswith("."):
            continue
        if child.is_dir() or child.suffix == ".py":
            names.add(child.name + ("/" if child.is_dir() else ""))
    return names


def _listed(layout: str, package: str) -> set[str]:
    """The names under ``package/`` in the tree: lines indented by two spaces (deeper lines
    continue the description above them)."""
    block = ("\n" + layout).split(f"\n{package}/", 1)[1].split("\n", 1)[1]
    names = set()
    for line in block.splitlines():
        if not line.startswith(" "):
            break
        if line.startswith("  ") and not line.startswith("   "):
            names.add(line.split()[0])
    return names


def test_every_module_and_package_is_in_the_layout() -> None:
    layout = _layout()
    for package in ("signer", "exchange"):
        missing = sorted(_entries(package) - _listed(layout, package))
        assert not missing, f"README Layout lacks {package}/: {', '.join(missing)}"


def test_the_layout_names_nothing_that_is_gone() -> None:
    layout = _layout()
    for package in ("signer", "exchange"):
        for name in _listed(layout, package):
            assert (ROOT / package / name.rstrip("/")).exists(), f"{package}/{name} is gone"
