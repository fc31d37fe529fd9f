"""What every client meets before any feature: unknown paths and methods answer in the
error format with a code, through each library and over the in-process gateway."""

from __future__ import annotations

import pytest
from binance.error import ClientError
from binance.exceptions import BinanceAPIException
from chalice.test import Client

from tests.e2e.clients.conftest import connector, python_binance
from tests.e2e.clients.shapes_support import assert_shaped_like, example

NOT_SUPPORTED = -1020


def test_python_binance_sees_an_unknown_path_as_an_error_with_a_code(api_url: str) -> None:
    with pytest.raises(BinanceAPIException) as raised:
        python_binance(api_url)._get("noSuchRoute")

    assert (raised.value.status_code, raised.value.code) == (404, NOT_SUPPORTED)


def test_the_connector_sees_an_unknown_path_as_an_error_with_a_code(api_url: str) -> None:
    with pytest.raises(ClientError) as raised:
        connector(api_url).query("/sapi/v1/no/such/route")

    assert (raised.value.status_code, raised.value.error_code) == (404, NOT_SUPPORTED)
    assert "not supported" in raised.value.error_message


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/"), ("get", "/nope"), ("post", "/api/v3/nope"), ("delete", "/a/b/c/d/"),
    ("put", "/sapi/v1/capital/nope"), ("patch", "/api/v3/order/nope"), ("head", "/x/y"),
])
def test_any_unknown_path_and_method_answers_404_in_the_error_format(
        client: Client, method: str, path: str) -> None:
    response = getattr(client.http, method)(path)

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    if method != "head":
        assert response.json_body["code"] == NOT_SUPPORTED


def test_a_known_path_keeps_winning_over_the_catch_all(client: Client) -> None:
    assert client.http.get("/api/v3/ping").json_body == {}
    assert client.http.get("/v1/withdrawals/12").status_code == 401


def test_a_known_path_with_a_method_it_lacks_answers_405_in_the_error_format(
        client: Client) -> None:
    response = client.http.post("/api/v3/time")

    assert response.status_code == 405
    assert response.json_body == {"code": NOT_SUPPORTED, "msg": "Unsupported method: POST"}


def test_exchange_info_has_every_field_binance_documents(api_url: str, btcusdt: str) -> None:
    info = python_binance(api_url).get_exchange_info()

    # Binance sends `sors` only where its smart order routing runs; here it does not.
    assert_shaped_like(info, example("exchange_info"), optional=frozenset({"sors"}))
    (market,) = info["symbols"]
    assert (market["symbol"], market["permissionSets"]) == (btcusdt, [["SPOT"]])


@pytest.mark.parametrize(("permissions", "listed"), [
    (["SPOT"], True), (["SPOT", "MARGIN"], True), (["MARGIN", "LEVERAGED"], False),
])
def test_the_connector_filters_exchange_info_by_permissions(
        api_url: str, btcusdt: str, permissions: list[str], listed: bool) -> None:
    info = connector(api_url).exchange_info(permissions=permissions)

    assert [s["symbol"] for s in info["symbols"]] == ([btcusdt] if listed else [])


def test_exchange_info_filters_by_status_and_can_hide_permission_sets(
        client: Client, btcusdt: str) -> None:
    trading = client.http.get("/api/v3/exchangeInfo?symbolStatus=TRADING&permissions=SPOT"
                              "&showPermissionSets=false").json_body["symbols"]
    halted = client.http.get("/api/v3/exchangeInfo?symbolStatus=HALT").json_body["symbols"]

    assert [(s["symbol"], s["permissionSets"]) for s in trading] == [(btcusdt, [])]
    assert halted == []


@pytest.mark.parametrize(("query", "code"), [
    ("symbol=BTCUSDT&permissions=SPOT", -1128),
    ("symbols=%5B%22BTCUSDT%22%5D&symbolStatus=TRADING", -1128),
    ("symbolStatus=OPEN", -1122),
    ("permissions=spot", -1102),
])
def test_exchange_info_refuses_bad_filters_as_binance_does(
        client: Client, btcusdt: str, query: str, code: int) -> None:
    response = client.http.get(f"/api/v3/exchangeInfo?{query}")

    assert (response.status_code, response.json_body["code"]) == (400, code)
