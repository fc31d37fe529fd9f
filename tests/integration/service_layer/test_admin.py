"""Admin: assets and markets with clear 4xx errors for bad values, and an audit row for
every change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple
from functools import partial
from typing import Any

import pytest

from chalicelib.domain.admin import Asset, Market
from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.domain.orders import MarketFilters
from chalicelib.service_layer import admin

from . import Conn, count, make_user

MALFORMED = ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED
# BTC has 8 decimals, USDT 6: price in micro-USDT per whole BTC, quantity in satoshi.
# tick 0.01 USDT * lot 0.0001 BTC = 10**8, one whole BTC: every notional is exact.
BTCUSDT: dict[str, Any] = {
    "symbol": "BTCUSDT", "base": "BTC", "quote": "USDT", "tick_size": 10_000,
    "lot_size": 10_000, "min_qty": 10_000, "max_qty": 900_000_000_000,
    "min_notional": 5_000_000, "maker_fee_ppm": 1_000, "taker_fee_ppm": 2_000,
}
BTCUSDT_FILTERS = MarketFilters(10_000, 10_000, 10_000, 900_000_000_000, 5_000_000,
                                1_000, 2_000)


@pytest.fixture
def actor(db: Conn) -> int:
    return make_user(db, admin=True)


@pytest.fixture
def assets(db: Conn, actor: int) -> None:
    admin.create_asset(db, actor_id=actor, symbol="BTC", scale=8, name="Bitcoin")
    admin.create_asset(db, actor_id=actor, symbol="USDT", scale=6, name="Tether")


@pytest.fixture
def market(db: Conn, actor: int, assets: None) -> Market:
    return admin.create_market(db, actor_id=actor, **BTCUSDT)


def api_error(call: Callable[[], object]) -> ApiError:
    with pytest.raises(ApiError) as raised:
        call()
    return raised.value


def audit_rows(db: Conn) -> list[tuple[Any, ...]]:
    return db.execute("SELECT actor_user_id, action, target, details FROM audit_log ORDER BY id"
                      ).fetchall()


def stored_market(db: Conn) -> tuple[Any, ...] | None:
    """BTCUSDT's status, filters and fees as stored, or None if there is no such market."""
    return db.execute("SELECT status, tick_size, lot_size, min_qty, max_qty, min_notional,"
                      " maker_fee_ppm, taker_fee_ppm FROM markets WHERE symbol = 'BTCUSDT'"
                      ).fetchone()


def stored_status(db: Conn) -> str:
    stored = stored_market(db)
    assert stored is not None
    return str(stored[0])


# Assets


def test_create_asset_stores_it_and_audits(db: Conn, actor: int) -> None:
    asset = admin.create_asset(db, actor_id=actor, symbol="ETH", scale=18, name="Ether")

    assert asset == Asset("ETH", 18, "Ether")
    assert db.execute("SELECT symbol, scale, name FROM assets").fetchall() == [
        ("ETH", 18, "Ether")]
    assert audit_rows(db) == [(actor, "ASSET_CREATE", "asset:ETH",
                               {"scale": 18, "name": "Ether", "four_eyes_threshold": None})]


def test_the_four_eyes_threshold_is_set_at_creation_and_changed_with_an_audit_trail(
    db: Conn, actor: int
) -> None:
    created = admin.create_asset(db, actor_id=actor, symbol="ETH", scale=18, name="Ether",
                                 four_eyes_threshold=10**19)

    raised = admin.set_four_eyes_threshold(db, actor_id=actor, symbol="ETH", threshold=10**20)
    admin.set_four_eyes_threshold(db, actor_id=actor, symbol="ETH", threshold=10**20)
    cleared = admin.set_four_eyes_threshold(db, actor_id=actor, symbol="ETH", threshold=None)

    assert (created.four_eyes_threshold, raised.four_eyes_threshold) == (10**19, 10**20)
    assert cleared == Asset("ETH", 18, "Ether", None)
    assert admin.four_eyes_threshold(db, "ETH") is None
    assert [row[1:] for row in audit_rows(db)[1:]] == [
        ("ASSET_UPDATE", "asset:ETH", {"four_eyes_threshold": {"before": 10**19,
                                                               "after": 10**20}}),
        ("ASSET_UPDATE", "asset:ETH", {"four_eyes_threshold": {"before": 10**20,
                                                               "after": None}})]


@pytest.mark.parametrize(("symbol", "threshold", "param"), [
    ("BTC", -1, "four_eyes_threshold"),
    ("BTC", 10**38, "four_eyes_threshold"),
    ("NOPE", 5, "symbol"),
])
def test_an_invalid_four_eyes_threshold_is_refused(
    db: Conn, actor: int, assets: None, symbol: str, threshold: int, param: str
) -> None:
    error = api_error(lambda: admin.set_four_eyes_threshold(db, actor_id=actor, symbol=symbol,
                                                            threshold=threshold))

    assert (error.status, error.code) == (400, MALFORMED)
    assert error.msg.startswith(f"Parameter '{param}'")
    assert admin.four_eyes_threshold(db, "BTC") is None
    assert count(db, "audit_log") == 2


