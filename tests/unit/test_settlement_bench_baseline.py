"""bench/settlement.py --baseline: another checkout's matcher service settles every other
batch, and it must be that checkout's code, not this one's."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from matching_cluster.service import batch
from tests.support.bench_scripts import BENCH, load_bench_script


@pytest.fixture
def no_baseline_modules() -> Iterator[None]:
    """The baseline package is loaded into sys.modules; none is left behind."""
    _forget_baseline()
    yield
    _forget_baseline()


def _forget_baseline() -> None:
    for name in [n for n in sys.modules if n.split(".")[0] == "baseline_service"]:
        del sys.modules[name]


@pytest.mark.usefixtures("no_baseline_modules")
def test_the_baseline_is_the_other_checkouts_service_package(tmp_path: Path) -> None:
    settlement = load_bench_script("settlement")
    service = BENCH.parent / "matching_cluster" / "service"
    copy = tmp_path / "matching_cluster" / "service"
    shutil.copytree(service, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / "repository.py").open("a") as source:
        source.write("\nBASELINE_MARK = 'the older checkout'\n")

    apply_baseline = settlement.baseline_apply_batch(tmp_path)

    assert apply_baseline is not batch.apply_batch
    assert Path(apply_baseline.__code__.co_filename) == copy / "batch.py"
    # Its own modules are the copy's: "from . import repository" resolved inside it.
    assert sys.modules["baseline_service.repository"].BASELINE_MARK == "the older checkout"
    assert apply_baseline.__globals__["repo"] is sys.modules["baseline_service.repository"]
