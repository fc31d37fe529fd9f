"""Binance's documented examples (``binance_examples/<name>.json``, copied from its API
docs) and the field-by-field comparison of our answers with them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).with_name("binance_examples")


def example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def assert_shaped_like(ours: Any, theirs: Any, *, optional: frozenset[str] = frozenset(),
                       where: str = "") -> None:
    """``ours`` has every field of Binance's example, each of the same JSON type (lists
    compared by their first items), and nothing more; fields in ``optional`` (dotted
    paths) are ones Binance itself sends only sometimes."""
    assert type(ours) is type(theirs), f"{where or 'answer'}: {type(ours)} != {type(theirs)}"
    if isinstance(theirs, dict):
        missing = {k for k in theirs if f"{where}{k}" not in optional} - set(ours)
        extra = set(ours) - set(theirs)
        assert (missing, extra) == (set(), set()), f"{where or 'answer'}: missing/extra fields"
        for key in set(ours) & set(theirs):
            assert_shaped_like(ours[key], theirs[key], optional=optional, where=f"{where}{key}.")
    elif isinstance(theirs, list) and theirs and ours:
        assert_shaped_like(ours[0], theirs[0], optional=optional, where=f"{where}[0].")
