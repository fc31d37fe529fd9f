"""The exchange's HTTP API (Chalice): Binance-compatible /api/v3 and the web app's /v1.

Handlers stay thin: they parse and validate, call the service layer in
chalicelib, and shape the response.
"""

from __future__ import annotations

import time

from chalice.app import Chalice

app = Chalice(app_name="exchange-api")


@app.route("/api/v3/ping", methods=["GET"])
def ping() -> dict[str, object]:
    return {}


@app.route("/api/v3/time", methods=["GET"])
def server_time() -> dict[str, object]:
    return {"serverTime": time.time_ns() // 1_000_000}
