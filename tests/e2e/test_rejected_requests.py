"""A rejected request changes nothing: every mutating route, with each bad parameter in
turn, answers a 4xx in the API's error format and leaves every money table and the
orders topic exactly as they were. A client retrying on 400 must not double its exposure."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from chalice.test import Client
from psycopg import sql

from chalicelib.settings import Settings
from tests.e2e.conftest import ApiKey, Caller, fund
from tests.e2e.test_order_intake import LIMIT_BUY, watermarks
from tests.support.ledger import assert_ledger_invariants

Conn = psycopg.Connection[Any]
TABLES = ("orders", "order_commands", "order_lists", "balances", "ledger_entries", "withdrawals",
          "deposits", "api_keys", "audit_log", "fee_tiers", "user_fee_tiers")
BIGINT_PLUS_ONE = str(2**63)


@dataclass
class World:
    """Alice with funds, an open order, a pending withdrawal and a trading+withdrawing
    key; an admin; the BTCUSDT market."""

    client: Client
    admin: Caller
    alice: Caller
    key: ApiKey
    order_id: int
    withdrawal_id: int
    api_key_id: int


@pytest.fixture
def world(client: Client, admin: Caller, alice: Caller, btcusdt: str) -> World:
    fund(admin, alice, "USDT", "50000")
    fund(admin, alice, "BTC", "1")
    key = alice.new_api_key(["READ", "TRADE", "WITHDRAW"], allowlist=["127.0.0.1/32"])
    placed = key.post_form("/api/v3/order", {**LIMIT_BUY, "newClientOrderId": "open-1"})
    assert placed.status_code == 200, placed.body
    withdrawal = client.http.post(
        "/v1/withdrawals", headers={**alice.headers(), "Idempotency-Key": "w-open"},
        body=json.dumps({"asset": "BTC", "amount": "0.1", "address": "bc1qdest"}))
    assert withdrawal.status_code == 201, withdrawal.body
    keys = alice.get("/v1/api-keys").json_body["apiKeys"]
    return World(client, admin, alice, key, placed.json_body["orderId"],
                 int(withdrawal.json_body["id"]), int(keys[0]["id"]))


def snapshot(db: Conn) -> dict[str, tuple[Any, ...] | None]:
    """Row count and a checksum of every row of each table a request could change."""
    return {table: db.execute(sql.SQL(
        "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {} t"
    ).format(sql.Identifier(table))).fetchone() for table in TABLES}


Call = Callable[[World], Any]


def order_form(path: str, **change: str) -> Call:
    return lambda w: w.key.post_form(path, {**LIMIT_BUY, **change})


def list_form(path: str, base: dict[str, str], **change: str) -> Call:
    return lambda w: w.key.post_form(path, {**base, **change})


def cancel_replace(**change: object) -> Call:
    return lambda w: w.key.post_form("/api/v3/order/cancelReplace", {
        **LIMIT_BUY, "cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": w.order_id,
        "price": "19000", **change})


def cancel(**change: object) -> Call:
    return lambda w: w.key.delete("/api/v3/order",
                                  {"symbol": "BTCUSDT", "orderId": w.order_id, **change})


def amend(**change: object) -> Call:
    return lambda w: w.key.put("/api/v3/order/amend/keepPriority", {
        "symbol": "BTCUSDT", "orderId": w.order_id, "newQty": "0.25", **change})


def cancel_all(**change: str) -> Call:
    return lambda w: w.key.delete("/api/v3/openOrders", {"symbol": "BTCUSDT", **change})


def withdraw_apply(**change: str) -> Call:
    return lambda w: w.key.post_form("/sapi/v1/capital/withdraw/apply", {
        "coin": "BTC", "address": "bc1qdest", "amount": "0.1", **change})


def withdraw(headers: dict[str, str] | None = None, **change: object) -> Call:
    def call(w: World) -> Any:
        body = {"asset": "BTC", "amount": "0.1", "address": "bc1qdest", **change}
        return w.client.http.post(
            "/v1/withdrawals", body=json.dumps(body),
            headers={**w.alice.headers(), "Idempotency-Key": "w-new", **(headers or {})})
    return call


def new_key(**change: object) -> Call:
    return lambda w: w.alice.post("/v1/api-keys", {"permissions": ["READ"], **change})


def delete_key(key_id: str) -> Call:
    return lambda w: w.alice.delete(f"/v1/api-keys/{key_id}")


def admin_post(path: str, **body: object) -> Call:
    return lambda w: w.admin.post(path, body)


def admin_patch(path: str, **body: object) -> Call:
    return lambda w: w.client.http.patch(path, headers=w.admin.headers(), body=json.dumps(body))


def decide(action: str, withdrawal_id: str) -> Call:
    return lambda w: w.admin.post(f"/v1/admin/withdrawals/{withdrawal_id}/{action}", {})


def fee_tiers(**change: object) -> Call:
    tier = {"tier": 1, "volumeAsset": "USDT", "minVolume": "1000", "makerFeePpm": 500,
            "takerFeePpm": 800, **change}
    return lambda w: w.client.http.put("/v1/admin/fee-tiers", headers=w.admin.headers(),
                                       body=json.dumps({"tiers": [tier]}))


NEW_ASSET = {"symbol": "ETH", "scale": 8}
NEW_MARKET = {"symbol": "ETHUSDT", "baseAsset": "BTC", "quoteAsset": "USDT", "tickSize": "0.01",
              "stepSize": "0.0001", "minQty": "0.0001", "maxQty": "1000"}
DEPOSIT = {"asset": "BTC", "amount": "1", "txid": "bad-deposit"}


# Order forms refused whatever the route: each value of a field in turn...
BAD_ORDER_FIELDS = {
    "newOrderRespType": ["BOGUS"],
    "newClientOrderId": ["not valid!", "x" * 37, "open-1"],  # the last one is taken
    "selfTradePreventionMode": ["BOGUS"],
    "side": ["HOLD"],
    "type": ["STOP"],
    "timeInForce": ["DAY", ""],
    "quantity": ["abc", "²", "-1", "0.000000001", "0.00015", "100"],  # 100: unaffordable
    "price": ["20000.001", "0", "2e4"],
    "quoteOrderQty": ["100"],
    "symbol": ["BTC\x00USDT", "NOPE", "BTC/USDT!"],
}
# ... and fields that are wrong together.
# Stop orders: a valid STOP_LOSS_LIMIT buy but for one field.
STOP_LIMIT = {"type": "STOP_LOSS_LIMIT", "stopPrice": "20100"}
BAD_STOP_FIELDS = {"stopPrice": ["abc", "0", "20100.001", ""], "trailingDelta": ["100"],
                   "type": ["STOP_LOSS_MARKET"]}
# Order lists, each valid as it stands (test_the_list_forms_are_accepted) but for the
# field a case changes.
OCO = {"symbol": "BTCUSDT", "side": "SELL", "quantity": "0.1", "aboveType": "LIMIT_MAKER",
       "abovePrice": "21000", "belowType": "STOP_LOSS_LIMIT", "belowPrice": "19000",
       "belowStopPrice": "19100", "belowTimeInForce": "GTC"}
OLD_OCO = {"symbol": "BTCUSDT", "side": "SELL", "quantity": "0.1", "price": "21000",
           "stopPrice": "19100", "stopLimitPrice": "19000", "stopLimitTimeInForce": "GTC"}
OTO = {"symbol": "BTCUSDT", "workingType": "LIMIT", "workingSide": "BUY",
       "workingPrice": "19000", "workingQuantity": "0.1", "workingTimeInForce": "GTC",
       "pendingType": "LIMIT_MAKER", "pendingSide": "SELL", "pendingPrice": "21000",
       "pendingQuantity": "0.1"}
OTOCO = {key: value for key, value in OTO.items() if not key.startswith("pending")} | {
    "pendingSide": "SELL", "pendingQuantity": "0.1", "pendingAboveType": "LIMIT_MAKER",
    "pendingAbovePrice": "21000", "pendingBelowType": "STOP_LOSS_LIMIT",
    "pendingBelowPrice": "18000", "pendingBelowStopPrice": "18100",
    "pendingBelowTimeInForce": "GTC"}
LISTS = {"/api/v3/orderList/oco": OCO, "/api/v3/order/oco": OLD_OCO,
         "/api/v3/orderList/oto": OTO, "/api/v3/orderList/otoco": OTOCO}
BAD_LIST_FIELDS = {
    "/api/v3/orderList/oco": {"quantity": ["abc", "100"], "abovePrice": ["0", "21000.001"],
                              "belowStopPrice": ["abc"], "belowType": ["MARKET"],
                              "aboveType": ["BOGUS"], "side": ["HOLD"],
                              "listClientOrderId": ["not valid!"]},
    "/api/v3/order/oco": {"quantity": ["0"], "price": ["abc"], "stopPrice": [""],
                          "stopLimitTimeInForce": ["DAY"]},
    "/api/v3/orderList/oto": {"workingQuantity": ["100"], "workingPrice": ["-1"],
                              "pendingQuantity": ["abc"], "pendingType": ["BOGUS"],
                              "workingType": ["MARKET"]},
    "/api/v3/orderList/otoco": {"pendingAbovePrice": ["abc"], "pendingBelowStopPrice": ["0"],
                                "workingQuantity": ["100"], "pendingQuantity": ["0"]},
}
BAD_ORDER_FORMS = {
    "notionalOverflow": {"price": "99999999999999999999", "quantity": "999999"},
    "tifOnMarket": {"type": "MARKET", "price": "", "timeInForce": "GTC"},
    "quoteQtyOverflow": {"type": "MARKET", "price": "", "timeInForce": "", "quantity": "",
                         "quoteOrderQty": "9" * 40},
}


def each_value(route: str, call: Callable[..., Call],
               fields: dict[str, list[Any]]) -> list[Any]:
    """One case per bad value of each field of ``route``'s request."""
    return [pytest.param(call(**{field: value}), id=f"{route}-{field}={value!r}")
            for field, values in fields.items() for value in values]