def test_only_an_admin_sets_the_four_eyes_threshold(db: Conn, assets: None) -> None:
    error = api_error(lambda: admin.set_four_eyes_threshold(
        db, actor_id=make_user(db), symbol="BTC", threshold=1))

    assert (error.status, error.code) == (403, ErrorCode.FORBIDDEN)
    assert admin.four_eyes_threshold(db, "BTC") is None


@pytest.mark.parametrize(("symbol", "scale", "name", "param"), [
    ("eth", 8, "", "symbol"),
    ("", 8, "", "symbol"),
    ("E" * 21, 8, "", "symbol"),
    ("ET-H", 8, "", "symbol"),
    ("ETH", 19, "", "scale"),
    ("ETH", -1, "", "scale"),
    ("ETH", 8, "n" * 101, "name"),
])
def test_an_invalid_asset_is_refused(
    db: Conn, actor: int, symbol: str, scale: int, name: str, param: str
) -> None:
    error = api_error(lambda: admin.create_asset(db, actor_id=actor, symbol=symbol, scale=scale,
                                                 name=name))

    assert (error.status, error.code) == (400, MALFORMED)
    assert error.msg.startswith(f"Parameter '{param}'")
    assert count(db, "assets") == count(db, "audit_log") == 0


def test_a_duplicate_asset_is_a_conflict(db: Conn, actor: int, assets: None) -> None:
    error = api_error(lambda: admin.create_asset(db, actor_id=actor, symbol="BTC", scale=2,
                                                 name="again"))

    assert (error.status, error.code, error.msg) == (409, ErrorCode.CONFLICT,
                                                     "Asset BTC already exists.")
    assert db.execute("SELECT scale FROM assets WHERE symbol = 'BTC'").fetchone() == (8,)
    assert count(db, "audit_log") == 2


def test_only_an_active_admin_administers(db: Conn, actor: int, assets: None) -> None:
    user = make_user(db)
    disabled = make_user(db, admin=True)
    db.execute("UPDATE users SET status = 'DISABLED' WHERE id = %s", (disabled,))

    for someone in (user, disabled, 10**9):
        error = api_error(partial(admin.create_asset, db, actor_id=someone, symbol="ETH",
                                  scale=18, name=""))
        assert (error.status, error.code) == (403, ErrorCode.FORBIDDEN)
    error = api_error(lambda: admin.create_market(db, actor_id=user, **BTCUSDT))
    assert error.status == 403
    assert count(db, "markets") == 0
    assert count(db, "assets") == 2


# Markets


def test_create_market_stores_it_with_its_sequences_and_audits(
    db: Conn, actor: int, assets: None
) -> None:
    created = admin.create_market(db, actor_id=actor, **BTCUSDT)

    assert created == Market("BTCUSDT", "BTC", "USDT", "TRADING", BTCUSDT_FILTERS)
    assert stored_market(db) == ("TRADING", 10_000, 10_000, 10_000, 900_000_000_000, 5_000_000,
                                 1_000, 2_000)
    assert db.execute("SELECT market, last_sequence, last_trade_id FROM market_sequences"
                      ).fetchall() == [("BTCUSDT", 0, 0)]
    assert audit_rows(db)[-1] == (actor, "MARKET_CREATE", "market:BTCUSDT", {
        "base": "BTC", "quote": "USDT", "tick_size": 10_000, "lot_size": 10_000,
        "min_qty": 10_000, "max_qty": 900_000_000_000, "min_notional": 5_000_000,
        "maker_fee_ppm": 1_000, "taker_fee_ppm": 2_000})


@pytest.mark.parametrize(("change", "param", "detail"), [
    ({"symbol": "btcusdt"}, "symbol", "must be 2 to 40 characters A-Z or 0-9"),
    ({"base": "NOPE"}, "base", "is not a known asset ('NOPE')"),
    ({"quote": "NOPE"}, "quote", "is not a known asset ('NOPE')"),
    ({"quote": "BTC"}, "quote", "must differ from the base asset"),
    ({"tick_size": 0}, "tick_size", "must be at least 1"),
    ({"lot_size": -10_000}, "lot_size", "must be at least 1"),
    ({"min_qty": 0}, "min_qty", "must be at least 1"),
    ({"max_qty": 9_999}, "max_qty", "must be at least 10000"),
    ({"max_qty": 10**38}, "max_qty", "is too large"),
    ({"min_notional": -1}, "min_notional", "must be at least 0"),
    ({"min_qty": 15_000}, "min_qty", "must be a multiple of lot_size"),
    ({"max_qty": 900_000_000_001}, "max_qty", "must be a multiple of lot_size"),
    ({"maker_fee_ppm": 100_001}, "maker_fee_ppm", "must be between 0 and 100000"),
    ({"taker_fee_ppm": -1}, "taker_fee_ppm", "must be between 0 and 100000"),
    ({"tick_size": 1_000}, "tick_size", "times lot_size must be a multiple of 100000000"
                                        " (one whole base unit), so that every notional is exact"),
])
def test_an_invalid_market_is_refused(
    db: Conn, actor: int, assets: None, change: dict[str, Any], param: str, detail: str
) -> None:
    error = api_error(lambda: admin.create_market(db, actor_id=actor, **{**BTCUSDT, **change}))

    assert (error.status, error.code) == (400, MALFORMED)
    assert error.msg == f"Parameter '{param}' {detail}."
    assert count(db, "markets") == count(db, "market_sequences") == 0
    assert count(db, "audit_log") == 2  # the two assets


