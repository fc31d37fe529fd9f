"""Every operation of the OpenAPI document, fuzzed in-process against the real services.

schemathesis generates valid and invalid requests for each operation; signed routes are
signed as a Binance client signs them and /v1 routes carry a live access token, so the
cases reach the handlers. Before the run a victim user gets distinctive data; after it:
no 5xx, no response to the fuzzing users carrying the victim's data, the victim's key
and orders untouched, and the ledger invariants hold. The figures are printed at the
end of the session (tests/support/fuzz_report.py).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
import schemathesis
from chalice.app import Chalice
from chalice.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from schemathesis import Case, GenerationMode
from schemathesis.core import NotSet
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation
from werkzeug.test import Client as WsgiClient

from chalicelib.bootstrap import Services, bootstrap_api
from chalicelib.entrypoints.http.exchange_app import ExchangeApp
from chalicelib.entrypoints.http.openapi import openapi_document
from chalicelib.service_layer.auth import start_session
from tests.e2e.conftest import ApiKey, Caller, fund, now_ms
from tests.support.fuzz_report import report
from tests.support.ledger import assert_ledger_invariants
from tests.support.wsgi import ChaliceWsgiApp

pytest_plugins = ["tests.support.fuzz_report"]

# Cases per operation and generation mode: the whole run stays within ~3 minutes on 2 cores.
MAX_EXAMPLES = 50
# The in-process gateway reports every caller as this address.
GATEWAY_IP = "127.0.0.1"
# In all the victim's text data (email, key label, order ids, txids, address); an answer
# to anyone else holding it (or the victim's API key) leaks.
MARKER = "zq7victim"
# Routes that end the caller's session or delete its keys run as a user of their own.
SESSION_ENDING = {("POST", "/v1/auth/logout"), ("POST", "/v1/auth/password"),
                  ("DELETE", "/v1/api-keys/{key_id}")}
SIGNING_PARAMS = ("timestamp", "signature")
AnyCase = Case[Any]
Operation = APIOperation[Any, Any, Any, Any]


@dataclass
class Victim:
    """A user whose data nobody else may see or change."""

    caller: Caller
    key: ApiKey
    order_ids: list[str]


@dataclass
class Identities:
    """Who each kind of operation runs as."""

    fuzzer: Caller
    key: ApiKey
    admin: Caller
    spare: Caller


@dataclass
class Tally:
    """What the run saw: status counts, and one reproducing request per finding."""

    secrets: tuple[str, ...]
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: dict[str, str] = field(default_factory=dict)
    leaks: dict[str, str] = field(default_factory=dict)
    leak_count: int = 0

    def record(self, case: AnyCase, status: int, body: str, private: bool) -> None:
        self.statuses[status] += 1
        label = f"{case.method} {case.path}"
        if status >= 500:
            keep_shortest(self.server_errors, label, reproduction(case))
        if private and any(secret in body for secret in self.secrets):
            self.leak_count += 1
            keep_shortest(self.leaks, label, reproduction(case))

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_error_count(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def keep_shortest(found: dict[str, str], label: str, request: str) -> None:
    if label not in found or len(request) < len(found[label]):
        found[label] = request


def reproduction(case: AnyCase) -> str:
    """The request as sent, minus the credentials: method, path, query and body."""
    query = {k: v for k, v in (case.query or {}).items() if k not in SIGNING_PARAMS}
    body = "" if isinstance(case.body, NotSet) else f" body={case.body!r}"
    return f"{case.method} {case.formatted_path}?{urlencode(query, doseq=True)}{body}"


@pytest.fixture
def unmetered(api_app: ExchangeApp, client: Client) -> Iterator[None]:
    """The API with request weight limits out of the way: thousands of requests a minute
    from one IP are the point here, not abuse."""
    before = api_app.services.settings
    api_app.use_services(bootstrap_api(before.model_copy(update={
        "ip_weight_per_minute": 10**9, "api_key_weight_per_minute": 10**9})))
    yield
    api_app.use_services(bootstrap_api(before))


@pytest.fixture
def victim(client: Client, admin: Caller, btcusdt: str) -> Victim:
    """A funded user with an email, key label, orders, deposit and withdrawal marked."""
    user = Caller(client, f"{MARKER}@example.com")
    created = user.post("/v1/api-keys", {"label": f"{MARKER}-key", "ipAllowlist": [GATEWAY_IP],
                                         "permissions": ["READ", "TRADE", "WITHDRAW"]})
    assert created.status_code == 201, created.body
    key = ApiKey(client, created.json_body["apiKey"], created.json_body["secretKey"])
    for asset, amount, txid in (("BTC", "5", "btc"), ("USDT", "100000", "usdt")):
        credited = admin.post("/v1/admin/deposits", {"userId": user.user_id, "asset": asset,
                                                     "amount": amount,
                                                     "txid": f"{MARKER}-{txid}"})
        assert credited.status_code == 201, credited.body
    order_ids = [f"{MARKER}Buy", f"{MARKER}Sell"]
    for client_id, side, price in zip(order_ids, ("BUY", "SELL"), ("100", "900000"), strict=True):
        placed = key.post_form("/api/v3/order", {
            "symbol": btcusdt, "side": side, "type": "LIMIT", "timeInForce": "GTC",
            "quantity": "0.1", "price": price, "newClientOrderId": client_id})
        assert placed.status_code == 200, placed.body
    withdrawn = client.http.post("/v1/withdrawals", headers={
        **user.headers(), "Idempotency-Key": f"{MARKER}-withdrawal"}, body=json.dumps(
        {"asset": "USDT", "amount": "10", "address": f"{MARKER}-address"}))
    assert withdrawn.status_code == 201, withdrawn.body
    return Victim(user, key, order_ids)


@pytest.fixture
def identities(client: Client, admin: Caller, victim: Victim) -> Identities:
    fuzzer = Caller(client, "fuzzer@example.com")
    fund(admin, fuzzer, "BTC", "100")
    fund(admin, fuzzer, "USDT", "10000000")
    key = fuzzer.new_api_key(["READ", "TRADE", "WITHDRAW"], [GATEWAY_IP])
    return Identities(fuzzer, key, admin, Caller(client, "spare@example.com"))


def test_no_operation_errs_or_leaks(api_app: ExchangeApp, identities: Identities, victim: Victim,
                                    unmetered: None, db: psycopg.Connection[Any]) -> None:
    """Admin routes run as an admin, who may see everyone's data: only the answers to
    the fuzzing user are searched for the victim's."""
    schema = schemathesis.openapi.from_dict(openapi_document())
    schema.app = ChaliceWsgiApp(api_app)
    tally = Tally(secrets=(MARKER, victim.key.api_key))
    started = time.monotonic()
    loaded = list(schema.get_all_operations())
    operations = [result.ok() for result in loaded if isinstance(result, Ok)]
    assert len(operations) == len(loaded), "operations schemathesis cannot read"
    for operation in operations:
        fuzz_operation(operation, authorise(operation, identities, api_app.services), tally)
    report_figures(len(operations), tally, time.monotonic() - started)

    assert tally.server_errors == {}, "5xx answers, one request each:\n" + listing(
        tally.server_errors)
    assert tally.leaks == {}, "answers holding the victim's data:\n" + listing(tally.leaks)
    assert_victim_untouched(victim)
    assert_ledger_invariants(db)


