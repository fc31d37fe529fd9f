"""PostgreSQL connections: one pool per process, built from the settings."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

Conn = psycopg.Connection[Any]
"""The connection the repositories and the use cases take."""


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url, autocommit=autocommit, connect_timeout=10)


def open_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> ConnectionPool:
    pool = ConnectionPool(
        url, min_size=min_size, max_size=max_size, open=False, kwargs={"connect_timeout": 10}
    )
    pool.open(wait=True, timeout=30)
    return pool
