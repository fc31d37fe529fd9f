"""An order stream through the exchange's HTTP API that records every answer.

Open loop: a scheduler releases one request every ``1 / rate`` seconds, whatever the
answers take, and a pool of workers sends them (signed as Binance clients sign). A
request's latency counts from when it was due, so a stalled API shows as latency, not as
a slower stream. When every worker is stuck and the backlog is full, a due request is
dropped and counted (``dropped``): a bounded stream stays bounded through a fault.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from opscli.faults.exchange import Trader

PRICE_TICKS = 10_000  # 100.00 USDT in ticks of 0.01
REQUEST_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class Request:
    kind: str  # "place" or "cancel"
    trader: int
    symbol: str
    client_order_id: str
    params: dict[str, str]


@dataclass(frozen=True)
class Answer:
    """One request and what came back: ``status`` 0 when nothing did (refused, timeout)."""

    request: Request
    status: int
    code: int | None
    order_id: int | None
    due: float  # time.monotonic() when the request was due
    answered: float

    @property
    def latency(self) -> float:
        return self.answered - self.due

    @property
    def outcome(self) -> str:
        """``200``, ``503/-1007``, ``0`` (no answer), ...: how the answer is counted."""
        return str(self.status) if self.code is None else f"{self.status}/{self.code}"


class OrderStream:
    """Places (and now and then cancels) LIMIT orders around a fixed price, so that they
    trade, rest and cancel; ``start`` and ``stop`` bound it."""

    def __init__(self, api_url: str, traders: Sequence[Trader], *, rate: float,
                 symbol: str = "BTCUSDT", seed: int = 1, workers: int = 8,
                 run_id: str = "s") -> None:
        self._api_url = api_url
        self._traders = list(traders)
        self._rate = rate
        self._symbol = symbol
        self._random = random.Random(seed)
        self._run_id = run_id
        self._backlog: queue.Queue[tuple[float, Request] | None] = queue.Queue(workers * 4)
        self._workers = [threading.Thread(target=self._work, daemon=True)
                         for _ in range(workers)]
        self._scheduler = threading.Thread(target=self._schedule, daemon=True)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._answers: list[Answer] = []
        self._resting: dict[int, list[int]] = {i: [] for i in range(len(traders))}
        self._sequence = 0
        self.dropped = 0

    # ---------------------------------------------------------------- running

    def start(self) -> None:
        for worker in self._workers:
            worker.start()
        self._scheduler.start()

    def stop(self) -> None:
        """Stop scheduling, let the workers finish what they hold, and return."""
        self._stop.set()
        self._scheduler.join()
        for _ in self._workers:
            self._backlog.put(None)
        for worker in self._workers:
            worker.join(REQUEST_TIMEOUT_SECONDS * 2)

    def answers(self) -> list[Answer]:
        with self._lock:
            return list(self._answers)

    def placed_count(self) -> int:
        with self._lock:
            return sum(1 for a in self._answers if a.request.kind == "place")

    def _schedule(self) -> None:
        interval = 1.0 / self._rate
        due = time.monotonic()
        while not self._stop.is_set():
            due += interval
            self._stop.wait(max(0.0, due - time.monotonic()))
            try:
                self._backlog.put_nowait((due, self._next_request()))
            except queue.Full:
                self.dropped += 1

    def _work(self) -> None:
        while True:
            item = self._backlog.get()
            if item is None:
                return
            due, request = item
            status, body = self._send(request)
            answer = Answer(request, status, _error_code(body), _order_id(body), due,
                            time.monotonic())
            with self._lock:
                self._answers.append(answer)
                if request.kind == "place" and answer.order_id is not None:
                    self._resting[request.trader].append(answer.order_id)

    # --------------------------------------------------------------- requests

    def _next_request(self) -> Request:
        pick = self._random
        trader = pick.randrange(len(self._traders))
        self._sequence += 1
        client_id = f"{self._run_id}-{self._sequence}"
        with self._lock:
            resting = self._resting[trader]
            if resting and pick.random() < 0.15:
                order_id = resting.pop(pick.randrange(len(resting)))
                return Request("cancel", trader, self._symbol, client_id,
                               {"symbol": self._symbol, "orderId": str(order_id)})
        ticks = PRICE_TICKS + pick.randint(-4, 4)
        params = {"symbol": self._symbol, "side": pick.choice(("BUY", "SELL")),
                  "type": "LIMIT", "timeInForce": "IOC" if pick.random() < 0.1 else "GTC",
                  "quantity": f"0.{pick.randint(1000, 5000):04d}",
                  "price": f"{ticks // 100}.{ticks % 100:02d}",
                  "newClientOrderId": client_id, "newOrderRespType": "ACK"}
        return Request("place", trader, self._symbol, client_id, params)

    def _send(self, request: Request) -> tuple[int, Any]:
        trader = self._traders[request.trader]
        return call(self._api_url, "POST" if request.kind == "place" else "DELETE",
                    signed_path(trader, "/api/v3/order", request.params),
                    headers={"X-MBX-APIKEY": trader.api_key})


def call(api_url: str, method: str, path: str, body: dict[str, Any] | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One JSON request to the API: its status and decoded body (status 0: no answer)."""
    address = urlsplit(api_url)
    conn = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port or 80,
                                      timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        if body is None:
            conn.request(method, path, headers=headers or {})
        else:
            conn.request(method, path, body=json.dumps(body),
                         headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        raw = response.read()
    except (OSError, http.client.HTTPException):
        return 0, None
    finally:
        conn.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, None


def signed_path(trader: Trader, path: str, params: dict[str, str]) -> str:
    """``path`` with ``params`` signed by the trader's API secret, as Binance clients sign."""
    query = urlencode({**params, "recvWindow": "60000",
                       "timestamp": str(time.time_ns() // 1_000_000)})
    signature = hmac.new(trader.secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{path}?{query}&signature={signature}"


def _error_code(body: Any) -> int | None:
    if isinstance(body, dict) and isinstance(body.get("code"), int):
        return int(body["code"])
    return None


def _order_id(body: Any) -> int | None:
    if isinstance(body, dict) and isinstance(body.get("orderId"), int) and "code" not in body:
        return int(body["orderId"])
    return None


@dataclass(frozen=True)
class PhaseFigures:
    """What a stretch of the stream looked like: answers per second, how they ended,
    and latency percentiles in milliseconds."""

    seconds: float
    requests: int
    throughput: float
    ok_rate: float
    outcomes: dict[str, int]
    p50_ms: float | None
    p99_ms: float | None

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def figures(answers: Sequence[Answer], start: float, end: float) -> PhaseFigures:
    """The figures of the answers to requests due in [start, end)."""
    window = [a for a in answers if start <= a.due < end]
    seconds = max(end - start, 1e-9)
    outcomes = Counter(a.outcome for a in window)
    ok = sum(n for outcome, n in outcomes.items() if outcome == "200")
    latencies = sorted(a.latency * 1000 for a in window)
    return PhaseFigures(round(seconds, 1), len(window), round(len(window) / seconds, 1),
                        round(ok / len(window), 4) if window else 0.0, dict(outcomes),
                        _percentile(latencies, 0.50), _percentile(latencies, 0.99))


def _percentile(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 1)
