"""The Chalice app answers through Chalice's test client.

What `chalice package` bundles and deploys (the app, the shared chalicelib, the
functions and their dependencies, merged with iac/cloudformation/api-merge.yaml) is
proven per stage in tests/unit/iac/test_api_package.py.
"""

from __future__ import annotations

import time

from chalice.test import Client


def test_ping_answers_an_empty_object(client: Client) -> None:
    response = client.http.get("/api/v3/ping")

    assert response.status_code == 200
    assert response.json_body == {}


def test_time_is_the_servers_clock_in_milliseconds(client: Client) -> None:
    before = time.time_ns() // 1_000_000
    response = client.http.get("/api/v3/time")
    after = time.time_ns() // 1_000_000

    assert response.status_code == 200
    assert before <= response.json_body["serverTime"] <= after
