"""A plain GET on a loopback port: health probes and /metrics scrapes in tests."""

from __future__ import annotations

import http.client


def http_get(port: int | str, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()
