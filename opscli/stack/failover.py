"""`exchange db failover`: promote the local standby, then bring the former primary back
as the new standby (pg_rewind, else a fresh base backup) and make commits synchronous
again, as Patroni or an Aurora failover would.

Safe to run again: it refuses while the primary is healthy, unless forced, which makes
it a planned switchover (the primary is shut down cleanly first, so that the standby has
every WAL record before it is promoted), and it refuses when there is no running standby
to promote. A primary that runs but does not answer is stopped first (fenced), so that
two nodes never take writes at once.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from opscli.stack.pg_node import PostgresNode
from opscli.stack.postgres import STANDBY_TIMEOUT_SECONDS, Postgres
from opscli.stack.process import signal_group, wait_until
from opscli.stack.replication import (
    make_synchronous,
    promote,
    rejoin_as_standby,
    set_synchronous,
)

PROMOTE_TIMEOUT_SECONDS = 60.0
T = TypeVar("T")


class FailoverRefusedError(RuntimeError):
    """Nothing was changed: says why."""


@dataclass(frozen=True)
class Step:
    what: str
    seconds: float
    outcome: str = ""

    def describe(self) -> str:
        outcome = f" ({self.outcome})" if self.outcome else ""
        return f"{self.what}{outcome}: {self.seconds:.2f} s"


class Timed:
    """Runs the steps, keeping what each took, and reports each as it ends."""

    def __init__(self, report: Callable[[Step], None]) -> None:
        self.report = report
        self.steps: list[Step] = []

    def run(self, what: str, action: Callable[[], T], outcome: Callable[[T], str] = str) -> T:
        started = time.monotonic()
        result = action()
        step = Step(what, time.monotonic() - started,
                    "" if result is None else outcome(result))
        self.steps.append(step)
        self.report(step)
        return result


def failover(pg: Postgres, *, force: bool, report: Callable[[Step], None]) -> list[Step]:
    """Promote the standby and re-attach the former primary; the steps and their times.

    Raises FailoverRefusedError before changing anything when it should not run. A failure
    after the promotion (the former primary cannot rejoin) leaves the new primary taking
    writes, asynchronously until its standby is back (the watchdog's work).
    """
    timed = Timed(report)
    with pg.exclusive():
        old = pg.primary()
        new = pg.peer(old)
        if new.role() != "standby":
            raise FailoverRefusedError(f"node {new.name} ({new.address}) is not a running"
                                  " standby: there is nothing to promote")
        if old.role() == "primary":
            if not force:
                raise FailoverRefusedError(f"the primary, node {old.name} ({old.address}), is"
                                      " healthy: pass --force for a planned switchover")
            timed.run(f"stop the primary {old.name} cleanly, its last WAL sent to"
                      f" {new.name}", old.stop)
        elif old.running_pid() is not None:
            timed.run(f"fence the unresponsive primary {old.name}", lambda: fence(old))
        timed.run(f"promote {new.name}; it takes writes", lambda: promote_alone(new))
        pg.state.set_primary(new.name)
        timed.run(f"rejoin {old.name} as standby", lambda: rejoin_as_standby(new, old))
        timed.run(f"start {old.name}", old.start_server)
        timed.run(f"{old.name} streams from {new.name}; commits synchronous again",
                  lambda: make_synchronous(new, old, pg.synchronous_names,
                                           STANDBY_TIMEOUT_SECONDS))
    return timed.steps


def promote_alone(node: PostgresNode) -> None:
    """Promote `node` with synchronous commit off: its standby is gone for now, and a
    commit waiting for it would block until the former primary is back."""
    set_synchronous(node, None)
    promote(node, PROMOTE_TIMEOUT_SECONDS)


def fence(node: PostgresNode) -> None:
    """Kill a server that runs but does not answer, with every process of its group: a
    hung server may not act on a shutdown request."""
    pid = node.running_pid()
    if pid is not None:
        signal_group(pid, signal.SIGKILL)
        wait_until(lambda: node.running_pid() is None, 10)
