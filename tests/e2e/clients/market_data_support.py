"""Helpers of the market data client tests: Binance's documented examples, trades made
through the libraries, and the database's view of them."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chalicelib.settings import Settings
from lambdas import candles
from lambdas.msk_runner import MskRunner
from tests.conftest import as_role
from tests.e2e.clients.conftest import Trader
from tests.e2e.settling import wait_until_settled
from tests.support.ledger import assert_ledger_invariants

Conn = psycopg.Connection[Any]
SYMBOL = "BTCUSDT"
EXAMPLES = Path(__file__).parent / "binance_examples"


def example(name: str) -> Any:
    """Binance's documented answer, copied from its API docs."""
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def kind(value: object) -> str:
    """The JSON type of a value (bool apart from numbers; a decimal string apart from
    other text, as Binance writes amounts)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, str):
        return "decimal" if value.replace(".", "", 1).lstrip("-").isdigit() else "text"
    return type(value).__name__


def assert_shaped_like(answer: Any, documented: Any) -> None:
    """Field by field: the same names (or positions, in a row such as a kline), each of
    the documented JSON type."""
    if isinstance(documented, list) and len(documented) == 1:  # a list of like items
        assert isinstance(answer, list), answer
        assert answer, "nothing to compare with the example"
        for item in answer:
            assert_shaped_like(item, documented[0])
        return
    if isinstance(documented, list):  # a row: each position its own field
        assert isinstance(answer, list), answer
        assert len(answer) == len(documented), answer
        for item, value in zip(answer, documented, strict=True):
            assert_shaped_like(item, value)
        return
    if isinstance(documented, dict):
        assert isinstance(answer, dict), answer
        assert list(answer) == list(documented)
        for name, value in documented.items():
            assert_shaped_like(answer[name], value)
        return
    assert kind(answer) == kind(documented), (answer, documented)


def sell(trader: Trader, qty: str, price: str) -> None:
    trader.pb.create_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                           quantity=qty, price=price)


def buy_market(trader: Trader, qty: str) -> None:
    trader.pb.create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity=qty)


def db_trades(db: Conn) -> list[tuple[int, int, int, int, int, bool]]:
    """(id, taker order, price, quantity, time ms, buyer is maker) of every trade."""
    return [(int(i), int(t), int(p), int(q), int(ms), bool(m)) for i, t, p, q, ms, m in db.execute(
        "SELECT id, taker_order_id, price, quantity,"
        " floor(extract(epoch FROM executed_at) * 1000)::bigint, buyer_is_maker"
        " FROM trades WHERE market = %s ORDER BY id", (SYMBOL,)).fetchall()]


def settled(db: Conn) -> None:
    wait_until_settled(db, SYMBOL)


def trade_scenario(maker: Trader, taker: Trader, db: Conn
                   ) -> list[tuple[int, int, int, int, int, bool]]:
    """One market buy sweeping two asks at 20000 and one at 20001, then two market buys
    at 20002: four aggregates of four taker orders and prices, five trades (``db_trades``
    rows)."""
    for price in ("20000", "20000", "20001", "20002"):
        sell(maker, "0.01", price)
    buy_market(taker, "0.03")
    buy_market(taker, "0.005")
    buy_market(taker, "0.005")
    settled(db)
    rows = db_trades(db)
    assert len(rows) == 5
    assert_ledger_invariants(db)
    return rows


@contextmanager
def folding_candles(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The candles function folding the matcher's trades, as MSK would run it."""
    functions = as_role(settings.model_copy(update={
        "market_events_topic": f"{settings.orders_topic}-market"}), "functions")
    monkeypatch.setattr(candles, "get_settings", lambda: functions)
    runner = MskRunner(candles.handler, bootstrap_servers=functions.kafka_bootstrap_servers,
                       topics=[functions.market_events_topic],
                       group=f"candles-{uuid.uuid4().hex[:8]}", function_name="candles",
                       retry_seconds=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
        candles.components(functions).repository.close()
        candles.components.cache_clear()
