"""Order intake through the API before any matching: filters, locks, the outbox and
the publish to Kafka, duplicates, halts, and the sweeper after a lost publish."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from confluent_kafka import TopicPartition

from chalicelib.adapters.kafka import make_consumer
from chalicelib.bootstrap import bootstrap_sweeper
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import CommandKind, SelfTradePrevention, Side
from chalicelib.service_layer import orders
from chalicelib.settings import Settings
from lambdas.sweeper import sweep
from tests.e2e.conftest import ApiKey, Caller, fund
from tests.integration.matching.support import new_order
from tests.support.ledger import assert_ledger_invariants

Conn = psycopg.Connection[Any]
LIMIT_BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
             "quantity": "0.5", "price": "20000", "newOrderRespType": "ACK"}


@pytest.fixture
def trader(admin: Caller, alice: Caller, btcusdt: str) -> ApiKey:
    fund(admin, alice, "USDT", "15000")
    fund(admin, alice, "BTC", "1")
    return alice.new_api_key(["READ", "TRADE"])


def balances(key: ApiKey) -> dict[str, tuple[str, str]]:
    account = key.get("/api/v3/account").json_body
    return {b["asset"]: (b["free"], b["locked"]) for b in account["balances"]}


def watermarks(settings: Settings) -> list[TopicPartition]:
    """Where each partition of the orders topic ends now."""
    consumer = make_consumer(settings.kafka_bootstrap_servers, "watermarks")
    try:
        partitions = consumer.list_topics(settings.orders_topic, timeout=10).topics[
            settings.orders_topic].partitions
        return [TopicPartition(settings.orders_topic, p,
                               consumer.get_watermark_offsets(
                                   TopicPartition(settings.orders_topic, p), timeout=10)[1])
                for p in partitions]
    finally:
        consumer.close()


@pytest.fixture
def topic_start(api_settings: Settings) -> list[TopicPartition]:
    return watermarks(api_settings)


def commands_since(settings: Settings, start: list[TopicPartition]) -> list[OrderCommand]:
    """Every command published to the orders topic after `start`."""
    end = {tp.partition: tp.offset for tp in watermarks(settings)}
    consumer = make_consumer(settings.kafka_bootstrap_servers, "probe")
    consumer.assign(start)
    found: list[OrderCommand] = []
    try:
        remaining = sum(end[tp.partition] - tp.offset for tp in start)
        while remaining > 0:
            message = consumer.poll(5)
            assert message is not None, "published commands did not arrive"
            found.append(OrderCommand.decode(message.value() or b""))
            remaining -= 1
    finally:
        consumer.close()
    return found


def test_a_limit_order_locks_its_notional_and_reaches_the_orders_topic(
    trader: ApiKey, api_settings: Settings, db: Conn, topic_start: list[TopicPartition]
) -> None:
    placed = trader.post_form("/api/v3/order", LIMIT_BUY)

    assert placed.status_code == 200, placed.body
    assert set(placed.json_body) == {"symbol", "orderId", "orderListId", "clientOrderId",
                                     "transactTime"}
    assert balances(trader)["USDT"] == ("5000.000000", "10000.000000")
    published = commands_since(api_settings, topic_start)
    assert len(published) == 1
    assert (published[0].kind, published[0].price, published[0].qty) == (
        CommandKind.PLACE, 20_000_000_000, 50_000_000)
    assert db.execute("SELECT payload FROM order_commands").fetchall() == [
        (json.loads(published[0].encode()),)]
    assert_ledger_invariants(db)


# Binance's code for each refused change of LIMIT_BUY.
REFUSALS: dict[int, list[dict[str, str]]] = {
    # a filter: the price's tick, the quantity's step, the minimum notional, the maximum
    -1013: [{"price": "20000.001"}, {"quantity": "0.00015"},
            {"quantity": "0.0001", "price": "100"}, {"quantity": "1001"}],
    -1111: [{"price": "20000.0000001"}, {"quantity": "0.000000001"}],  # too many decimals
    # missing, or not what the parameter allows
    -1102: [{"price": "0"}, {"quantity": ""}, {"quantity": "abc"},
            {"newClientOrderId": "x" * 37}],
    -1117: [{"side": "HOLD"}],
    -1116: [{"type": "STOP"}],
    -1115: [{"timeInForce": "DAY"}],
    -1121: [{"symbol": "NOPE"}],
    -1106: [{"type": "MARKET", "timeInForce": ""}],  # a parameter the type does not take
}


@pytest.mark.parametrize(("change", "code"), [
    (change, code) for code, changes in REFUSALS.items() for change in changes])
def test_bad_parameters_and_filter_failures_lock_nothing(
    trader: ApiKey, db: Conn, change: dict[str, str], code: int
) -> None:
    response = trader.post_form("/api/v3/order", {**LIMIT_BUY, **change})

    assert (response.status_code, response.json_body["code"]) == (400, code)
    assert balances(trader)["USDT"] == ("15000.000000", "0.000000")
    assert db.execute("SELECT count(*) FROM orders").fetchone() == (0,)


def test_insufficient_funds_change_nothing(trader: ApiKey, db: Conn) -> None:
    response = trader.post_form("/api/v3/order", {**LIMIT_BUY, "quantity": "0.8"})

    assert (response.status_code, response.json_body["code"]) == (400, -2010)
    assert "insufficient balance" in response.json_body["msg"]
    assert balances(trader)["USDT"] == ("15000.000000", "0.000000")
    assert db.execute("SELECT count(*) FROM orders").fetchone() == (0,)
    assert_ledger_invariants(db)


def test_a_halted_market_refuses_new_orders(trader: ApiKey, admin: Caller) -> None:
    admin.post("/v1/admin/markets/BTCUSDT/halt", {})

    response = trader.post_form("/api/v3/order", LIMIT_BUY)

    assert (response.status_code, response.json_body) == (
        400, {"code": -2010, "msg": "Market is closed."})
    assert balances(trader)["USDT"] == ("15000.000000", "0.000000")


def test_a_client_order_id_in_use_by_an_open_order_is_a_duplicate(trader: ApiKey) -> None:
    first = trader.post_form("/api/v3/order", {**LIMIT_BUY, "newClientOrderId": "my-1"})
    again = trader.post_form("/api/v3/order", {**LIMIT_BUY, "newClientOrderId": "my-1"})

    assert first.status_code == 200
    assert (again.status_code, again.json_body["code"]) == (400, -2010)
    assert "Duplicate" in again.json_body["msg"]
    assert balances(trader)["USDT"] == ("5000.000000", "10000.000000")


def test_order_test_validates_without_placing(trader: ApiKey, db: Conn) -> None:
    good = trader.post_form("/api/v3/order/test", LIMIT_BUY)
    bad = trader.post_form("/api/v3/order/test", {**LIMIT_BUY, "price": "1"})

    assert (good.status_code, good.json_body) == (200, {})
    assert bad.json_body["code"] == -1013
    assert db.execute("SELECT count(*) FROM orders").fetchone() == (0,)


def test_a_read_only_key_cannot_trade(alice: Caller, trader: ApiKey) -> None:
    reader = alice.new_api_key(["READ"])

    assert reader.post_form("/api/v3/order", LIMIT_BUY).json_body["code"] == -2015


def test_orders_are_queried_by_id_or_client_id_and_only_by_their_owner(
    trader: ApiKey, bob: Caller
) -> None:
    placed = trader.post_form("/api/v3/order", {**LIMIT_BUY, "newClientOrderId": "q-1"})
    order_id = placed.json_body["orderId"]

    by_id = trader.get("/api/v3/order", {"symbol": "BTCUSDT", "orderId": order_id})
    by_client = trader.get("/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "q-1"})
    stranger = bob.new_api_key(["READ", "TRADE"])

    assert by_id.json_body == by_client.json_body
    assert (by_id.json_body["status"], by_id.json_body["price"]) == ("NEW", "20000.000000")
    assert stranger.get("/api/v3/order", {"symbol": "BTCUSDT", "orderId": order_id}
                        ).json_body["code"] == -2013
    assert stranger.delete("/api/v3/order", {"symbol": "BTCUSDT", "orderId": order_id}
                           ).json_body["code"] == -2013
    assert [o["orderId"] for o in trader.get("/api/v3/openOrders", {"symbol": "BTCUSDT"}
                                             ).json_body] == [order_id]
    assert stranger.get("/api/v3/openOrders", {"symbol": "BTCUSDT"}).json_body == []


def test_a_command_committed_but_never_published_is_published_by_the_sweeper(
    trader: ApiKey, alice: Caller, api_settings: Settings, db: Conn,
    topic_start: list[TopicPartition],
) -> None:
    crashed = new_order(alice.user_id, Side.SELL, price=30_000_000_000, qty=10_000_000,
                        stp=SelfTradePrevention.EXPIRE_MAKER, market="BTCUSDT",
                        client_order_id="crashed-1")
    order_id, _command = orders.place_order(db, crashed)  # the API died here
    sweeper = bootstrap_sweeper(api_settings.model_copy(update={"sweeper_threshold_seconds": 1}))

    db.execute("UPDATE order_commands SET created_at = created_at - interval '2 seconds'")
    assert sweep(sweeper) == 1
    assert sweep(sweeper) == 0
    sweeper.close()

    published = commands_since(api_settings, topic_start)
    assert [(c.kind, c.order_id) for c in published] == [(CommandKind.PLACE, order_id)]
    payload = db.execute("SELECT payload::text FROM order_commands").fetchone()
    assert payload is not None
    assert json.loads(payload[0])["order_id"] == order_id
    assert_ledger_invariants(db)


def test_a_deleted_key_places_nothing_more_though_it_was_kept(
        alice: Caller, trader: ApiKey, db: Conn) -> None:
    # The first placement keeps the key in the container; the second is checked against
    # the database by its own statement, with no read of the key before it.
    assert trader.post_form("/api/v3/order", LIMIT_BUY).status_code == 200
    [key] = alice.get("/v1/api-keys").json_body["apiKeys"]
    assert alice.delete(f"/v1/api-keys/{key['id']}").status_code == 200
    before = db.execute("SELECT count(*) FROM orders").fetchone()

    # Affordable: only the key's deletion refuses it.
    refused = trader.post_form("/api/v3/order", {**LIMIT_BUY, "quantity": "0.1"})

    assert (refused.status_code, refused.json_body["code"]) == (401, -2015)
    assert db.execute("SELECT count(*) FROM orders").fetchone() == before
    assert db.execute("SELECT locked FROM balances WHERE account_kind = 'USER'"
                      " AND user_id = %s AND asset = 'USDT'",
                      (trader_user(db, key["id"]),)).fetchone() == (10_000 * 10**6,)
    assert_ledger_invariants(db)


def trader_user(db: Conn, key_id: int) -> int:
    row = db.execute("SELECT user_id FROM api_keys WHERE id = %s", (key_id,)).fetchone()
    assert row is not None
    return int(row[0])
