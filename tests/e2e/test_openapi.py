"""The OpenAPI document served at /openapi.json: valid OpenAPI 3.1, exactly the app's
routes (both ways), each described with the pydantic classes its handler parses with."""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest
from chalice.app import Chalice
from chalice.test import Client
from openapi_spec_validator import validate
from pydantic import BaseModel

from chalicelib.entrypoints.http.exchange_app import CATCH_ALL_PATHS
from chalicelib.entrypoints.http.openapi import openapi_document
from chalicelib.entrypoints.http.route_doc_kinds import Auth, RouteDoc
from chalicelib.entrypoints.http.route_docs import ROUTES

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
PARSERS = {"parse_query", "parse_body", "parse_params"}
# Handlers that still read their parameters by hand; their owners convert them to the
# declared model (then this test XPASSes strictly and the entry goes).
PARSED_BY_HAND: set[tuple[str, str]] = set()


def app_routes(app: Chalice) -> set[tuple[str, str]]:
    """The API's routes. The catch-all answering unknown paths with 404 is not one: a
    client has nothing to call there, and `{proxy+}` is no OpenAPI path template."""
    return {(method, path) for path, methods in app.routes.items() for method in methods
            if path not in CATCH_ALL_PATHS}


def document_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method in METHODS}


def test_the_served_document_is_valid_openapi_3_1(client: Client) -> None:
    response = client.http.get("/openapi.json")

    assert response.status_code == 200, response.body
    assert response.headers["Content-Type"] == "application/json"
    document = response.json_body
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document == openapi_document()


def test_the_document_is_public_and_weighs_one(client: Client) -> None:
    first = client.http.get("/openapi.json")
    second = client.http.get("/openapi.json")

    assert (first.status_code, second.status_code) == (200, 200)
    assert int(second.headers["X-MBX-USED-WEIGHT-1M"]) - int(
        first.headers["X-MBX-USED-WEIGHT-1M"]) == 1


def test_every_route_of_the_app_is_in_the_document_and_nothing_else(api_app: Chalice) -> None:
    in_app, documented = app_routes(api_app), document_routes(openapi_document())

    assert in_app - documented == set(), "routes missing from route_docs.ROUTES"
    assert documented - in_app == set(), "documented routes the app does not serve"
    assert len(ROUTES) == len(documented), "a route is declared twice"


@pytest.fixture(scope="module")
def views(api_app: Chalice) -> dict[tuple[str, str], Any]:
    return {(method, path): entry for path, methods in api_app.routes.items()
           for method, entry in methods.items()}


def route_id(route: RouteDoc) -> str:
    return f"{route.method} {route.path}"


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_each_declaration_names_the_handler_the_app_runs(
        views: dict[tuple[str, str], Any], route: RouteDoc) -> None:
    entry = views[(route.method, route.path)]

    assert entry.view_function is route.handler
    assert [p.name for p in route.path_params] == entry.view_args


def names_used(function: Callable[..., Any]) -> set[str]:
    """The names a function's code refers to, following its module's own functions that
    it calls (and the lambdas it holds), as far as a handler delegates."""
    module = sys.modules[function.__module__]
    names: set[str] = set()
    codes = [inspect.unwrap(function).__code__]
    while codes:
        code = codes.pop()
        codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
        for name in set(code.co_names) - names:
            names.add(name)
            target = getattr(module, name, None)
            if inspect.isfunction(target) and target.__module__ == module.__name__:
                codes.append(target.__code__)
    return names


def parses_with(handler: Callable[..., Any], model: type[BaseModel]) -> bool:
    module = sys.modules[handler.__module__]
    return model.__name__ in names_used(handler) and getattr(
        module, model.__name__, model) is model


def declared_models(route: RouteDoc) -> list[type[BaseModel]]:
    return [m for m in (route.params, route.body) if m is not None]


@pytest.mark.parametrize("route", [
    pytest.param(r, id=route_id(r), marks=pytest.mark.xfail(
        strict=True, reason="the handler reads its parameters by hand"))
    if (r.method, r.path) in PARSED_BY_HAND else pytest.param(r, id=route_id(r))
    for r in ROUTES])
def test_each_declared_model_is_the_one_the_handler_parses_with(route: RouteDoc) -> None:
    models = declared_models(route)

    if models:
        assert all(parses_with(route.handler, m) for m in models), models
    else:
        assert not PARSERS & names_used(route.handler), "the handler parses an undeclared model"


# The SIGNED routes a web session may not call: they need WITHDRAW, or describe the API key.
API_KEY_ONLY = {("POST", "/sapi/v1/capital/withdraw/apply"),
                ("GET", "/sapi/v1/account/apiRestrictions")}


def test_security_follows_the_route_kind() -> None:
    paths = openapi_document()["paths"]
    for route in ROUTES:
        security = paths[route.path][route.method.lower()]["security"]
        expected = (Auth.ADMIN if route.path.startswith("/v1/admin/")
                    else Auth.SIGNED if route.path.startswith(("/api/v3/", "/sapi/"))
                    and route.auth is not Auth.NONE
                    else route.auth)
        alternatives = [expected] if expected is not Auth.SIGNED or (
            route.method, route.path) in API_KEY_ONLY else [expected, Auth.BEARER]
        assert security == ([] if expected is Auth.NONE else
                            [{str(scheme): []} for scheme in alternatives]), route.path
    public_v3 = {r.path for r in ROUTES if r.auth is Auth.NONE and r.path.startswith("/api/v3")}
    assert public_v3 == {"/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo",
                         "/api/v3/depth", "/api/v3/trades", "/api/v3/klines",
                         "/api/v3/ticker/24hr", "/api/v3/ticker/price",
                         "/api/v3/ticker/bookTicker", "/api/v3/avgPrice",
                         "/api/v3/aggTrades", "/api/v3/historicalTrades",
                         "/api/v3/ticker", "/api/v3/ticker/tradingDay",
                         "/api/v3/uiKlines"}


def test_signed_writes_take_their_parameters_in_the_query_or_a_form_body() -> None:
    order = openapi_document()["paths"]["/api/v3/order"]["post"]

    names = {p["name"]: p for p in order["parameters"] if p["in"] == "query"}
    assert {"symbol", "side", "type", "quantity", "timestamp", "signature"} <= set(names)
    assert not names["timestamp"]["required"]  # a bearer token needs none
    assert not names["price"]["required"]
    form = order["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert form["schema"] == {"$ref": "#/components/schemas/NewOrderParams"}


def test_a_withdrawal_is_always_signed() -> None:
    apply = openapi_document()["paths"]["/sapi/v1/capital/withdraw/apply"]["post"]

    names = {p["name"]: p for p in apply["parameters"] if p["in"] == "query"}
    assert names["timestamp"]["required"]
    assert names["signature"]["required"]


def test_every_error_is_described_in_the_api_error_format() -> None:
    document = openapi_document()
    error = document["components"]["schemas"]["Error"]

    assert error["required"] == ["code", "msg"]
    for path, item in document["paths"].items():
        for method, described in item.items():
            for status in ("4XX", "5XX", "429"):
                schema = described["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
