"""The matcher's garbage collector settings (``bootstrap.tune_garbage_collector``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from matching_cluster.service.bootstrap import YOUNG_COLLECTION_THRESHOLD, tune_garbage_collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_what_lives_at_start_is_frozen_and_young_collections_come_less_often() -> None:
    _, middle, oldest = gc.get_threshold()

    tune_garbage_collector()

    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, middle, oldest)
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1  # garbage made after the freeze is still collected
