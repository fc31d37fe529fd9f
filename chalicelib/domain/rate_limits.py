"""Rate-limit counters: what charging a request's weight or its new orders increments."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Counter:
    """A counter to charge: its key, by how much, how long it lives (seconds), and the
    limit past which the counters charged after it are not (``None``: never stops)."""

    key: str
    amount: int
    lifetime_s: int
    limit: int | None = None
