"""Fees as clients read them, through python-binance and the connector:
`GET /api/v3/account/commission`, `order/test` with computeCommissionRates and
`account`'s commission rates, before and after an admin sets fee tiers (pinned, or from
the 30-day volume). BTCUSDT charges 0.1 % to makers and 0.2 % to takers."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from tests.e2e.clients.amend_support import assert_shape, example
from tests.e2e.clients.conftest import Trader
from tests.e2e.conftest import Caller
from tests.e2e.settling import wait_until_settled
from tests.support.ledger import assert_ledger_invariants

Conn = psycopg.Connection[Any]
SYMBOL = "BTCUSDT"
TIERS = [{"tier": 1, "volumeAsset": "USDT", "minVolume": "1000", "makerFeePpm": 500,
          "takerFeePpm": 1500},
         {"tier": 2, "volumeAsset": "USDT", "minVolume": "1000000", "makerFeePpm": 0,
          "takerFeePpm": 500}]


def put(caller: Caller, path: str, body: dict[str, object]) -> Any:
    return caller.client.http.put(path, headers=caller.headers(), body=json.dumps(body))


def set_tiers(admin: Caller) -> None:
    response = put(admin, "/v1/admin/fee-tiers", {"tiers": TIERS})
    assert response.status_code == 200, response.body
    assert response.json_body["tiers"][0]["minVolume"] == "1000.000000"


def pin(admin: Caller, user: Caller, tier: int | None) -> None:
    response = put(admin, f"/v1/admin/users/{user.user_id}/fee-tier", {"tier": tier})
    assert response.status_code == 200, response.body


def commission(trader: Trader) -> dict[str, str]:
    through_pb = trader.pb.v3_get_account_commission(symbol=SYMBOL)
    assert trader.spot.query_commission_rates(SYMBOL) == through_pb
    assert_shape(through_pb, example("account_commission"))
    rates: dict[str, str] = through_pb["standardCommission"]
    return rates


def order_rates(trader: Trader) -> dict[str, str]:
    through_pb = trader.pb.create_test_order(
        symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01",
        price="20000", computeCommissionRates="true")
    through_connector = trader.spot.new_order_test(
        SYMBOL, "BUY", "LIMIT", timeInForce="GTC", quantity="0.01", price="20000",
        computeCommissionRates="true")
    assert through_pb == through_connector
    assert_shape(through_pb, example("order_test_commission"))
    rates: dict[str, str] = through_pb["standardCommissionForOrder"]
    return rates


def account_rates(trader: Trader) -> tuple[int, int, dict[str, str]]:
    account = trader.pb.get_account()
    return account["makerCommission"], account["takerCommission"], account["commissionRates"]


def test_without_a_tier_every_route_shows_the_markets_rates(maker: Trader) -> None:
    assert commission(maker) == {"maker": "0.00100000", "taker": "0.00200000",
                                 "buyer": "0.00000000", "seller": "0.00000000"}
    assert order_rates(maker) == {"maker": "0.00100000", "taker": "0.00200000"}
    assert account_rates(maker) == (10, 20, {"maker": "0.00100000", "taker": "0.00200000",
                                             "buyer": "0.00000000", "seller": "0.00000000"})
    assert maker.pb.create_test_order(symbol=SYMBOL, side="BUY", type="LIMIT",
                                      timeInForce="GTC", quantity="0.01",
                                      price="20000") == {}


def test_a_pinned_tier_lowers_what_every_route_shows(maker: Trader, taker: Trader,
                                                     admin: Caller) -> None:
    set_tiers(admin)
    pin(admin, maker.caller, 2)

    assert commission(maker)["maker"] == "0.00000000"
    assert commission(maker)["taker"] == "0.00050000"
    assert order_rates(maker) == {"maker": "0.00000000", "taker": "0.00050000"}
    assert account_rates(maker)[:2] == (0, 5)
    assert maker.pb.get_trade_fee(symbol=SYMBOL) == maker.spot.trade_fee(symbol=SYMBOL) == [
        {"symbol": SYMBOL, "makerCommission": "0", "takerCommission": "0.0005"}]
    assert commission(taker)["taker"] == "0.00200000"
    assert taker.pb.get_trade_fee(symbol=SYMBOL)[0]["takerCommission"] == "0.002"

    pin(admin, maker.caller, None)
    assert commission(maker)["taker"] == "0.00200000"


def test_recomputing_assigns_tiers_by_30_day_volume(maker: Trader, taker: Trader,
                                                    admin: Caller, db: Conn) -> None:
    maker.pb.create_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                          quantity="0.06", price="20000")
    taker.pb.create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.06")
    wait_until_settled(db, SYMBOL)  # 1,200 USDT traded by each
    set_tiers(admin)

    recomputed = admin.post("/v1/admin/fee-tiers/recompute", {})

    assert recomputed.status_code == 200, recomputed.body
    assert recomputed.json_body == {"assigned": 2, "removed": 0}
    assert commission(maker)["maker"] == "0.00050000"
    assert commission(taker)["taker"] == "0.00150000"
    assert_ledger_invariants(db)


@pytest.mark.parametrize(("body", "status"), [
    ({"tiers": [{**TIERS[0], "volumeAsset": "NOPE"}]}, 400),
    ({"tiers": [TIERS[0], TIERS[0]]}, 400),
    ({"tiers": [{**TIERS[0], "makerFeePpm": -1}]}, 400),
])
def test_bad_tiers_are_refused(admin: Caller, btcusdt: str, body: dict[str, object],
                               status: int) -> None:
    assert put(admin, "/v1/admin/fee-tiers", body).status_code == status


def test_only_admins_set_tiers(maker: Trader, admin: Caller) -> None:
    assert put(maker.caller, "/v1/admin/fee-tiers", {"tiers": TIERS}).status_code == 403
    set_tiers(admin)
    assert put(admin, "/v1/admin/users/999999/fee-tier", {"tier": 1}).status_code == 404
    assert put(admin, f"/v1/admin/users/{maker.caller.user_id}/fee-tier",
               {"tier": 7}).status_code == 404


def test_the_matcher_charges_each_side_its_tiers_rate(maker: Trader, taker: Trader,
                                                      admin: Caller, db: Conn) -> None:
    set_tiers(admin)
    pin(admin, maker.caller, 2)  # maker 0 %
    pin(admin, taker.caller, 1)  # taker 0.15 %
    maker.pb.create_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                          quantity="0.01", price="20000")
    bought = taker.pb.create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.01")
    wait_until_settled(db, SYMBOL)

    (maker_trade,) = maker.pb.get_my_trades(symbol=SYMBOL)
    (taker_trade,) = taker.spot.my_trades(SYMBOL)
    taker_btc = {b["asset"]: b for b in taker.pb.get_account()["balances"]}["BTC"]
    maker_usdt = {b["asset"]: b for b in maker.pb.get_account()["balances"]}["USDT"]

    assert bought["fills"][0]["commission"] == "0.00001500"
    assert (maker_trade["commission"], maker_trade["commissionAsset"]) == ("0.000000", "USDT")
    assert (taker_trade["commission"], taker_trade["commissionAsset"]) == ("0.00001500", "BTC")
    assert taker_btc["free"] == "10.00998500"
    assert maker_usdt["free"] == "100200.000000"
    assert_ledger_invariants(db)