def order_cases(path: str) -> list[Any]:
    def order(**change: str) -> Call:
        return order_form(path, **change)

    return [*each_value(path, order, BAD_ORDER_FIELDS),
            *(pytest.param(order(**change), id=f"{path}-{label}")
              for label, change in BAD_ORDER_FORMS.items())]


CASES = [
    *order_cases("/api/v3/order"),
    *order_cases("/api/v3/order/test"),
    *each_value("stopOrder", lambda **change: order_form("/api/v3/order",
                                                         **{**STOP_LIMIT, **change}),
                BAD_STOP_FIELDS),
    *(case for path, fields in BAD_LIST_FIELDS.items() for case in each_value(
        path, lambda path=path, **change: list_form(path, LISTS[path], **change), fields)),
    # (An unaffordable new order is no refusal: as on Binance, the cancel goes first and
    # its release may pay for it.)
    *each_value("cancelReplace", cancel_replace, {
        "quantity": ["abc", "0.000000001"], "price": ["20000.001"], "type": ["BOGUS"],
        "cancelReplaceMode": ["BOGUS", ""], "cancelOrderId": ["abc", BIGINT_PLUS_ONE],
        "cancelRestrictions": ["ONLY_FILLED"]}),
    *each_value("feeTiers", fee_tiers, {"tier": [0, 101], "volumeAsset": ["NOPE"],
                                        "minVolume": ["abc", "-1"], "makerFeePpm": [-1],
                                        "takerFeePpm": [100_001]}),
    *each_value("cancel", cancel, {
        "orderId": ["²", BIGINT_PLUS_ONE, "abc", "", "999999"],  # the last one: unknown
        "origClientOrderId": ["x" * 37],
        "newClientOrderId": ["not valid!"],
        "symbol": ["NOPE", "BTC\x00USDT"]}),
    *each_value("amend", amend, {
        "newQty": ["abc", "0", "²", "0.6", "0.000000001", ""],  # 0.6: more than the order's
        "orderId": ["²", BIGINT_PLUS_ONE],
        "newClientOrderId": ["not valid!"],
        "symbol": ["NOPE"]}),
    *each_value("cancelAll", cancel_all, {"symbol": ["NOPE", "", "BTC\x00USDT"]}),
    *each_value("withdrawApply", withdraw_apply, {
        "coin": ["NOPE", "BTC\x00"],
        "amount": ["abc", "-1", "²", "0", "100"],  # 100: more than Alice has
        "address": ["", "bc1\x00q"]}),
    *each_value("withdraw", withdraw, {
        "amount": ["abc", "0", "9" * 60],
        "asset": ["BTC\x00", "NOPE"],
        "address": ["bc1\x00q"],
        "headers": [{"Idempotency-Key": ""}]}),
    *each_value("apiKeys", new_key, {
        "permissions": [["BOGUS"]], "ipAllowlist": [["not-an-ip"]], "label": ["a\x00b"]}),
    pytest.param(delete_key("²"), id="deleteKey-superscript"),
    pytest.param(delete_key(BIGINT_PLUS_ONE), id="deleteKey-huge"),
    pytest.param(delete_key("999999"), id="deleteKey-unknown"),
    pytest.param(admin_post("/v1/admin/assets", **{**NEW_ASSET, "scale": 99}), id="asset-scale"),
    pytest.param(admin_post("/v1/admin/assets", **{**NEW_ASSET, "symbol": "E\x00H"}),
                 id="asset-symbolNul"),
    pytest.param(admin_post("/v1/admin/assets", **{**NEW_ASSET, "symbol": "BTC"}),
                 id="asset-duplicate"),
    pytest.param(admin_post("/v1/admin/markets", **{**NEW_MARKET, "tickSize": "abc"}),
                 id="market-tickSize"),
    pytest.param(admin_post("/v1/admin/markets", **{**NEW_MARKET, "baseAsset": "NOPE"}),
                 id="market-baseAsset"),
    pytest.param(admin_post("/v1/admin/markets", **{**NEW_MARKET, "symbol": "E\x00USDT"}),
                 id="market-symbolNul"),
    pytest.param(admin_patch("/v1/admin/markets/BTCUSDT", tickSize="abc"), id="patch-tickSize"),
    pytest.param(admin_patch("/v1/admin/markets/BTCUSDT", makerFeePpm=-1), id="patch-fee"),
    pytest.param(admin_patch("/v1/admin/markets/NOPE", tickSize="0.1"), id="patch-unknown"),
    pytest.param(admin_post("/v1/admin/markets/NOPE/halt"), id="halt-unknown"),
    pytest.param(admin_post("/v1/admin/markets/NOPE/resume"), id="resume-unknown"),
    pytest.param(admin_post("/v1/admin/deposits", **{**DEPOSIT, "amount": "abc"}, userId=1),
                 id="deposit-amount"),
    pytest.param(admin_post("/v1/admin/deposits", **DEPOSIT, userId=2**63), id="deposit-userId"),
    pytest.param(admin_post("/v1/admin/deposits", **{**DEPOSIT, "asset": "NOPE"}, userId=1),
                 id="deposit-asset"),
    pytest.param(admin_post("/v1/admin/deposits", **{**DEPOSIT, "asset": "B\x00"}, userId=1),
                 id="deposit-assetNul"),
    pytest.param(decide("approve", "²"), id="approve-superscript"),
    pytest.param(decide("approve", BIGINT_PLUS_ONE), id="approve-huge"),
    pytest.param(decide("approve", "999999"), id="approve-unknown"),
    pytest.param(decide("reject", "²"), id="reject-superscript"),
    pytest.param(decide("reject", "abc"), id="reject-text"),
]


@pytest.mark.parametrize("path", sorted(LISTS))
def test_the_list_forms_are_accepted(world: World, path: str) -> None:
    """The base of each list's cases is valid: each case refuses its one change."""
    placed = list_form(path, LISTS[path])(world)
    assert placed.status_code == 200, placed.body


@pytest.mark.parametrize("call", CASES)
def test_a_rejected_request_changes_nothing(world: World, db: Conn, api_settings: Settings,
                                            call: Call) -> None:
    tables_before = snapshot(db)
    topic_before = watermarks(api_settings)

    response = call(world)

    assert 400 <= response.status_code < 500, response.body
    assert set(response.json_body) == {"code", "msg"}, response.body
    assert response.json_body["code"] < 0
    assert snapshot(db) == tables_before
    assert watermarks(api_settings) == topic_before
    assert_ledger_invariants(db)
