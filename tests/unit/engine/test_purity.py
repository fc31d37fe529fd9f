"""The engine core stays pure: standard library (no clock, randomness or I/O) + domain."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
ALLOWED = {
    "__future__", "bisect", "collections", "dataclasses", "enum", "hashlib", "json",
    "typing",
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module or "")
    return names


@pytest.mark.parametrize(
    "path",
    sorted([*(ROOT / "matching_cluster" / "engine").glob("*.py"),
            ROOT / "chalicelib" / "domain" / "orders.py"]),
    ids=lambda p: p.name,
)
def test_imports_only_the_standard_library_and_the_domain(path: Path) -> None:
    for name in imported_modules(path):
        top = name.split(".")[0]
        assert top in ALLOWED or name.startswith("chalicelib.domain"), (path, name)
