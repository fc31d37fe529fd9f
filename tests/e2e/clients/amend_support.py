"""What the amend, limits and fees tests share: Binance's documented examples (JSON
files beside the tests), a field-by-field shape check against them, a second market,
and the headers python-binance saw on its last answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from binance.client import Client

from tests.e2e.conftest import Caller

EXAMPLES = Path(__file__).parent / "binance_examples"


def example(name: str) -> Any:
    """Binance's documented example answer, as copied from its API docs."""
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def assert_shape(actual: Any, documented: Any, path: str = "$") -> None:
    """Every field of Binance's example is in ``actual`` with the same JSON type (lists:
    each element against the example's first)."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r} is not an object"
        missing = documented.keys() - actual.keys()
        assert not missing, f"{path}: missing {sorted(missing)}"
        for name, value in documented.items():
            assert_shape(actual[name], value, f"{path}.{name}")
    elif isinstance(documented, list):
        assert isinstance(actual, list), f"{path}: {actual!r} is not a list"
        for index, item in enumerate(actual):
            if documented:
                assert_shape(item, documented[0], f"{path}[{index}]")
    else:
        assert type(actual) is type(documented), (
            f"{path}: {actual!r} is a {type(actual).__name__}, Binance sends "
            f"{type(documented).__name__}")


def last_headers(client: Client) -> dict[str, str]:
    return {k.lower(): v for k, v in client.response.headers.items()}


def used_weight(client: Client) -> int:
    return int(last_headers(client)["x-mbx-used-weight-1m"])


def create_ethusdt(admin: Caller) -> str:
    """ETHUSDT beside BTCUSDT: ETH with 8 decimals, the same filters and fees."""
    assert admin.post("/v1/admin/assets", {"symbol": "ETH", "scale": 8}).status_code == 201
    created = admin.post("/v1/admin/markets", {
        "symbol": "ETHUSDT", "baseAsset": "ETH", "quoteAsset": "USDT", "tickSize": "0.01",
        "stepSize": "0.0001", "minQty": "0.0001", "maxQty": "1000", "minNotional": "5",
        "makerFeePpm": 1000, "takerFeePpm": 2000})
    assert created.status_code == 201, created.body
    return "ETHUSDT"
