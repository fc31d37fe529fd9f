"""A small market maker for the local demo: places and cancels limit orders around a
drifting mid price through the real API (signed requests), and now and then sends
a taker order so trades happen. Loopback only; stops on SIGTERM or after --duration.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import random
import signal
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from urllib.parse import urlencode

from chalicelib.settings import Settings
from opscli.demo.seed import DemoKey, load_keys

MIDS = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0}
PRICE_STEP = {"BTCUSDT": 0.01, "ETHUSDT": 0.01}
SIZES = {"BTCUSDT": ("0.0010", "0.0500"), "ETHUSDT": ("0.0100", "1.0000")}
RESTING_PER_MARKET = 20


class SignedClient:
    def __init__(self, base_url: str, key: DemoKey) -> None:
        if not base_url.startswith(("http://127.0.0.1:", "http://localhost:")):
            raise SystemExit("the demo market maker only talks to an API on loopback")
        self.base_url = base_url.rstrip("/")
        self.key = key

    def call(self, method: str, path: str, params: dict[str, str]) -> object:
        query = urlencode({**params, "timestamp": str(time.time_ns() // 1_000_000)})
        signature = hmac.new(self.key.secret.encode(), query.encode(), hashlib.sha256)
        url = f"{self.base_url}{path}?{query}&signature={signature.hexdigest()}"
        request = urllib.request.Request(url, method=method,  # noqa: S310 - loopback http only
                                         headers={"X-MBX-APIKEY": self.key.api_key})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            return json.loads(error.read() or b"{}")
        except urllib.error.URLError as error:  # the API restarting: try again next tick
            print(json.dumps({"level": "WARNING", "message": "API unreachable",
                              "error": str(error.reason)}), flush=True)
            return {}


def price_text(market: str, price: float) -> str:
    step = PRICE_STEP[market]
    return f"{round(price / step) * step:.2f}"


def quote_once(rng: random.Random, maker: SignedClient, taker: SignedClient,
               resting: dict[str, deque[int]]) -> None:
    for market, mid in list(MIDS.items()):
        MIDS[market] = mid = mid * (1 + rng.gauss(0, 0.0005))
        side = rng.choice(["BUY", "SELL"])
        offset = mid * rng.uniform(0.0005, 0.01) * (-1 if side == "BUY" else 1)
        low, high = (float(s) for s in SIZES[market])
        qty = f"{rng.uniform(low, high):.4f}"
        placed = maker.call("POST", "/api/v3/order", {
            "symbol": market, "side": side, "type": "LIMIT", "timeInForce": "GTC",
            "quantity": qty, "price": price_text(market, mid + offset),
            "newOrderRespType": "ACK"})
        if isinstance(placed, dict) and "orderId" in placed:
            resting[market].append(int(placed["orderId"]))
        if len(resting[market]) > RESTING_PER_MARKET:
            maker.call("DELETE", "/api/v3/order",
                       {"symbol": market, "orderId": str(resting[market].popleft())})
        if rng.random() < 0.2:
            taker.call("POST", "/api/v3/order", {
                "symbol": market, "side": rng.choice(["BUY", "SELL"]), "type": "MARKET",
                "quantity": SIZES[market][0], "newOrderRespType": "ACK"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=0, help="seconds; 0 = until stopped")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    keys = {k.email.split("@")[0]: k for k in load_keys(Settings().state_dir / "demo" /
                                                        "keys.json")}
    maker, taker = SignedClient(args.api, keys["maker"]), SignedClient(args.api, keys["taker"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    deadline = time.monotonic() + args.duration if args.duration else float("inf")
    rng = random.Random(args.seed)
    resting: dict[str, deque[int]] = {market: deque() for market in MIDS}
    while not stop.is_set() and time.monotonic() < deadline:
        quote_once(rng, maker, taker, resting)
        stop.wait(args.interval)


if __name__ == "__main__":
    main()
