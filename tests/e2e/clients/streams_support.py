"""Helpers of the WebSocket client tests: the gateway and fan-out fixtures (those of
tests/e2e/test_websockets.py), Binance's documented stream payloads, an inbox for the
connector's callbacks and trades made through python-binance."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from chalicelib.settings import Settings
from opscli.ws_gateway import Gateway
from tests.e2e.clients.conftest import Trader
from tests.e2e.test_websockets import gateway, streaming
from tests.support.polling import wait_until

__all__ = ["gateway", "stream_url_fixture", "streaming"]

SYMBOL = "BTCUSDT"
WAIT_SECONDS = 30
EXAMPLES = Path(__file__).parent / "binance_examples"


@pytest.fixture(name="stream_url")
def stream_url_fixture(streaming: Settings, gateway: Gateway) -> str:
    """The local gateway's base URL, with the matcher's events fanned out to it."""
    return gateway.ws_url


def example(name: str) -> Any:
    """Binance's documented payload, copied from its API docs."""
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def _kind(value: object) -> str:
    """A value's JSON type, a decimal string apart from other text."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, str):
        return "decimal" if value.replace(".", "", 1).lstrip("-").isdigit() else "text"
    return type(value).__name__


def assert_like_example(payload: Any, documented: Any,
                        conditional: tuple[str, ...] = ()) -> None:
    """Field by field: the documented names in the documented order, each of its type
    (``null`` in the example stands for a value of any type; a list may be empty);
    ``conditional`` names the fields Binance documents as shown only at times."""
    if isinstance(documented, list):
        assert isinstance(payload, list), payload
        for item in payload:
            assert_like_example(item, documented[0], conditional)
        return
    if isinstance(documented, dict):
        assert isinstance(payload, dict), payload
        expected = [n for n in documented if n in payload or n not in conditional]
        assert list(payload) == expected, (list(payload), expected)
        for name in expected:
            if documented[name] is not None:
                assert_like_example(payload[name], documented[name], conditional)
        return
    assert _kind(payload) == _kind(documented), (payload, documented)


class Inbox:
    """What a connector's socket received, parsed: replies (with an ``id``) apart."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.replies: list[dict[str, Any]] = []
        self.events: list[Any] = []

    def on_message(self, _socket: object, raw: str) -> None:
        message = json.loads(raw)
        with self._lock:
            if isinstance(message, dict) and "id" in message:
                self.replies.append(message)
            else:
                self.events.append(message)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """Events ``e == kind``; an array's members count one by one."""
        with self._lock:
            seen = list(self.events)
        flat = [item for e in seen for item in (e if isinstance(e, list) else [e])]
        return [e for e in flat if isinstance(e, dict) and e.get("e") == kind]

    def wait_for(self, kind: str) -> list[dict[str, Any]]:
        return wait_until(lambda: self.of_type(kind), timeout=WAIT_SECONDS, what=kind)

    def reply(self, request_id: object) -> dict[str, Any] | None:
        with self._lock:
            return next((r for r in self.replies if r["id"] == request_id), None)

    def wait_reply(self, request_id: object) -> dict[str, Any] | None:
        return wait_until(lambda: self.reply(request_id), timeout=WAIT_SECONDS,
                          what=f"the reply to request {request_id}")


def trade(maker: Trader, taker: Trader, qty: str = "0.1", price: str = "20000") -> None:
    """The maker's resting sell, taken whole by the taker's market buy."""
    maker.pb.create_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                          quantity=qty, price=price)
    taker.pb.create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity=qty)
