"""exchangeInfo in Binance's exact shape, decimals formatted at each asset's scale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.service_layer import admin
from chalicelib.service_layer.exchange_info import exchange_info

from . import Conn, make_user

NOW_MS = 1_700_000_000_123
# Binance's document for BTCUSDT at NOW_MS, written out in full.
EXPECTED_BTCUSDT = Path(__file__).with_name("exchange_info_btcusdt.json")


@pytest.fixture
def actor(db: Conn) -> int:
    actor = make_user(db, admin=True)
    for symbol, scale in (("BTC", 8), ("USDT", 6), ("ETH", 18), ("JPY", 0)):
        admin.create_asset(db, actor_id=actor, symbol=symbol, scale=scale, name="")
    admin.create_market(
        db, actor_id=actor, symbol="BTCUSDT", base="BTC", quote="USDT", tick_size=10_000,
        lot_size=10_000, min_qty=10_000, max_qty=900_000_000_000, min_notional=5_000_000,
        maker_fee_ppm=1_000, taker_fee_ppm=1_000)
    admin.create_market(
        db, actor_id=actor, symbol="ETHJPY", base="ETH", quote="JPY", tick_size=1,
        lot_size=10**18, min_qty=10**18, max_qty=10**21, min_notional=0,
        maker_fee_ppm=0, taker_fee_ppm=0)
    return actor


def test_a_market_in_binances_exact_shape(db: Conn, actor: int) -> None:
    info = exchange_info(db, ["BTCUSDT"], NOW_MS)

    assert info == json.loads(EXPECTED_BTCUSDT.read_text())


def test_every_market_by_symbol_when_none_is_asked_for(db: Conn, actor: int) -> None:
    symbols = exchange_info(db, None, NOW_MS)["symbols"]

    assert [s["symbol"] for s in symbols] == ["BTCUSDT", "ETHJPY"]
    eth_jpy = symbols[1]
    assert (eth_jpy["baseAssetPrecision"], eth_jpy["quotePrecision"]) == (18, 0)
    assert eth_jpy["filters"][0]["tickSize"] == "1"
    assert eth_jpy["filters"][1]["stepSize"] == "1.000000000000000000"
    assert eth_jpy["filters"][3]["minNotional"] == "0"


def test_a_halted_market_says_so(db: Conn, actor: int) -> None:
    admin.set_market_status(db, actor_id=actor, symbol="ETHJPY", status="HALT")

    (symbol,) = exchange_info(db, ["ETHJPY", "ETHJPY"], NOW_MS)["symbols"]

    assert symbol["status"] == "HALT"


def test_an_unknown_symbol_is_refused(db: Conn, actor: int) -> None:
    with pytest.raises(ApiError) as raised:
        exchange_info(db, ["BTCUSDT", "NOPE"], NOW_MS)

    assert (raised.value.status, raised.value.code, raised.value.msg) == (
        400, ErrorCode.BAD_SYMBOL, "Invalid symbol.")


def test_no_markets_yet(db: Conn) -> None:
    assert exchange_info(db, None, NOW_MS)["symbols"] == []


@pytest.mark.parametrize(("permissions", "expected"), [
    (frozenset({"SPOT"}), ["BTCUSDT", "ETHJPY"]),
    (frozenset({"MARGIN", "SPOT"}), ["BTCUSDT", "ETHJPY"]),
    (frozenset({"MARGIN", "LEVERAGED"}), []),
    (frozenset(), []),
])
def test_the_permissions_filter_keeps_spot_markets_only_when_spot_is_asked_for(
        db: Conn, actor: int, permissions: frozenset[str], expected: list[str]) -> None:
    symbols = exchange_info(db, None, NOW_MS, permissions=permissions)["symbols"]

    assert [s["symbol"] for s in symbols] == expected


def test_the_status_filter_keeps_markets_in_that_status(db: Conn, actor: int) -> None:
    admin.set_market_status(db, actor_id=actor, symbol="ETHJPY", status="HALT")

    def listed(status: str) -> list[str]:
        return [s["symbol"] for s in exchange_info(db, None, NOW_MS, status=status)["symbols"]]

    assert (listed("TRADING"), listed("HALT"), listed("BREAK")) == (["BTCUSDT"], ["ETHJPY"], [])


def test_permission_sets_can_be_left_empty(db: Conn, actor: int) -> None:
    shown = exchange_info(db, ["BTCUSDT"], NOW_MS)["symbols"][0]
    hidden = exchange_info(db, ["BTCUSDT"], NOW_MS, show_permission_sets=False)["symbols"][0]

    assert (shown["permissionSets"], hidden["permissionSets"]) == ([["SPOT"]], [])
