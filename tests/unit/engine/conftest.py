"""The engine suites that cover only what the compiled book does run on both books."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import support


@pytest.fixture(params=support.ENGINES)
def each_engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once per book: ``support.new_book`` builds the one named."""
    support.use_engine(request.param)
    yield request.param
    support.use_engine("python")