def test_a_duplicate_market_is_a_conflict(db: Conn, actor: int, market: Market) -> None:
    error = api_error(lambda: admin.create_market(db, actor_id=actor, **{**BTCUSDT,
                                                                         "tick_size": 20_000}))

    assert (error.status, error.code) == (409, ErrorCode.CONFLICT)
    assert stored_market(db) == ("TRADING", *astuple(BTCUSDT_FILTERS))


def test_update_market_changes_filters_and_fees_and_audits(
    db: Conn, actor: int, market: Market
) -> None:
    updated = admin.update_market(db, actor_id=actor, symbol="BTCUSDT", taker_fee_ppm=500,
                                  min_notional=0, max_qty=10_000_000)

    assert updated.filters == MarketFilters(10_000, 10_000, 10_000, 10_000_000, 0, 1_000, 500)
    assert stored_market(db) == ("TRADING", 10_000, 10_000, 10_000, 10_000_000, 0, 1_000, 500)
    _, action, target, details = audit_rows(db)[-1]
    assert (action, target) == ("MARKET_UPDATE", "market:BTCUSDT")
    assert details["after"] == {"taker_fee_ppm": 500, "min_notional": 0, "max_qty": 10_000_000}
    assert details["before"]["taker_fee_ppm"] == 2_000


def test_an_update_is_checked_against_the_whole_market(
    db: Conn, actor: int, market: Market
) -> None:
    off_lot = api_error(lambda: admin.update_market(db, actor_id=actor, symbol="BTCUSDT",
                                                    lot_size=30_000))
    unknown_field = api_error(lambda: admin.update_market(db, actor_id=actor, symbol="BTCUSDT",
                                                          base_asset=1))
    unknown_market = api_error(lambda: admin.update_market(db, actor_id=actor, symbol="NOPE",
                                                           tick_size=1))

    assert off_lot.msg == "Parameter 'min_qty' must be a multiple of lot_size."
    assert unknown_field.msg == "Parameter 'base_asset' is not a market filter or fee."
    assert (unknown_market.status, unknown_market.code, unknown_market.msg) == (
        400, ErrorCode.BAD_SYMBOL, "Invalid symbol.")
    assert stored_market(db) == ("TRADING", *astuple(BTCUSDT_FILTERS))
    assert count(db, "audit_log") == 3


def test_an_update_that_changes_nothing_is_not_audited(
    db: Conn, actor: int, market: Market
) -> None:
    same = admin.update_market(db, actor_id=actor, symbol="BTCUSDT", tick_size=10_000)

    assert same == market
    assert count(db, "audit_log") == 3


def test_halt_and_resume_a_market(db: Conn, actor: int, market: Market) -> None:
    halted = admin.set_market_status(db, actor_id=actor, symbol="BTCUSDT", status="HALT")
    halted_again = admin.set_market_status(db, actor_id=actor, symbol="BTCUSDT", status="HALT")
    status_while_halted = stored_status(db)
    resumed = admin.set_market_status(db, actor_id=actor, symbol="BTCUSDT", status="TRADING")

    assert (halted.status, halted_again.status, resumed.status) == ("HALT", "HALT", "TRADING")
    assert (status_while_halted, stored_status(db)) == ("HALT", "TRADING")
    assert [row[1:] for row in audit_rows(db)[3:]] == [
        ("MARKET_STATUS", "market:BTCUSDT", {"from": "TRADING", "to": "HALT"}),
        ("MARKET_STATUS", "market:BTCUSDT", {"from": "HALT", "to": "TRADING"}),
    ]


def test_an_invalid_status_or_market_is_refused(db: Conn, actor: int, market: Market) -> None:
    bad_status = api_error(lambda: admin.set_market_status(db, actor_id=actor, symbol="BTCUSDT",
                                                           status="CLOSED"))
    unknown = api_error(lambda: admin.set_market_status(db, actor_id=actor, symbol="NOPE",
                                                        status="HALT"))

    assert bad_status.msg == "Parameter 'status' must be one of TRADING, HALT, BREAK."
    assert unknown.code == ErrorCode.BAD_SYMBOL
    assert stored_status(db) == "TRADING"


# Audit log


def test_the_audit_log_pages_newest_first(db: Conn, actor: int, market: Market) -> None:
    first = admin.audit_log(db, limit=2)
    second = admin.audit_log(db, limit=2, before_id=first.next_before_id)

    assert [e.action for e in first.items] == ["MARKET_CREATE", "ASSET_CREATE"]
    assert [e.target for e in second.items] == ["asset:BTC"]
    assert second.next_before_id is None
    assert {e.actor_user_id for e in first.items + second.items} == {actor}
    assert api_error(lambda: admin.audit_log(db, limit=1001)).code == MALFORMED
