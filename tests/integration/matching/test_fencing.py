"""A batch from an instance that lost its partition cannot commit anything."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from chalicelib.domain.clock import SystemClock
from chalicelib.domain.orders import Side
from matching_cluster.service import repository as repo
from matching_cluster.service.batch import PartitionSlice, apply_batch
from matching_cluster.service.books import Books
from matching_cluster.service.metrics import Metrics

from .support import BTC_UNIT, Market, create_users, fund, new_order, order_row, place_orders

Conn = psycopg.Connection[Any]


def test_a_fenced_instance_commits_nothing_and_the_new_owner_resumes(
    db: Conn, db_url: str, market: Market,
) -> None:
    (user,) = create_users(db, 1)
    fund(db, {(user, "BTC"): BTC_UNIT})
    commands = place_orders(db, market, [new_order(user, Side.SELL, price=5_000_000,
                                                  qty=BTC_UNIT)])
    with psycopg.connect(db_url, autocommit=True) as old, \
            psycopg.connect(db_url, autocommit=True) as new:
        old_epoch, _ = repo.fence_partition(old, "orders", 0, "old")
        new_epoch, offset = repo.fence_partition(new, "orders", 0, "new")
        assert (new_epoch, offset) == (old_epoch + 1, 0)

        with pytest.raises(repo.FencedError):
            apply_batch(old, Books(Metrics()), Metrics(), topic="orders",
                        slices=[PartitionSlice(0, old_epoch, commands, 1)], clock=SystemClock())
        assert order_row(db, commands[0].order_id)["accepted_seq"] is None
        assert db.execute("SELECT next_offset FROM matcher_offsets").fetchone() == (0,)

        apply_batch(new, Books(Metrics()), Metrics(), topic="orders",
                    slices=[PartitionSlice(0, new_epoch, [*commands, *commands], 2)],
                    clock=SystemClock())
        assert order_row(db, commands[0].order_id)["accepted_seq"] == 1
        assert db.execute("SELECT next_offset, owner FROM matcher_offsets").fetchone() == (
            2, "new")
