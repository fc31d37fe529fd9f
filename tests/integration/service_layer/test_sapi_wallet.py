"""The /sapi histories' service: Binance's 90-day windows, offset paging, filters, and
only the caller's rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.domain.wallet import WithdrawalStatus
from chalicelib.service_layer import sapi_wallet, wallet
from chalicelib.service_layer.sapi_wallet import HistoryQuery, WithdrawalSelection

from . import Conn, make_assets, make_user

DAY_MS = 86_400_000
NOW_MS = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def users(db: Conn) -> tuple[int, int, int]:
    """(admin, alice, bob); alice has BTC deposits 100, 10 and 1 days before NOW_MS
    and a USDT one 1 day before; bob has one of his own."""
    make_assets(db, ("BTC", 8), ("USDT", 6))
    admin, alice, bob = make_user(db, admin=True), make_user(db), make_user(db)
    for user, asset, days_ago, txid in ((alice, "BTC", 100, "old"), (alice, "BTC", 10, "mid"),
                                        (alice, "BTC", 1, "new"), (alice, "USDT", 1, "usdt"),
                                        (bob, "BTC", 1, "bobs")):
        wallet.credit_deposit(db, actor_id=admin, user_id=user, asset=asset, amount=10**8,
                              external_txid=txid)
        db.execute("UPDATE deposits SET created_at = %s WHERE external_txid = %s",
                   (datetime.fromtimestamp((NOW_MS - days_ago * DAY_MS) / 1000, UTC), txid))
    return admin, alice, bob


def txids(db: Conn, user: int, query: HistoryQuery, txid: str | None = None) -> list[str]:
    return [d.external_txid for d in sapi_wallet.deposit_history(db, user, query, NOW_MS, txid)]


def test_the_default_window_is_the_90_days_to_now_newest_first(
        db: Conn, users: tuple[int, int, int]) -> None:
    _admin, alice, _bob = users

    assert txids(db, alice, HistoryQuery()) == ["usdt", "new", "mid"]
    # From startTime alone: the 90 days that follow it.
    assert txids(db, alice, HistoryQuery(start_ms=NOW_MS - 101 * DAY_MS)) == ["old"]
    assert txids(db, alice, HistoryQuery(start_ms=NOW_MS - 12 * DAY_MS)) == [
        "usdt", "new", "mid"]
    assert txids(db, alice, HistoryQuery(end_ms=NOW_MS - 5 * DAY_MS)) == ["mid"]


def test_coin_offset_limit_and_txid_narrow_the_page(db: Conn, users: tuple[int, int, int]) -> None:
    _admin, alice, _bob = users

    assert txids(db, alice, HistoryQuery(asset="BTC")) == ["new", "mid"]
    assert txids(db, alice, HistoryQuery(offset=1, limit=1)) == ["new"]
    assert txids(db, alice, HistoryQuery(), "mid") == ["mid"]
    assert txids(db, alice, HistoryQuery(), "bobs") == []


@pytest.mark.parametrize(("query", "code"), [
    (HistoryQuery(start_ms=0, end_ms=91 * DAY_MS), ErrorCode.TIME_SPAN_TOO_LONG),
    (HistoryQuery(start_ms=2, end_ms=1), ErrorCode.START_TIME_GREATER_THAN_END_TIME),
    (HistoryQuery(limit=0), ErrorCode.ILLEGAL_CHARS),
    (HistoryQuery(limit=1001), ErrorCode.ILLEGAL_CHARS),
    (HistoryQuery(asset="NOPE"), ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED),
])
def test_bad_windows_and_pages_are_refused(
        db: Conn, users: tuple[int, int, int], query: HistoryQuery, code: ErrorCode) -> None:
    _admin, alice, _bob = users
    with pytest.raises(ApiError) as refused:
        txids(db, alice, query)

    assert (refused.value.status, refused.value.code) == (400, code)


def test_the_far_ends_of_time_are_a_window_not_an_error(
        db: Conn, users: tuple[int, int, int]) -> None:
    _admin, alice, _bob = users
    end_of_bigint = 2**63 - 1

    assert txids(db, alice, HistoryQuery(start_ms=end_of_bigint - DAY_MS,
                                         end_ms=end_of_bigint)) == []


def test_withdrawals_by_status_id_and_client_id(db: Conn, users: tuple[int, int, int]) -> None:
    admin, alice, bob = users
    first, _ = wallet.request_withdrawal(db, user_id=alice, asset="BTC", amount=10**6,
                                         address="addr", idempotency_key="mine-1")
    second, _ = wallet.request_withdrawal(db, user_id=alice, asset="BTC", amount=10**6,
                                          address="addr", idempotency_key="mine-2")
    wallet.request_withdrawal(db, user_id=bob, asset="BTC", amount=10**6, address="addr",
                              idempotency_key="mine-1")
    wallet.approve_withdrawal(db, actor_id=admin, withdrawal_id=first.id)

    def ids(only: WithdrawalSelection) -> list[int]:
        found = sapi_wallet.withdrawal_history(db, alice, HistoryQuery(),
                                               int(datetime.now(UTC).timestamp() * 1000), only)
        return [w.id for w in found]

    assert ids(WithdrawalSelection()) == [second.id, first.id]
    assert ids(WithdrawalSelection(statuses=(WithdrawalStatus.APPROVED,))) == [first.id]
    assert ids(WithdrawalSelection(statuses=())) == []
    assert ids(WithdrawalSelection(ids=(first.id, 10**12))) == [first.id]
    assert ids(WithdrawalSelection(idempotency_key="mine-2")) == [second.id]
