"""The layers' rules that import-linter cannot see (its contracts are in pyproject.toml):
SQL runs only in the adapters, and modules stay small enough to read."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from chalicelib.settings import PROJECT_ROOT

SCANNED = ("chalicelib", "matching_cluster", "lambdas", "api/app.py")
# Where queries belong: the API's and functions' adapters, the matcher's repositories
# (its settlement's, its durability barrier's) and the operator CLI (migrations, the
# local stack, the release job).
SQL_HOMES = ("chalicelib/adapters/", "matching_cluster/service/repository.py",
             "matching_cluster/service/durability_repository.py", "opscli/")
QUERY_METHODS = {"execute", "executemany", "cursor"}
SMALL_MODULES = ("chalicelib", "matching_cluster/service")
MAX_LINES = 400


def modules(*roots: str) -> Iterator[Path]:
    for root in roots:
        path = PROJECT_ROOT / root
        yield from [path] if path.is_file() else sorted(path.rglob("*.py"))


def query_calls(path: Path) -> Iterator[int]:
    """The lines calling ``.execute(``, ``.executemany(`` or ``.cursor(``."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in QUERY_METHODS):
            yield node.lineno


def test_no_module_outside_the_adapters_executes_sql() -> None:
    stragglers = [f"{path.relative_to(PROJECT_ROOT)}:{line}"
                  for path in modules(*SCANNED)
                  if not str(path.relative_to(PROJECT_ROOT)).startswith(SQL_HOMES)
                  for line in query_calls(path)]

    assert stragglers == []


def test_the_scan_finds_the_adapters_queries() -> None:
    assert any(query_calls(PROJECT_ROOT / "chalicelib/adapters/orders_repo.py"))


def test_no_module_of_the_api_or_the_matcher_service_is_longer_than_400_lines() -> None:
    long = {str(path.relative_to(PROJECT_ROOT)): lines for path in modules(*SMALL_MODULES)
            if (lines := len(path.read_text().splitlines())) > MAX_LINES}

    assert long == {}
