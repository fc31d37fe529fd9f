"""The correlation id of the request being served, for what the request publishes.

The HTTP middleware sets it around each request; the order intake puts it on the
commands it sends to Kafka. A context variable rather than a parameter: every use case
that publishes (placing, cancelling, amending, replacing, order lists) gets it without
each route passing it through."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_current: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def current() -> str | None:
    """The id of the request being served; None outside a request."""
    return _current.get()


@contextmanager
def correlated(correlation_id: str) -> Iterator[None]:
    """Serve what runs in the block under ``correlation_id``."""
    token = _current.set(correlation_id)
    try:
        yield
    finally:
        _current.reset(token)
