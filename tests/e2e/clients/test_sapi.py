"""The /sapi wallet routes through python-binance and the official connector, each
answer shaped field by field like Binance's documented example."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from binance.error import ClientError
from binance.exceptions import BinanceAPIException

from tests.e2e.clients.conftest import Trader, connector, python_binance
from tests.e2e.clients.shapes_support import assert_shaped_like, example
from tests.e2e.conftest import Caller, fund
from tests.support.ledger import assert_ledger_invariants


@pytest.fixture
def wallet_user(api_url: str, admin: Caller, alice: Caller, btcusdt: str) -> Trader:
    """Alice with 1.5 BTC deposited and a key that may read, trade and withdraw."""
    fund(admin, alice, "BTC", "1.5")
    key = alice.new_api_key(["READ", "TRADE", "WITHDRAW"], ["127.0.0.1"])
    return Trader(alice, key, python_binance(api_url, key), connector(api_url, key))


def test_system_status_through_both_libraries(api_url: str) -> None:
    status = python_binance(api_url).get_system_status()

    assert status == connector(api_url).system_status() == example("system_status")


def test_every_coin_with_its_network_and_the_callers_balance(wallet_user: Trader) -> None:
    coins = {c["coin"]: c for c in wallet_user.pb.get_all_coins_info()}

    assert_shaped_like(list(coins.values()), example("coin_info"))
    assert set(coins) == {"BTC", "USDT"}
    assert (coins["BTC"]["free"], coins["USDT"]["free"]) == ("1.50000000", "0.000000")
    (network,) = coins["BTC"]["networkList"]
    assert (network["network"], network["withdrawMin"], network["withdrawFee"]) == (
        "BTC", "0.00000001", "0.00000000")
    assert wallet_user.spot.coin_info() == list(coins.values())


def test_asset_details_give_each_coins_withdrawal_minimum(wallet_user: Trader) -> None:
    details = wallet_user.pb.get_asset_details()

    assert set(details) == {"BTC", "USDT"}
    # Binance's CTR entry: a suspended coin, hence its depositTip; its fee a whole number.
    assert_shaped_like(details["BTC"], example("asset_detail")["CTR"],
                       optional=frozenset({"depositTip"}))
    assert (details["BTC"]["minWithdrawAmount"], details["BTC"]["withdrawFee"]) == (
        "0.00000001", 0)
    assert wallet_user.spot.asset_detail(asset="USDT") == {"USDT": details["USDT"]}


def test_trade_fees_per_market(wallet_user: Trader) -> None:
    fees = wallet_user.pb.get_trade_fee()

    assert_shaped_like(fees, example("trade_fee"))
    assert fees == [{"symbol": "BTCUSDT", "makerCommission": "0.001",
                     "takerCommission": "0.002"}]
    assert wallet_user.spot.trade_fee(symbol="BTCUSDT") == fees


def test_trade_fee_of_an_unknown_market_is_refused(wallet_user: Trader) -> None:
    with pytest.raises(BinanceAPIException) as raised:
        wallet_user.pb.get_trade_fee(symbol="NOPEUSDT")

    assert raised.value.code == -1121


def test_the_deposit_address_is_the_wallets_own(wallet_user: Trader) -> None:
    address = wallet_user.pb.get_deposit_address(coin="BTC")

    assert_shaped_like(address, example("deposit_address"))
    assert address["address"] == wallet_user.caller.get(
        "/v1/deposit-address?asset=BTC").json_body["address"]
    assert wallet_user.spot.deposit_address(coin="BTC") == address


def test_deposit_history_in_binances_shape_newest_first(
        wallet_user: Trader, admin: Caller) -> None:
    fund(admin, wallet_user.caller, "USDT", "250")
    address = wallet_user.pb.get_deposit_address(coin="BTC")["address"]

    deposits = wallet_user.pb.get_deposit_history()

    assert_shaped_like(deposits, example("deposit_history"))
    assert [(d["coin"], d["amount"], d["status"]) for d in deposits] == [
        ("USDT", "250.000000", 1), ("BTC", "1.50000000", 1)]
    assert deposits[1]["address"] == address
    assert wallet_user.spot.deposit_history(coin="BTC") == deposits[1:]
    assert wallet_user.spot.deposit_history(status=0) == []
    assert wallet_user.pb.get_deposit_history(offset=1, limit=1) == deposits[1:]


def test_withdraw_history_follows_each_withdrawal_to_its_decision(
        wallet_user: Trader, admin: Caller, db: psycopg.Connection[Any]) -> None:
    first = wallet_user.spot.withdraw(coin="BTC", amount="0.1", address="addr-1",
                                      withdrawOrderId="mine-1")["id"]
    second = wallet_user.pb.withdraw(coin="BTC", amount="0.2", address="addr-2")["id"]
    assert admin.post(f"/v1/admin/withdrawals/{first}/approve", {}).status_code == 200

    history = wallet_user.pb.get_withdraw_history()

    assert_shaped_like(history, example("withdraw_history"),
                       optional=frozenset({"[0].withdrawOrderId", "[0].completeTime"}))
    assert [(w["id"], w["amount"], w["status"]) for w in history] == [
        (second, "0.20000000", 2), (first, "0.10000000", 6)]
    assert "withdrawOrderId" not in history[0]
    assert (history[1]["withdrawOrderId"], "completeTime" in history[1]) == ("mine-1", True)
    assert wallet_user.spot.withdraw_history(status=6) == history[1:]
    assert wallet_user.spot.withdraw_history(withdrawOrderId="mine-1") == history[1:]
    assert wallet_user.pb.get_withdraw_history(idList=f"{first},{second}") == history
    assert_ledger_invariants(db)


def test_history_windows_are_binances(wallet_user: Trader) -> None:
    day_ms = 86_400_000
    with pytest.raises(ClientError) as too_long:
        wallet_user.spot.deposit_history(startTime=0, endTime=91 * day_ms)
    with pytest.raises(ClientError) as backwards:
        wallet_user.spot.withdraw_history(startTime=2 * day_ms, endTime=day_ms)

    assert (too_long.value.error_code, backwards.value.error_code) == (-1127, -1023)
    assert wallet_user.spot.deposit_history(startTime=0, endTime=day_ms) == []


def test_account_status_and_the_keys_restrictions(wallet_user: Trader, api_url: str) -> None:
    status = wallet_user.pb.get_account_status()
    restrictions = wallet_user.pb.get_account_api_permissions()

    assert status == wallet_user.spot.account_status() == example("account_status")
    assert_shaped_like(restrictions, example("api_restrictions"))
    assert (restrictions["ipRestrict"], restrictions["enableReading"],
            restrictions["enableSpotAndMarginTrading"], restrictions["enableWithdrawals"]) == (
        True, True, True, True)
    read_only = python_binance(api_url, wallet_user.caller.new_api_key(["READ"]))
    assert read_only.get_account_api_permissions()["enableWithdrawals"] is False
    assert wallet_user.spot.api_key_permissions() == restrictions


def test_api_trading_is_never_locked(wallet_user: Trader) -> None:
    status = wallet_user.pb.get_account_api_trading_status()

    assert_shaped_like(status, example("api_trading_status"),
                       optional=frozenset({"data.indicators.BTCUSDT"}))
    assert (status["data"]["isLocked"], status["data"]["indicators"]) == (False, {})
    assert wallet_user.spot.api_trading_status()["data"]["isLocked"] is False


def test_user_assets_list_what_the_caller_holds(wallet_user: Trader) -> None:
    held = wallet_user.spot.user_asset()

    assert_shaped_like(held, example("user_asset"))
    assert [(a["asset"], a["free"]) for a in held] == [("BTC", "1.50000000")]
    assert wallet_user.spot.user_asset(asset="USDT") == []
    assert wallet_user.pb.get_user_asset() == held


def test_margin_listings_are_empty_as_ccxt_expects(wallet_user: Trader) -> None:
    assert wallet_user.spot.margin_all_pairs() == wallet_user.spot.margin_all_assets() == []
    assert wallet_user.pb.get_margin_all_pairs() == wallet_user.pb.get_margin_all_assets() == []
    assert wallet_user.pb.get_all_isolated_margin_symbols() == []
    assert wallet_user.spot.isolated_margin_all_pairs() == []


def test_a_recv_window_above_a_minute_is_refused_by_each_library(wallet_user: Trader) -> None:
    wallet_user.pb.REQUEST_RECVWINDOW = 60001  # python-binance sends its own, not the call's
    with pytest.raises(BinanceAPIException) as from_pb:
        wallet_user.pb.get_account_status(recvWindow=60001)
    with pytest.raises(ClientError) as from_connector:
        wallet_user.spot.account(recvWindow=60001)

    assert (from_pb.value.code, from_connector.value.error_code) == (-1131, -1131)
    assert from_pb.value.message == "recvWindow must be less than 60000."
