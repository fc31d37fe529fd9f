"""The PostgreSQL watchdog's decisions (opscli/stack/watchdog.py), from what it sees and
for how long, without servers."""

from __future__ import annotations

from dataclasses import replace

from opscli.stack.watchdog import REBUILD_STANDBY_AFTER_SECONDS, Observation, Timers, decide

AFTER = 5.0
HEALTHY = Observation(paused=False, primary="node1", primary_up=True, standby="node2",
                      standby_running=True, standby_is_standby=True, standby_streaming=True,
                      synchronous=True)
PRIMARY_DOWN = replace(HEALTHY, primary_up=False, standby_streaming=False, synchronous=False)


def test_a_healthy_pair_is_left_alone() -> None:
    timers = Timers()

    assert [decide(HEALTHY, timers, now, AFTER) for now in (0, 10, 100)] == ["none"] * 3


def test_fails_over_once_the_primary_has_been_down_the_configured_time() -> None:
    timers = Timers()

    assert decide(PRIMARY_DOWN, timers, 100.0, AFTER) == "none"
    assert decide(PRIMARY_DOWN, timers, 104.9, AFTER) == "none"
    assert decide(PRIMARY_DOWN, timers, 105.0, AFTER) == "failover"


def test_a_primary_back_before_the_time_resets_the_count() -> None:
    timers = Timers()
    decide(PRIMARY_DOWN, timers, 100.0, AFTER)
    decide(HEALTHY, timers, 103.0, AFTER)

    assert decide(PRIMARY_DOWN, timers, 106.0, AFTER) == "none"
    assert decide(PRIMARY_DOWN, timers, 111.0, AFTER) == "failover"


def test_without_a_standby_to_promote_the_primary_is_restarted() -> None:
    timers = Timers()
    lone = replace(PRIMARY_DOWN, standby_running=False, standby_is_standby=False)
    decide(lone, timers, 0.0, AFTER)

    assert decide(lone, timers, AFTER, AFTER) == "restart_primary"


def test_a_dead_standby_is_restarted_and_synchronous_commit_off_after_the_time() -> None:
    timers = Timers()
    dead = replace(HEALTHY, standby_running=False, standby_is_standby=False,
                   standby_streaming=False)

    assert decide(dead, timers, 0.0, AFTER) == "restart_standby"
    assert decide(replace(dead, standby_running=True), timers, 1.0, AFTER) == "none"
    assert decide(dead, timers, AFTER, AFTER) == "sync_off"
    asynchronous = replace(dead, synchronous=False)
    assert decide(asynchronous, timers, AFTER + 1, AFTER) == "restart_standby"
    assert decide(replace(HEALTHY, synchronous=False), timers, AFTER + 2, AFTER) == "sync_on"


def test_a_standby_that_runs_but_never_streams_is_rebuilt() -> None:
    timers = Timers()
    stuck = replace(HEALTHY, standby_streaming=False, synchronous=False)

    assert decide(stuck, timers, 0.0, AFTER) == "none"
    assert decide(stuck, timers, REBUILD_STANDBY_AFTER_SECONDS, AFTER) == "rebuild_standby"


def test_nothing_is_done_while_the_operator_has_the_stack_stopped() -> None:
    timers = Timers()
    stopped = replace(PRIMARY_DOWN, paused=True, standby_running=False)

    assert [decide(stopped, timers, now, AFTER) for now in (0, 10, 100)] == ["none"] * 3