def test_wsgi_adapter_hands_chalice_the_request_as_sent() -> None:
    echo = Chalice(app_name="echo")

    @echo.route("/items/{item}", methods=["POST"],
                content_types=["application/x-www-form-urlencoded"])
    def item(item: str) -> dict[str, object]:
        request = echo.current_request
        assert request is not None
        params, body = request.query_params, request.raw_body
        return {"item": item, "body": body.decode() if isinstance(body, bytes) else body,
                "query": {} if params is None else {k: params.getlist(k) for k in params},
                "key": request.headers.get("x-mbx-apikey"),
                "ip": request.context["identity"]["sourceIp"]}

    response = WsgiClient(ChaliceWsgiApp(echo)).post(
        "/items/42", query_string="a=1&a=2&b=%20+", headers={"X-MBX-APIKEY": "k"},
        data="x=1", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 200
    assert response.json == {"item": "42", "body": "x=1", "query": {"a": ["1", "2"], "b": ["  "]},
                             "key": "k", "ip": GATEWAY_IP}


def fuzz_operation(operation: Operation, authorise: Authorise, tally: Tally) -> None:
    """The document's examples, then valid and invalid cases of one operation, a bounded
    number each, the same ones every run."""
    private = not operation.path.startswith("/v1/admin")
    for strategy in case_strategies(operation):
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def send(case: AnyCase) -> None:
            response = case.call(**authorise(case))
            tally.record(case, response.status_code, response.text, private)

        # An operation without parameters or body has no invalid cases to generate.
        with contextlib.suppress(Unsatisfiable):
            send()


def case_strategies(operation: Operation) -> list[SearchStrategy[AnyCase]]:
    examples = operation.get_strategies_from_examples(fill_missing=True)
    generated = [operation.as_strategy(generation_mode=mode)
                 for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    return ([st.one_of(examples)] if examples else []) + generated


# Puts credentials on a case; returns what `case.call` needs besides (a signed body).
Authorise = Callable[[AnyCase], dict[str, Any]]


def authorise(operation: Operation, who: Identities, services: Services) -> Authorise:
    """How a case of this operation gets its credentials, by the document's security."""
    schemes = security_schemes(operation)
    if (operation.method.upper(), operation.path) in SESSION_ENDING:
        return lambda case: bear(case, fresh_access_token(services, who.spare))
    if any(s.get("type") == "apiKey" for s in schemes):
        return lambda case: sign(case, who.key)
    if any(s.get("scheme") == "bearer" for s in schemes):
        caller = who.admin if operation.path.startswith("/v1/admin") else who.fuzzer
        return lambda case: bear(case, caller.access_token)
    return lambda case: {}


def security_schemes(operation: Operation) -> list[dict[str, Any]]:
    document = operation.schema.raw_schema
    declared = document.get("components", {}).get("securitySchemes", {})
    requirements = operation.definition.raw.get("security", document.get("security", []))
    return [declared[name] for requirement in requirements for name in requirement
            if name in declared]


def bear(case: AnyCase, token: str) -> dict[str, Any]:
    case.headers["Authorization"] = f"Bearer {token}"
    return {}


def fresh_access_token(services: Services, user: Caller) -> str:
    """A new session of `user`, as a login opens one, so ending it costs nothing else."""
    return str(start_session(services.auth, user.user_id)["accessToken"])


def sign(case: AnyCase, key: ApiKey) -> dict[str, Any]:
    """Stamp and sign as Binance clients do: HMAC-SHA256 over the exact query string
    followed by the exact form body (the server re-encodes the query parameters it got,
    in their order). The body is sent as that text; a generated timestamp or signature
    in it would win over the query's, so they go."""
    query = unsigned(case.query)
    query["timestamp"] = [str(now_ms())]
    body = urlencode(form_only(case.body, query), doseq=True) \
        if isinstance(case.body, dict) else None
    query["signature"] = [key.sign(urlencode(query, doseq=True) + (body or ""))]
    case.query = query
    case.headers["X-MBX-APIKEY"] = key.api_key
    return {} if body is None else {"data": body}


def form_only(body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, list[str]]:
    """The generated form body less what the query already carries: the document lets
    each parameter come in either, and one sent in both is refused before the handler."""
    return {name: values for name, values in unsigned(body).items() if name not in query}


def unsigned(params: dict[str, Any] | None) -> dict[str, list[str]]:
    return {name: wire_values(value) for name, value in (params or {}).items()
            if name not in SIGNING_PARAMS}


def wire_values(value: object) -> list[str]:
    """A generated parameter as the strings the request carries (a list repeats the
    parameter), so what is signed is exactly what is sent."""
    items = value if isinstance(value, list) else [value]
    return [json.dumps(item) if isinstance(item, (bool, dict)) or item is None else str(item)
            for item in items]


def assert_victim_untouched(victim: Victim) -> None:
    keys = victim.caller.get("/v1/api-keys")
    assert keys.status_code == 200, keys.body
    assert [k["apiKey"] for k in keys.json_body["apiKeys"]] == [victim.key.api_key]
    open_orders = victim.key.get("/api/v3/openOrders", {"symbol": "BTCUSDT"})
    assert open_orders.status_code == 200, open_orders.body
    assert sorted(o["clientOrderId"] for o in open_orders.json_body) == sorted(victim.order_ids)


def report_figures(operations: int, tally: Tally, seconds: float) -> None:
    by_class = Counter(f"{status // 100}xx" for status in tally.statuses.elements())
    report(f"API fuzzing (schemathesis): {operations} operations, {tally.requests} requests "
           f"in {seconds:.0f} s; {dict(sorted(by_class.items()))}; "
           f"5xx: {tally.server_error_count}; leaks: {tally.leak_count}")
    for label, request in sorted(tally.server_errors.items()):
        report(f"  5xx {label}: {request}")
    for label, request in sorted(tally.leaks.items()):
        report(f"  leak {label}: {request}")


def listing(found: dict[str, str]) -> str:
    return "\n".join(f"{label}: {request}" for label, request in sorted(found.items()))

