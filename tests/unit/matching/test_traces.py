"""The tracing headers the matcher reads from a command and hands on to its events."""

from __future__ import annotations

from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import CommandKind
from chalicelib.domain.tracing import ACCEPTED_AT_HEADER, KAFKA_HEADER, TRACE_HEADER
from matching_cluster.service.traces import (
    CommandHeaders,
    command_headers,
    command_order_ids,
    order_causes,
    sole_cause,
)


def command(command_id: int, kind: CommandKind = CommandKind.PLACE, order_id: int = 0, *,
            new_order_id: int = 0, legs: tuple[OrderCommand, ...] = ()) -> OrderCommand:
    return OrderCommand(command_id, kind, "BTCUSDT", 7, order_id, new_order_id=new_order_id,
                        legs=legs)


def traced(correlation_id: str) -> CommandHeaders:
    return CommandHeaders(correlation_id, 1, ((KAFKA_HEADER, correlation_id.encode()),))


def test_the_tracing_headers_are_kept_and_the_rest_dropped() -> None:
    headers = command_headers([(KAFKA_HEADER, b"req-1"), (ACCEPTED_AT_HEADER, b"1700000000123"),
                               (TRACE_HEADER, b"Root=1-a-b"), ("other", b"x")])
    assert headers == CommandHeaders("req-1", 1_700_000_000_123, (
        (KAFKA_HEADER, b"req-1"), (ACCEPTED_AT_HEADER, b"1700000000123"),
        (TRACE_HEADER, b"Root=1-a-b")))


def test_a_command_without_a_correlation_id_is_untraced_and_a_bad_time_unknown() -> None:
    assert command_headers(None) is None
    assert command_headers([]) is None
    assert command_headers([(ACCEPTED_AT_HEADER, b"1")]) is None
    assert command_headers([(KAFKA_HEADER, None)]) is None
    headers = command_headers({KAFKA_HEADER: "req-2", ACCEPTED_AT_HEADER: "soon"})
    assert headers is not None
    assert (headers.correlation_id, headers.accepted_at_ms) == ("req-2", None)


def test_each_order_named_by_a_traced_command_gets_its_headers() -> None:
    leg_a, leg_b = command(0, order_id=11), command(0, order_id=12)
    commands = [command(1, order_id=10), command(2, CommandKind.PLACE_OCO, legs=(leg_a, leg_b)),
                command(3, CommandKind.CANCEL_REPLACE, order_id=10, new_order_id=13),
                command(4, CommandKind.CANCEL_ALL), command(5, order_id=14)]
    assert [command_order_ids(c) for c in commands] == [[10], [11, 12], [10, 13], [], [14]]
    traces = {1: traced("a"), 2: traced("b"), 3: traced("c"), 4: traced("d")}
    assert order_causes(commands, traces) == {
        10: traced("c"), 11: traced("b"), 12: traced("b"), 13: traced("c")}


def test_an_update_has_a_sole_cause_only_when_one_request_made_all_of_it() -> None:
    one, other = traced("a"), traced("b")
    assert sole_cause([command(1), command(2)], {1: one, 2: traced("a")}) == one
    assert sole_cause([command(1), command(2)], {1: one, 2: other}) is None
    assert sole_cause([command(1), command(2)], {1: one}) is None
    assert sole_cause([], {}) is None
