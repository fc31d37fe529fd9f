"""Every spot REST call of Binance's official connector has a route here, or a reason.

The connector documents each call's method and path in its docstring (``GET
/api/v3/depth``); the market, trade and user-data-stream modules are the spot API. A
new connector release that adds a spot call fails this test until the exchange serves
it or lists it below with why not. The calls themselves are exercised through both
libraries by the other tests of this folder.
"""

from __future__ import annotations

import inspect
import re
from types import ModuleType

from binance.spot import _data_stream, _market, _trade

from chalicelib.entrypoints.http.exchange_app import CATCH_ALL_PATHS, ExchangeApp

SPOT_MODULES: tuple[ModuleType, ...] = (_market, _trade, _data_stream)
DOCUMENTED_CALL = re.compile(r"^\s*(GET|POST|PUT|DELETE) (/(?:api|sapi)/\S+)", re.MULTILINE)

NOT_SERVED: dict[tuple[str, str], str] = {
    ("GET", "/api/v3/myAllocations"):
        "allocations come from Smart Order Routing (POST /api/v3/sor/order), which this "
        "exchange does not offer: each market is one book",
    **{(method, path): "margin listen keys: this exchange has no margin accounts"
       for path in ("/sapi/v1/userDataStream", "/sapi/v1/userDataStream/isolated")
       for method in ("POST", "PUT", "DELETE")},
}


def connector_spot_calls() -> set[tuple[str, str]]:
    """(method, path) of every spot call the installed connector makes."""
    calls = set()
    for module in SPOT_MODULES:
        for _, function in inspect.getmembers(module, inspect.isfunction):
            calls.update(DOCUMENTED_CALL.findall(inspect.getdoc(function) or ""))
    return calls


def served_calls(app: ExchangeApp) -> set[tuple[str, str]]:
    """(method, path) of every route of the API but the catch-all, paths in lower case
    (one of the connector's docstrings spells exchangeInfo in lower case)."""
    return {(method, path.lower()) for path, entries in app.routes.items()
            if path not in CATCH_ALL_PATHS for method in entries}


def test_every_connector_spot_call_is_served_or_explained(api_app: ExchangeApp) -> None:
    calls = connector_spot_calls()
    assert len(calls) > 40, "the connector's docstrings no longer name its calls"
    served = served_calls(api_app)
    missing = {(m, p) for m, p in calls - set(NOT_SERVED) if (m, p.lower()) not in served}
    assert missing == set(), "connector calls with no route and no reason in NOT_SERVED"
    assert not {call for call in NOT_SERVED if (call[0], call[1].lower()) in served}, (
        "a call listed as not served has a route now: drop it from NOT_SERVED")
