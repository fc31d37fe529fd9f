"""Password guesses at login are counted before they are checked, atomically: however
many arrive at once, no more than the limit get a password check."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import redis

from chalicelib.bootstrap import Services, bootstrap_api
from chalicelib.domain.errors import ApiError
from chalicelib.service_layer import auth
from chalicelib.settings import Settings

EMAIL, PASSWORD = "victim@example.com", "correct horse battery staple"
ATTACKER_IP = "203.0.113.7"


@pytest.fixture
def services(test_settings: Settings, db_url: str, redis_client: redis.Redis,
             ) -> Iterator[Services]:
    svc = bootstrap_api(test_settings)
    with svc.db() as conn:
        auth.signup(conn, EMAIL, PASSWORD)
    yield svc
    svc.close()


def login_status(svc: Services, db_url: str, password: str, start: threading.Barrier) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        start.wait()
        try:
            auth.login(svc.auth, conn, EMAIL, password, None, ATTACKER_IP)
        except ApiError as refused:
            return refused.status
    return 200


def test_concurrent_wrong_passwords_get_no_more_checks_than_the_limit(
    services: Services, db_url: str
) -> None:
    start = threading.Barrier(20)
    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda _: login_status(services, db_url, "wrong" * 3, start),
                                 range(20)))

    assert sorted(statuses) == [401] * 5 + [429] * 15
