"""bench/exchange_core: exchange-core 0.5.3's two books replay bench/engine.py's stream file,
agree with each other, and trade as our engine does when a cancel-replace is sent as a
cancel then a place (our semantics).

Builds the harness with Maven from a copy in a temporary folder (about 30 s with the
dependencies in ~/.m2, which scripts/install.sh fetches with the Maven and Java it installs).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.bench_scripts import BENCH, load_bench_script

COMMANDS = 20_000


@pytest.fixture(scope="module")
def harness_jar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("exchange_core")
    shutil.copy(BENCH / "exchange_core" / "pom.xml", project)
    shutil.copytree(BENCH / "exchange_core" / "src", project / "src")
    subprocess.run(["mvn", "-q", "-B", "-f", str(project / "pom.xml"), "package"],
                   check=True, timeout=600)
    return project / "target" / "exchange-core-bench.jar"


def run_harness(jar: Path, stream_file: Path, replace: str) -> dict[str, Any]:
    out = subprocess.run(
        ["java", "-jar", str(jar), str(stream_file), "--passes", "1", "--warmup", "1",
         "--replace", replace],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_both_books_trade_as_our_engine_on_the_same_stream(
        harness_jar: Path, tmp_path: Path) -> None:
    engine = load_bench_script("engine")
    prefill, stream = engine.generate(COMMANDS, seed=1)
    stream_file = tmp_path / "stream.csv"
    engine.write_stream_file(stream_file, prefill, stream)
    trades, lots, digest = engine.trade_summary(prefill, stream)

    result = run_harness(harness_jar, stream_file, "cancel-place")

    assert result["books_agree"] is True
    assert result["commands"] == COMMANDS
    ours = {"trades": trades, "traded_lots": lots, "trades_digest": digest}
    for book in ("naive", "direct"):
        assert {k: result[book][k] for k in ours} == ours


def test_native_moves_keep_the_books_in_agreement(harness_jar: Path, tmp_path: Path) -> None:
    engine = load_bench_script("engine")
    stream_file = tmp_path / "stream.csv"
    engine.write_stream_file(stream_file, *engine.generate(COMMANDS, seed=2))

    result = run_harness(harness_jar, stream_file, "move")

    assert result["books_agree"] is True
    assert result["naive"]["trades"] > 0
