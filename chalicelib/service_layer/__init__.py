"""Use cases the HTTP API, the lambdas and the operator CLI call.

Conventions every module here follows:

* A function takes a psycopg connection (default tuple rows, READ COMMITTED) and
  opens its own ``with conn.transaction():``, so the HTTP layer just calls it. On an
  autocommit connection that is a real transaction; inside a caller's transaction
  it is a savepoint.
* Anything a client can cause raises ``ApiError``; its transaction then rolls back
  and nothing has changed.
* User-facing functions take the authenticated user's id and only ever read or
  change that user's rows. Admin mutations take ``actor_id``, re-check that the
  actor is an active admin and write an ``audit_log`` row in the same transaction.
* Lists are newest first and paginated by id: pass the previous page's
  ``next_before_id`` as ``before_id``; it is None on the last page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from chalicelib.adapters.postgres import Conn as Conn
from chalicelib.domain.errors import malformed

MAX_PAGE_SIZE = 1000

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_before_id: int | None


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise malformed("limit", f"must be between 1 and {MAX_PAGE_SIZE}")


def paginate(rows: Sequence[T], limit: int, id_of: Callable[[T], int]) -> Page[T]:
    """A page from up to ``limit + 1`` rows fetched newest first: the extra row only
    tells that another page follows."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page(items, id_of(items[-1]) if more else None)
