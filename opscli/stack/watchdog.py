"""`exchange db watch`: the local PostgreSQL pair's watchdog, run by `exchange up`.

Every interval it looks at both nodes and, as Patroni would:

- fails over (opscli/stack/failover.py) when the primary has not answered for
  `failover_after` seconds and the standby runs; with no standby to promote, it
  restarts the primary where it was;
- restarts a standby whose server is not running (rejoining it first if it was a
  primary), and rebuilds from a base backup one that runs but has not streamed for
  REBUILD_STANDBY_AFTER_SECONDS;
- turns synchronous commit off while the standby has not streamed for
  `failover_after` seconds, and back on once it streams: with synchronous replication
  a dead standby would otherwise block every commit on the primary for as long as it is
  down. While it is off, a commit is on the primary only; were the primary lost then, a
  failover would lose those commits (Patroni's default, non-strict synchronous mode).

It does nothing while the operator has the stack stopped (`exchange stack down`), and
logs one JSON object per line: what it saw change and what it did.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import psycopg

from opscli.stack.failover import FailoverRefusedError, Step, failover
from opscli.stack.postgres import Postgres
from opscli.stack.process import ServiceError
from opscli.stack.replication import (
    base_backup,
    rejoin_as_standby,
    set_synchronous,
    standby_state,
    synchronous_setting,
)

REBUILD_STANDBY_AFTER_SECONDS = 60.0
Action = Literal["none", "failover", "restart_primary", "restart_standby",
                 "rebuild_standby", "sync_off", "sync_on"]
Emit = Callable[[dict[str, object]], None]


@dataclass(frozen=True)
class Observation:
    """What one look at the pair found."""

    paused: bool
    primary: str
    primary_up: bool  # the node meant to be primary answers as one
    standby: str
    standby_running: bool  # its server process exists
    standby_is_standby: bool  # it answers, in recovery: it could be promoted
    standby_streaming: bool  # the primary sees it streaming
    synchronous: bool  # the primary's commits wait for a standby


@dataclass
class Timers:
    """Since when (monotonic seconds) each node has been found wanting; None: it is fine."""

    primary_down_since: float | None = None
    standby_away_since: float | None = None
    seen: dict[str, bool] = field(default_factory=dict)


def decide(seen: Observation, timers: Timers, now: float, failover_after: float) -> Action:
    """What to do about `seen`, given how long things have been wrong (kept in `timers`)."""
    if seen.paused:
        timers.primary_down_since = timers.standby_away_since = None
        return "none"
    if not seen.primary_up:
        timers.standby_away_since = None
        if timers.primary_down_since is None:
            timers.primary_down_since = now
        if now - timers.primary_down_since < failover_after:
            return "none"
        timers.primary_down_since = None
        return "failover" if seen.standby_is_standby else "restart_primary"
    timers.primary_down_since = None
    if seen.standby_streaming:
        timers.standby_away_since = None
        return "none" if seen.synchronous else "sync_on"
    if timers.standby_away_since is None:
        timers.standby_away_since = now
    away_for = now - timers.standby_away_since
    if seen.synchronous and away_for >= failover_after:
        return "sync_off"
    if not seen.standby_running:
        return "restart_standby"
    if away_for >= REBUILD_STANDBY_AFTER_SECONDS:
        timers.standby_away_since = None
        return "rebuild_standby"
    return "none"


def observe(pg: Postgres) -> Observation:
    primary = pg.primary()
    standby = pg.peer(primary)
    primary_up = primary.role() == "primary"
    return Observation(
        paused=pg.paused_marker.exists(),
        primary=primary.name,
        primary_up=primary_up,
        standby=standby.name,
        standby_running=standby.running_pid() is not None,
        standby_is_standby=standby.role() == "standby",
        standby_streaming=primary_up and standby_state(primary, standby).streaming,
        synchronous=primary_up and bool(synchronous_setting(primary)),
    )


def act(pg: Postgres, action: Action, seen: Observation, emit: Emit) -> None:
    primary = next(node for node in pg.nodes if node.name == seen.primary)
    standby = pg.peer(primary)
    if action == "failover":
        def report(step: Step) -> None:
            emit({"event": "failover_step", "step": step.what, "outcome": step.outcome,
                  "seconds": round(step.seconds, 3)})

        started = time.monotonic()
        failover(pg, force=False, report=report)
        emit({"event": "failover_done", "primary": standby.name,
              "seconds": round(time.monotonic() - started, 3)})
    elif action == "restart_primary":
        with pg.exclusive():
            primary.start_server()
    elif action == "restart_standby":
        with pg.exclusive():
            how = rejoin_as_standby(primary, standby)
            standby.start_server()
        emit({"event": "standby_restarted", "node": standby.name, "how": how})
    elif action == "rebuild_standby":
        with pg.exclusive():
            standby.stop("immediate")
            base_backup(primary, standby)
            standby.start_server()
    elif action == "sync_off":
        set_synchronous(primary, None)
    elif action == "sync_on":
        set_synchronous(primary, pg.synchronous_names)


def report_changes(seen: Observation, timers: Timers, emit: Emit) -> None:
    """One line when the primary or the standby goes away or comes back."""
    for what, now_ok in (("primary", seen.primary_up), ("standby", seen.standby_streaming)):
        if seen.paused or timers.seen.get(what) == now_ok:
            continue
        if what == "standby" and not seen.primary_up:
            continue  # only a primary sees its standby stream
        if what in timers.seen or not now_ok:
            node = seen.primary if what == "primary" else seen.standby
            emit({"event": f"{what}_{'up' if now_ok else 'down'}", "node": node})
        timers.seen[what] = now_ok


def watch(pg: Postgres, *, failover_after: float, max_seconds: float | None,
          interval: float = 0.5, emit: Emit | None = None) -> None:
    """Look and act every `interval` seconds, for `max_seconds` (None: until killed)."""
    emit = emit or print_json
    timers = Timers()
    emit({"event": "watch_started", "failover_after_seconds": failover_after,
          "nodes": [f"{node.name} {node.address}" for node in pg.nodes]})
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    while deadline is None or time.monotonic() < deadline:
        action: Action = "none"
        try:
            seen = observe(pg)
            report_changes(seen, timers, emit)
            action = decide(seen, timers, time.monotonic(), failover_after)
            if action != "none":
                emit({"event": action, "primary": seen.primary, "standby": seen.standby})
                act(pg, action, seen, emit)
        except (FailoverRefusedError, ServiceError, psycopg.Error, OSError) as exc:
            emit({"event": "error", "action": action, "error": str(exc).splitlines()[0]})
        time.sleep(interval)
    emit({"event": "watch_stopped"})


def print_json(entry: dict[str, object]) -> None:
    line = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **entry}
    print(json.dumps(line), flush=True)
