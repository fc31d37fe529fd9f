"""Order intake once a command is committed: an outage leaves its outcome unknown."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import pytest

from chalicelib.domain.command_trace import CommandTrace
from chalicelib.domain.errors import ApiError, BackendUnavailableError, ErrorCode
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.service_layer import Conn, order_intake


class NoPublisher:
    def publish(self, commands: Sequence[OrderCommand],
                traces: Mapping[int, CommandTrace] | None = None) -> list[int]:
        raise AssertionError("nothing is published here")


class LostDatabase:
    """A writer whose connection is lost before anything commits, counting the tries."""

    def __init__(self) -> None:
        self.tries = 0

    @contextmanager
    def __call__(self) -> Iterator[Conn]:
        self.tries += 1
        raise BackendUnavailableError("writer", "connection lost", retryable=True)
        yield  # a generator for contextmanager; never reached


def test_waiting_for_a_committed_order_through_an_outage_answers_status_unknown() -> None:
    db = LostDatabase()
    intake = order_intake.Intake(db, NoPublisher(), time, result_wait_s=1)

    with pytest.raises(ApiError) as refused:
        order_intake.wait_for(intake, None, 1, "BTCUSDT", [1], order_intake.is_closed)

    # -1001 would tell the client nothing was done, and a retry would place it twice.
    assert (refused.value.status, refused.value.code) == (503, ErrorCode.BACKEND_TIMEOUT)
    assert db.tries == 1
