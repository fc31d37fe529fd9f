"""The wallet's lists: newest first, a page at a time (see ``chalicelib.service_layer``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from chalicelib.service_layer import Page, check_limit, paginate


class _Identified(Protocol):
    @property
    def id(self) -> int: ...


Item = TypeVar("Item", bound=_Identified)


def newest_first(fetch: Callable[[int, int | None], Sequence[Item]], limit: int,
                 before_id: int | None) -> Page[Item]:
    """The page below ``before_id`` from ``fetch(limit, before_id)``, which returns items
    newest first, one more than ``limit`` if another page follows."""
    check_limit(limit)
    return paginate(fetch(limit, before_id), limit, lambda item: item.id)
