"""Streaming replication between the two local PostgreSQL nodes: make a standby (a base
backup, or pg_rewind of a former primary), promote one, switch synchronous commit.

Synchronous replication is set on the primary with ALTER SYSTEM, only while its standby
streams (as Patroni does): a commit then returns once the standby has the WAL on disk.
Set in the configuration file instead, a primary without its standby (its first start,
or a standby that died) would block every commit.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from opscli.stack.pg_node import PostgresNode, bin_dir, give_to_owner
from opscli.stack.process import ServiceError, wait_until

# pg_rewind's own single-user recovery of a killed target fails while the dead server's
# children still hold its shared memory: worth another try, unlike a missing wal_log_hints.
TRANSIENT_REWIND_ERRORS = ("shared memory", "postmaster.pid", "lock file")
REWIND_ATTEMPTS = 10


def synchronous_names(nodes: tuple[PostgresNode, ...]) -> str:
    """The same on either node: a primary is never its own standby."""
    return f"FIRST 1 ({', '.join(node.name for node in nodes)})"


@dataclass(frozen=True)
class StandbyState:
    """A standby as its primary sees it (pg_stat_replication)."""

    state: str  # streaming, catchup, ...; "absent" when not connected
    sync_state: str  # sync, async, potential
    lag_bytes: int

    @property
    def streaming(self) -> bool:
        return self.state == "streaming"

    @property
    def synchronous(self) -> bool:
        return self.streaming and self.sync_state in ("sync", "quorum")


ABSENT = StandbyState("absent", "", 0)


def standby_state(primary: PostgresNode, standby: PostgresNode) -> StandbyState:
    try:
        with primary.connect(timeout=2) as conn:
            row = conn.execute(
                "SELECT state, sync_state,"
                " COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint"
                " FROM pg_stat_replication WHERE application_name = %s"
                " ORDER BY backend_start DESC LIMIT 1", (standby.name,)).fetchone()
    except psycopg.Error:
        return ABSENT
    if row is None:
        return ABSENT
    state, sync_state, lag = row
    return StandbyState(str(state), str(sync_state), int(str(lag)))


def synchronous_setting(primary: PostgresNode) -> str | None:
    """The primary's synchronous_standby_names; None when it does not answer."""
    try:
        with primary.connect(timeout=2) as conn:
            row = conn.execute("SHOW synchronous_standby_names").fetchone()
    except psycopg.Error:
        return None
    return str(row[0]) if row else ""


def set_synchronous(primary: PostgresNode, names: str | None) -> None:
    """Commits on `primary` wait for a standby in `names`; None: for none.

    Backends already waiting are released at once when it is turned off.
    """
    with primary.connect() as conn:
        if names is None:
            conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
        else:
            conn.execute(sql.SQL("ALTER SYSTEM SET synchronous_standby_names = {}")
                         .format(sql.Literal(names)))
        conn.execute("SELECT pg_reload_conf()")


def make_synchronous(primary: PostgresNode, standby: PostgresNode, names: str,
                     timeout: float) -> None:
    """Turn synchronous commit on once `standby` streams; wait until it counts as sync."""
    if not wait_until(lambda: standby_state(primary, standby).streaming, timeout, 0.2):
        raise ServiceError("postgres", f"node {standby.name} is not streaming from"
                           f" {primary.name} after {timeout:.0f} s", standby.log_path)
    set_synchronous(primary, names)
    if not wait_until(lambda: standby_state(primary, standby).synchronous, timeout, 0.1):
        raise ServiceError("postgres", f"node {standby.name} is not a synchronous standby",
                           primary.log_path)


def base_backup(source: PostgresNode, target: PostgresNode) -> None:
    """Replace `target`'s data (it must be stopped) by a copy of the running `source`."""
    if target.running_pid() is not None:
        raise ServiceError("postgres", f"node {target.name} runs: not overwriting its data",
                           target.log_path)
    if target.data_dir.exists():
        shutil.rmtree(target.data_dir)
    target.data_dir.mkdir(mode=0o700)
    give_to_owner(target.data_dir)
    target.as_owner([str(bin_dir() / "pg_basebackup"), "-h", str(source.socket_dir),
                     "-p", str(source.port), "-U", "postgres", "-D", str(target.data_dir),
                     "-X", "stream", "-c", "fast", "--no-password"])
    target.make_standby(source)


