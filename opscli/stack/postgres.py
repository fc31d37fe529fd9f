"""The stack's own PostgreSQL, from Debian's package, on 127.0.0.1: a primary and a hot
standby streaming from it synchronously, so that a committed transaction is on both.

Two nodes, node1 (`<home>/data`, EXCHANGE_PG_PORT) and node2 (`<home>/data-node2`,
EXCHANGE_PG_STANDBY_PORT), either of which may be the primary: a running server says
what it is, and `<home>/cluster.json` names the node last made primary for when neither
runs. Clients reach whichever is primary through a URL naming both hosts
(chalicelib/settings.py). `exchange db failover` and its watchdog
(opscli/stack/failover.py, opscli/stack/watchdog.py) swap the two.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

from opscli.stack.config import StackConfig
from opscli.stack.pg_node import (
    OS_USER,
    SERVICE,
    Connection,
    PostgresNode,
    give_to_owner,
)
from opscli.stack.process import ServiceError, wait_until
from opscli.stack.replication import (
    ClusterState,
    base_backup,
    make_synchronous,
    rejoin_as_standby,
    standby_state,
    synchronous_names,
    synchronous_setting,
)

OUTSIDE_HOME_ROOT = Path("/var/lib/spot-exchange")
STANDBY_TIMEOUT_SECONDS = 60.0

__all__ = ["Connection", "Postgres", "ensure_login", "ensure_role"]


class Postgres:
    name = SERVICE

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.link = config.state_dir / "postgres"

    @property
    def home(self) -> Path:
        # Resolved: the postgres user must be given a path it can walk.
        return self.link.resolve()

    @property
    def nodes(self) -> tuple[PostgresNode, PostgresNode]:
        home = self.home
        return (PostgresNode("node1", home, "data", "postgres.log", self.config.pg_port,
                             "EXCHANGE_PG_PORT"),
                PostgresNode("node2", home, "data-node2", "postgres-node2.log",
                             self.config.standby_port, "EXCHANGE_PG_STANDBY_PORT"))

    @property
    def state(self) -> ClusterState:
        return ClusterState(self.home)

    @property
    def paused_marker(self) -> Path:
        """Present while the operator has the stack stopped: the watchdog then waits."""
        return self.home / "stopped"

    @property
    def log_path(self) -> Path:
        return self.primary().log_path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.config.pg_port},{self.config.standby_port}"

    @property
    def synchronous_names(self) -> str:
        return synchronous_names(self.nodes)

    def peer(self, node: PostgresNode) -> PostgresNode:
        return next(other for other in self.nodes if other.name != node.name)

    def primary(self) -> PostgresNode:
        """The node answering as primary; when none (or both) does, the one last made
        primary (node1 for a stack that never failed over)."""
        answering = [node for node in self.nodes if node.role() == "primary"]
        if len(answering) == 1:
            return answering[0]
        recorded = self.state.primary()
        return next((node for node in self.nodes if node.name == recorded), self.nodes[0])

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """One process at a time changes the nodes (`up`, a failover, the watchdog)."""
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / "cluster.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def start(self) -> None:
        """Start what is not running: the primary, then its standby (a base backup of the
        primary when it has none yet), then make replication synchronous. A primary that
        already runs is only reloaded, never restarted."""
        self._prepare_dirs()
        with self.exclusive():
            primary = self.primary()
            standby = self.peer(primary)
            if not primary.exists:
                if standby.exists:
                    raise ServiceError(SERVICE, f"node {primary.name} was the primary and its"
                                       f" data folder {primary.data_dir} is gone",
                                       primary.log_path)
                primary.initdb()
            primary.write_config(standby)
            if primary.running_pid() is None:
                primary.start_server()
            if not wait_until(lambda: primary.role() == "primary", STANDBY_TIMEOUT_SECONDS):
                raise ServiceError(SERVICE, f"node {primary.name} does not answer as primary",
                                   primary.log_path)
            primary.reload()
            self.state.set_primary(primary.name)
            self.ensure_standby(primary, standby)
            self._bootstrap_roles_and_databases(primary)
            self.paused_marker.unlink(missing_ok=True)

    def ensure_standby(self, primary: PostgresNode, standby: PostgresNode) -> str:
        """Have `standby` stream from `primary` synchronously; says what it took.

        A standby that cannot follow (the WAL it needs is gone from the primary) is
        replaced by a fresh base backup.
        """
        if standby.running_pid() is not None and standby.role() == "primary":
            standby.stop()  # a former primary started by hand: it must rewind first
        if standby.running_pid() is None:
            how = rejoin_as_standby(primary, standby)
            standby.start_server()
        else:
            standby.write_config(primary)
            standby.reload()
            how = "running"
        try:
            make_synchronous(primary, standby, self.synchronous_names, STANDBY_TIMEOUT_SECONDS)
        except ServiceError:
            if how.startswith("base backup"):
                raise
            standby.stop("immediate")
            base_backup(primary, standby)
            standby.start_server()
            make_synchronous(primary, standby, self.synchronous_names, STANDBY_TIMEOUT_SECONDS)
            how = "base backup (it could not follow)"
        return how

    def wait_ready(self, timeout: float) -> None:
        if not wait_until(self.is_ready, timeout, interval=0.2):
            raise ServiceError(SERVICE, f"no node takes writes on {self.address}", self.log_path)

    def stop(self) -> None:
        """Stop the primary first: a clean shutdown sends its last WAL to the standby."""
        if self.home.exists():
            self.paused_marker.touch()
        primary = self.primary()
        for node in (primary, self.peer(primary)):
            node.stop()

    def running_pid(self) -> int | None:
        return self.primary().running_pid()

    def is_ready(self) -> bool:
        """The primary takes queries, found as clients find it."""
        try:
            with psycopg.connect(self.config.database_url(self.config.databases[0]),
                                 connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def describe_nodes(self) -> list[str]:
        """A line per node: its role, and how the standby keeps up."""
        primary = self.primary()
        lines = []
        for node in self.nodes:
            pid = node.running_pid()
            role = node.role()
            if role == "primary":
                waits_for = synchronous_setting(node) or "no standby (asynchronous)"
                detail = f"primary, commits wait for: {waits_for}"
            elif role == "standby":
                seen = standby_state(primary, node)
                detail = (f"standby, {seen.state} {seen.sync_state},"
                          f" replay lag {seen.lag_bytes} B")
            else:
                detail = "not answering" if pid else "stopped"
            lines.append(f"  {node.name:<7} {node.address:<16} pid {pid or '-':<8} {detail}"
                         f"  log: {node.log_path}")
        return lines

    def _prepare_dirs(self) -> None:
        self._place_home_where_owner_can_reach()
        for directory in (self.home, self.home / "socket"):
            directory.mkdir(parents=True, exist_ok=True)
            give_to_owner(directory)

    def _place_home_where_owner_can_reach(self) -> None:
        """Keep PostgreSQL's files reachable by its unprivileged user.

        When the project sits below a folder the `postgres` user cannot enter
        (a clone under /root, say), the data lives below /var/lib and the project's
        state folder holds a symlink to it, so it is still found in one place.
        """
        if os.geteuid() != 0 or self.link.exists():
            return
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        probe = subprocess.run(["runuser", "-u", OS_USER, "--", "test", "-x",
                                str(self.config.state_dir)], check=False)
        if probe.returncode == 0:
            return
        digest = hashlib.sha256(str(self.config.state_dir).encode()).hexdigest()[:12]
        outside = OUTSIDE_HOME_ROOT / digest
        outside.mkdir(mode=0o755, parents=True, exist_ok=True)
        if self.link.is_symlink():  # dangling: its target was removed
            self.link.unlink()
        self.link.symlink_to(outside, target_is_directory=True)

    def _bootstrap_roles_and_databases(self, primary: PostgresNode) -> None:
        with primary.connect() as conn:
            role = sql.Identifier(self.config.db_user)
            # CREATEROLE as on Aurora, where the owner's migrations create the services'
            # group roles (chalicelib/migrations/0007_service_roles.sql).
            ensure_role(conn, self.config.db_user,
                        sql.SQL("LOGIN CREATEDB CREATEROLE PASSWORD {}").format(
                            sql.Literal(self.config.db_password)))
            self._ensure_service_logins(conn)
            for db_name in self.config.databases:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                    (db_name,)).fetchone():
                    conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(db_name), role))
                # citext is trusted, but creating extensions is simplest as superuser.
                with primary.connect(db_name) as db:
                    db.execute("CREATE EXTENSION IF NOT EXISTS citext")

    def _ensure_service_logins(self, conn: Connection) -> None:
        """A login role per service, member of the group role its grants go to.

        The group roles are created here too (the migrations create them where they are
        missing), so that the logins can join them before the first migration runs.
        """
        for group, login in self.config.service_logins.items():
            ensure_role(conn, group, sql.SQL("NOLOGIN"))
            ensure_login(conn, login, group, self.config.db_service_password)


def ensure_role(conn: Connection, name: str, options: sql.Composable) -> bool:
    """Create role `name` with `options`, or alter it to them; True when created."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
    conn.execute(sql.SQL("{} ROLE {} {}").format(verb, sql.Identifier(name), options))
    return exists is None


def ensure_login(conn: Connection, login: str, group: str, password: str) -> bool:
    """Make `login` a login role with `password`, member of `group`; True when created.

    The password is sent as a SCRAM verifier computed here, so the plain text never
    reaches the server, nor any statement log there.
    """
    verifier = conn.pgconn.encrypt_password(password.encode(), login.encode(),
                                            b"scram-sha-256").decode()
    created = ensure_role(conn, login, sql.SQL("LOGIN PASSWORD {}").format(
        sql.Literal(verifier)))
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group),
                                                  sql.Identifier(login)))
    return created
