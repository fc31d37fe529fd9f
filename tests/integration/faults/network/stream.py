"""A running stream of orders through the API, and what each request got back.

One thread sends the requests one after another (the API's app serves one request at a
time, as a Lambda container does): two traders place crossing orders, which trade,
orders far from the price, which rest, and cancels of resting ones. Each outcome is
recorded with the phase it started in (before, during or after a fault) and how long
it took; the test watches the request in flight and fails when one runs past its limit.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.e2e.conftest import ApiKey

SYMBOL = "BTCUSDT"
CROSSING_PRICE = "50000.00"
RESTING_BUY_PRICE, RESTING_SELL_PRICE = "40000.00", "60000.00"
QUANTITY = "0.0010"


@dataclass(frozen=True)
class Outcome:
    phase: str
    kind: str
    """PLACE or CANCEL."""
    client_order_id: str
    status: int
    body: Any
    started: float
    """time.monotonic() when the request was sent."""
    seconds: float

    @property
    def finished(self) -> float:
        return self.started + self.seconds

    @property
    def code(self) -> int | None:
        """The error code of a refusal in the API's format."""
        return self.body.get("code") if isinstance(self.body, dict) else None

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    @property
    def clear_error(self) -> bool:
        """A refusal in the API's format: a 4xx, or a 503 saying the outcome is unknown."""
        return (400 <= self.status < 500 or self.status == 503) and isinstance(
            self.body, dict) and {"code", "msg"} <= self.body.keys()


class OrderStream:
    def __init__(self, buyer: ApiKey, seller: ApiKey, limit_s: float) -> None:
        self.traders = (buyer, seller)
        self.limit_s = limit_s
        self.phase = "before"
        self.outcomes: list[Outcome] = []
        self.errors: list[str] = []
        """Exceptions the API let out: each one a failure of the test."""
        self._in_flight_since: float | None = None
        self._resting: list[tuple[ApiKey, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """End after the request in flight; fail if it does not end within the limit."""
        self._stop.set()
        self._thread.join(self.limit_s)
        assert not self._thread.is_alive(), f"a request hung past {self.limit_s:g} s"

    def check(self) -> None:
        """Fail at once when the request in flight has run past the limit, or one raised."""
        since = self._in_flight_since
        if since is not None and time.monotonic() - since > self.limit_s:
            raise AssertionError(f"a request in {self.phase} hung past {self.limit_s:g} s")
        assert not self.errors, self.errors

    def in_phase(self, phase: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.phase == phase]

    def _run(self) -> None:
        for step in itertools.count():
            if self._stop.is_set():
                return
            self._send(step)

    def _send(self, step: int) -> None:
        buyer, seller = self.traders
        client_order_id = f"nf-{uuid.uuid4().hex[:24]}"
        match step % 4:
            case 0:
                self._place(buyer, "BUY", CROSSING_PRICE, client_order_id, "ACK")
            case 1:
                self._place(seller, "SELL", CROSSING_PRICE, client_order_id, "RESULT")
            case 2 if step % 8 == 2:
                self._place(buyer, "BUY", RESTING_BUY_PRICE, client_order_id, "ACK", rests=True)
            case 2:
                self._place(seller, "SELL", RESTING_SELL_PRICE, client_order_id, "RESULT",
                            rests=True)
            case _ if self._resting:
                trader, resting_id = self._resting.pop(0)
                self._call("CANCEL", resting_id, lambda: trader.delete(
                    "/api/v3/order", {"symbol": SYMBOL, "origClientOrderId": resting_id}))
            case _:
                self._place(buyer, "BUY", CROSSING_PRICE, client_order_id, "RESULT")

    def _place(self, trader: ApiKey, side: str, price: str, client_order_id: str,
               answer: str, *, rests: bool = False) -> None:
        outcome = self._call("PLACE", client_order_id, lambda: trader.post_form(
            "/api/v3/order", {"symbol": SYMBOL, "side": side, "type": "LIMIT",
                              "timeInForce": "GTC", "price": price, "quantity": QUANTITY,
                              "newClientOrderId": client_order_id,
                              "newOrderRespType": answer}))
        if rests and outcome is not None and outcome.accepted:
            self._resting.append((trader, client_order_id))

    def _call(self, kind: str, client_order_id: str,
              request: Callable[[], Any]) -> Outcome | None:
        phase, started = self.phase, time.monotonic()
        self._in_flight_since = started
        try:
            response = request()
        except Exception as exc:  # the API must answer every request
            self.errors.append(f"{kind} in {phase} raised {exc!r}")
            return None
        finally:
            self._in_flight_since = None
        outcome = Outcome(phase, kind, client_order_id, response.status_code,
                          json_or_text(response.body), started, time.monotonic() - started)
        self.outcomes.append(outcome)
        return outcome


def json_or_text(body: bytes) -> Any:
    """The answer's JSON; its text when it is none (which the test then reports)."""
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")
