"""What Binance's /sapi wallet routes report: the coins and their one network here, the
markets' trading fees, a user's deposit and withdrawal history in Binance's windows, and
an API key's restrictions. Money is not moved here: withdrawals go through ``wallet``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.adapters import sapi_repo, wallet_repo
from chalicelib.adapters.sapi_repo import KeyRestrictions as KeyRestrictions
from chalicelib.adapters.wallet_repo import HistoryFilter
from chalicelib.adapters.wallet_repo import WithdrawalSelection as WithdrawalSelection
from chalicelib.domain.errors import ApiError, ErrorCode, bad_request
from chalicelib.domain.fees import Rates
from chalicelib.domain.wallet import Balance, Deposit, Withdrawal
from chalicelib.service_layer import Conn, fees, wallet
from chalicelib.service_layer.admin import asset_scale, bad_symbol

HISTORY_WINDOW = timedelta(days=90)
HISTORY_LIMIT_DEFAULT = HISTORY_LIMIT_MAX = 1000


@dataclass(frozen=True)
class TradeFee:
    symbol: str
    maker_ppm: int
    taker_ppm: int


@dataclass(frozen=True)
class Coin:
    """An asset and the user's balance of it (zero if they never held it)."""

    symbol: str
    name: str
    scale: int
    free: int
    locked: int


@dataclass(frozen=True)
class HistoryQuery:
    """Binance's history parameters: an asset, a time window in ms (defaults: the 90
    days to now), paging by offset."""

    asset: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    offset: int = 0
    limit: int = HISTORY_LIMIT_DEFAULT


def trade_fees(conn: Conn, user_id: int, symbol: str | None) -> list[TradeFee]:
    """The maker and taker fee the user pays on every market, or on ``symbol``: the
    market's, lowered by the user's fee tier as everywhere (``fees``)."""
    tier = fees.tier_rates(conn, user_id)
    found = []
    for market, maker_ppm, taker_ppm in sapi_repo.market_fees_ppm(conn, symbol):
        rates = Rates(maker_ppm, taker_ppm).lowest(tier)
        found.append(TradeFee(market, rates.maker_ppm, rates.taker_ppm))
    if symbol is not None and not found:
        raise bad_symbol()
    return found


def coins(conn: Conn, user_id: int) -> list[Coin]:
    held: dict[str, Balance] = {b.asset: b for b in wallet.balances(conn, user_id)}
    return [Coin(a.symbol, a.name, a.scale, held[a.symbol].free if a.symbol in held else 0,
                 held[a.symbol].locked if a.symbol in held else 0)
            for a in sapi_repo.assets(conn)]


def deposit_history(conn: Conn, user_id: int, query: HistoryQuery, now_ms: int,
                    external_txid: str | None = None) -> list[Deposit]:
    return wallet_repo.deposits_in(conn, _filter(conn, user_id, query, now_ms), external_txid)


def withdrawal_history(conn: Conn, user_id: int, query: HistoryQuery, now_ms: int,
                       only: WithdrawalSelection | None = None) -> list[Withdrawal]:
    return wallet_repo.withdrawals_in(conn, _filter(conn, user_id, query, now_ms),
                                 only or WithdrawalSelection())


def deposit_addresses(conn: Conn, user_id: int) -> dict[str, str]:
    """The user's deposit address of each asset they asked one for."""
    return sapi_repo.deposit_addresses(conn, user_id)


def key_restrictions(conn: Conn, key_id: int) -> KeyRestrictions:
    return sapi_repo.key_restrictions(conn, key_id)


def _filter(conn: Conn, user_id: int, query: HistoryQuery, now_ms: int) -> HistoryFilter:
    if query.asset is not None:
        asset_scale(conn, query.asset, param="coin")
    window_ms = int(HISTORY_WINDOW.total_seconds() * 1000)
    end_ms = query.end_ms if query.end_ms is not None else (
        now_ms if query.start_ms is None else query.start_ms + window_ms)
    start_ms = query.start_ms if query.start_ms is not None else end_ms - window_ms
    if start_ms > end_ms:
        raise bad_request(ErrorCode.START_TIME_GREATER_THAN_END_TIME,
                          "startTime should be less than endTime.")
    if end_ms - start_ms > window_ms:
        raise ApiError(400, ErrorCode.TIME_SPAN_TOO_LONG,
                       "The time between startTime and endTime must be less than 90 days.")
    if not 1 <= query.limit <= HISTORY_LIMIT_MAX:
        raise bad_request(ErrorCode.ILLEGAL_CHARS,
                          f"Illegal characters found in parameter 'limit'; legal range is "
                          f"'1..{HISTORY_LIMIT_MAX}'.")
    return HistoryFilter(user_id, query.asset, _instant(start_ms), _instant(end_ms),
                         query.offset, query.limit)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LAST_INSTANT_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, datetime's last


def _instant(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=min(max(ms, 0), LAST_INSTANT_MS))
