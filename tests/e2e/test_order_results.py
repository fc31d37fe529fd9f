"""RESULT and FULL answers through the API with a real matcher: the request waits for
the matcher's word over Redis (``adapters.settled_orders``) instead of polling
PostgreSQL, and still answers with the order as it is when no word comes."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import psycopg
import pytest
import redis

from chalicelib.adapters.settled_orders import SettledOrderNotices
from chalicelib.bootstrap import Services, bootstrap_api
from chalicelib.entrypoints.http.exchange_app import ExchangeApp
from chalicelib.settings import Settings
from tests.e2e.conftest import ApiKey, Caller, fund
from tests.support.ledger import assert_ledger_invariants

Conn = psycopg.Connection[Any]
Unit = Callable[..., AbstractContextManager[Any]]


@pytest.fixture
def buyer(admin: Caller, alice: Caller, btcusdt: str) -> ApiKey:
    fund(admin, alice, "USDT", "10000")
    return alice.new_api_key(["READ", "TRADE"])


@pytest.fixture
def seller(admin: Caller, bob: Caller, btcusdt: str) -> ApiKey:
    fund(admin, bob, "BTC", "1")
    return bob.new_api_key(["READ", "TRADE"])


class CountedUnits:
    """How many units of work (each a round trip or a transaction) the API ran."""

    def __init__(self) -> None:
        self.count = 0

    def wrap(self, unit: Unit) -> Unit:
        def counted(*args: Any, **kwargs: Any) -> AbstractContextManager[Any]:
            self.count += 1
            return unit(*args, **kwargs)
        return counted

    def services(self, services: Services, **changes: Any) -> Services:
        return dataclasses.replace(
            services, db=self.wrap(services.db), single_read=self.wrap(services.single_read),
            single_write=self.wrap(services.single_write), **changes)


def counted_api(api_app: ExchangeApp, settings: Settings, **changes: Any) -> CountedUnits:
    units = CountedUnits()
    api_app.use_services(units.services(bootstrap_api(settings), **changes))
    return units


@pytest.fixture
def restore_api(api_app: ExchangeApp, api_settings: Settings) -> Iterator[None]:
    yield
    api_app.use_services(bootstrap_api(api_settings))


def placed(key: ApiKey, units: CountedUnits, **params: str) -> tuple[dict[str, Any], int]:
    """The answer to a placement and the units of work it took."""
    before = units.count
    response = key.post_form("/api/v3/order", {"symbol": "BTCUSDT", **params})
    assert response.status_code == 200, response.body
    return dict(response.json_body), units.count - before


def ack_units(buyer: ApiKey, units: CountedUnits) -> int:
    """The units of work of an ACK placement, once the API has kept the market."""
    for _ in range(2):
        _, used = placed(buyer, units, side="BUY", type="LIMIT", timeInForce="GTC",
                         quantity="0.01", price="19000", newOrderRespType="ACK")
    return used


def test_a_full_answer_waits_for_the_fill_with_two_reads_at_most(
    api_app: ExchangeApp, matcher: Settings, buyer: ApiKey, seller: ApiKey, db: Conn
) -> None:
    units = counted_api(api_app, matcher)
    ack = ack_units(buyer, units)
    placed(seller, units, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.5",
           price="20000", newOrderRespType="ACK")

    bid, full_units = placed(buyer, units, side="BUY", type="LIMIT", timeInForce="GTC",
                             quantity="0.2", price="20100", newOrderRespType="FULL")

    assert (bid["status"], bid["executedQty"]) == ("FILLED", "0.20000000")
    assert [(f["price"], f["qty"]) for f in bid["fills"]] == [("20000.000000", "0.20000000")]
    # The order read once, on the matcher's word, then its fills: not once every few
    # milliseconds while the matcher works.
    assert full_units <= ack + 2
    assert_ledger_invariants(db)


def test_an_ioc_left_unfilled_is_answered_expired(
    api_app: ExchangeApp, matcher: Settings, buyer: ApiKey, db: Conn
) -> None:
    units = counted_api(api_app, matcher)
    ack = ack_units(buyer, units)

    ioc, result_units = placed(buyer, units, side="BUY", type="LIMIT", timeInForce="IOC",
                               quantity="0.1", price="20000", newOrderRespType="RESULT")

    assert (ioc["status"], ioc["executedQty"]) == ("EXPIRED", "0.00000000")
    assert result_units <= ack + 1
    assert_ledger_invariants(db)


@pytest.mark.usefixtures("restore_api")
def test_with_no_matcher_the_order_is_answered_new_after_one_read_at_the_deadline(
    api_app: ExchangeApp, api_settings: Settings, buyer: ApiKey
) -> None:
    units = counted_api(api_app, api_settings.model_copy(update={"order_result_wait_ms": 500}))
    ack = ack_units(buyer, units)

    result, result_units = placed(buyer, units, side="BUY", type="LIMIT", timeInForce="GTC",
                                  quantity="0.01", price="19000", newOrderRespType="RESULT")

    assert (result["status"], result["executedQty"]) == ("NEW", "0.00000000")
    # Read at the deadline only: polling every 10 ms read it 50 times.
    assert result_units == ack + 1


def test_a_lost_word_still_answers_with_the_settled_order_at_the_deadline(
    api_app: ExchangeApp, matcher: Settings, buyer: ApiKey, seller: ApiKey,
    redis_client: redis.Redis, db: Conn
) -> None:
    # A subscription on a channel the matcher never publishes to: every word is lost.
    deaf = SettledOrderNotices(redis_client, f"order-settled:lost-{uuid.uuid4().hex}")
    settings = matcher.model_copy(update={"order_result_wait_ms": 3000})
    units = counted_api(api_app, settings, settled_orders=deaf)
    try:
        ack = ack_units(buyer, units)
        placed(seller, units, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.5",
               price="20000", newOrderRespType="ACK")

        bid, result_units = placed(buyer, units, side="BUY", type="LIMIT",
                                   timeInForce="GTC", quantity="0.2", price="20100",
                                   newOrderRespType="RESULT")
    finally:
        deaf.close()

    assert (bid["status"], bid["executedQty"], bid["cummulativeQuoteQty"]) == (
        "FILLED", "0.20000000", "4000.000000")
    assert result_units <= ack + 1
    assert_ledger_invariants(db)