def rewind(source: PostgresNode, target: PostgresNode) -> bool:
    """Bring a stopped former primary back onto `source`'s timeline; False if pg_rewind
    cannot (no wal_log_hints when it ran, WAL gone), and a base backup is needed.

    A target that was killed rather than shut down is first recovered by pg_rewind
    itself, in single-user mode.
    """
    if not logs_hint_bits(target):
        return False
    command = [str(bin_dir() / "pg_rewind"), "--target-pgdata", str(target.data_dir),
               "--source-server", f"host={source.socket_dir} port={source.port}"
               " user=postgres dbname=postgres"]
    # pg_rewind reads the source's timeline from its control file, which a promotion
    # updates only at its next checkpoint.
    with source.connect() as conn:
        conn.execute("CHECKPOINT")
    for _attempt in range(REWIND_ATTEMPTS):
        result = target.as_owner(command, check=False)
        if result.returncode == 0:
            target.make_standby(source)
            return True
        if not any(text in result.stderr for text in TRANSIENT_REWIND_ERRORS):
            break
        time.sleep(1.0)
    with target.log_path.open("a") as log:
        log.write(f"pg_rewind failed, a base backup follows:\n{result.stderr}\n")
    return False


def logs_hint_bits(node: PostgresNode) -> bool:
    """Whether the server last ran with wal_log_hints (or checksums), as pg_rewind needs.

    Read before pg_rewind's own recovery of a killed target, which would record the
    setting as it is now in the configuration file, not as it was when pages changed.
    """
    control = node.as_owner([str(bin_dir() / "pg_controldata"), "-D", str(node.data_dir)])
    settings = dict(line.split(":", 1) for line in control.stdout.splitlines() if ":" in line)
    return (settings.get("wal_log_hints setting", "").strip() == "on"
            or settings.get("Data page checksum version", "0").strip() != "0")


def rejoin_as_standby(source: PostgresNode, target: PostgresNode) -> str:
    """Make the stopped `target` a standby of `source`; says how."""
    if not target.exists:
        base_backup(source, target)
        return "base backup"
    if target.marked_standby:
        target.make_standby(source)
        return "already a standby"
    if rewind(source, target):
        return "pg_rewind"
    base_backup(source, target)
    return "base backup (pg_rewind impossible)"


def promote(node: PostgresNode, timeout: float) -> None:
    """End recovery on `node` and wait until it takes a write."""
    node.as_owner([str(bin_dir() / "pg_ctl"), "promote", "-D", str(node.data_dir),
                   "-w", "-t", str(int(timeout))])

    def takes_a_write() -> bool:
        try:
            with node.connect(timeout=2) as conn:
                # Assigning a transaction id is a write; committed, it is on disk.
                conn.execute("SELECT pg_current_xact_id()")
        except psycopg.Error:
            return False
        return True

    if not wait_until(takes_a_write, timeout, 0.1):
        raise ServiceError("postgres", f"node {node.name} does not take writes after its"
                           " promotion", node.log_path)


class ClusterState:
    """Which node was last made primary, in `<home>/cluster.json`: what decides when
    neither server runs (a stopped former primary has no standby.signal either)."""

    def __init__(self, home: Path) -> None:
        self.path = home / "cluster.json"

    def primary(self) -> str | None:
        try:
            return str(json.loads(self.path.read_text())["primary"])
        except (FileNotFoundError, KeyError, ValueError):
            return None

    def set_primary(self, name: str) -> None:
        staged = self.path.with_suffix(".tmp")
        staged.write_text(json.dumps({"primary": name}) + "\n")
        staged.replace(self.path)
