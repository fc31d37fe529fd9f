"""bench/engine.py's stream file: what other engines (bench/exchange_core) replay."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from chalicelib.domain.orders import Side
from matching_cluster.engine import AmendOrder, CancelAll
from tests.support.bench_scripts import load_bench_script


@pytest.fixture(scope="module")
def bench_engine() -> ModuleType:
    return load_bench_script("engine")


def test_a_written_stream_reads_back_as_the_same_commands(
        bench_engine: ModuleType, tmp_path: Path) -> None:
    prefill, stream = bench_engine.generate(3_000, seed=7)
    lot = bench_engine.SPEC.lot_size
    stream.append(AmendOrder(prefill[0].order_id, prefill[0].user_id, 2 * lot))
    path = tmp_path / "stream.csv"

    bench_engine.write_stream_file(path, prefill, stream)

    assert bench_engine.read_stream_file(path) == (prefill, stream)
    kinds = {type(cmd).__name__ for cmd in stream}
    assert kinds == {"PlaceOrder", "CancelOrder", "CancelReplace", "AmendOrder"}


def test_the_read_back_stream_trades_as_the_generated_one(
        bench_engine: ModuleType, tmp_path: Path) -> None:
    prefill, stream = bench_engine.generate(3_000, seed=3)
    path = tmp_path / "stream.csv"
    bench_engine.write_stream_file(path, prefill, stream)

    trades, lots, digest = bench_engine.trade_summary(*bench_engine.read_stream_file(path))

    assert trades > 0
    assert lots >= trades
    assert (trades, lots, digest) == bench_engine.trade_summary(prefill, stream)


def test_a_command_the_format_cannot_carry_is_refused(
        bench_engine: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no line for"):
        bench_engine.write_stream_file(tmp_path / "stream.csv", [], [CancelAll(user_id=1)])


def test_prices_and_sizes_are_written_in_ticks_and_lots(
        bench_engine: ModuleType, tmp_path: Path) -> None:
    spec = bench_engine.SPEC
    place = bench_engine.PlaceOrder(5, 9, Side.SELL, price=3_000_001 * spec.tick_size,
                                    qty=7 * spec.lot_size)
    path = tmp_path / "stream.csv"

    bench_engine.write_stream_file(path, [place], [])

    assert path.read_text().splitlines()[1:] == ["prefill 1", "P,5,9,S,3000001,7,GTC"]
