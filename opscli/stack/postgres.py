"""The stack's own PostgreSQL cluster, from Debian's package, on 127.0.0.1.

initdb and the server refuse to run as root, so as root they run as Debian's
unprivileged `postgres` user, which then owns the data folder.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

from opscli.stack.config import StackConfig
from opscli.stack.process import (
    ServiceError,
    ensure_port_free,
    process_matches,
    read_pid,
    wait_until,
)

SERVICE = "postgres"
Connection = psycopg.Connection[tuple[object, ...]]
OS_USER = "postgres"
OUTSIDE_HOME_ROOT = Path("/var/lib/spot-exchange")


def bin_dir() -> Path:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name)
    )
    if not candidates:
        raise ServiceError(
            SERVICE, "PostgreSQL is not installed: run scripts/install.sh", Path("/dev/null")
        )
    return candidates[-1].parent


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
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        return self.home / "socket"

    @property
    def log_path(self) -> Path:
        return self.home / "postgres.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.config.pg_port}"

    def start(self) -> None:
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._write_config()
        if self.running_pid() is None:
            self._start_server()
        self._bootstrap_roles_and_databases()

    def wait_ready(self, timeout: float) -> None:
        if not wait_until(self.is_ready, timeout, interval=0.2):
            raise ServiceError(SERVICE, f"not accepting queries on {self.address}", self.log_path)

    def stop(self) -> None:
        if self.running_pid() is None:
            return
        self._as_owner([str(bin_dir() / "pg_ctl"), "stop", "-D", str(self.data_dir),
                        "-m", "fast", "-w", "-t", "60"])

    def running_pid(self) -> int | None:
        pid = read_pid(self.data_dir / "postmaster.pid")
        return pid if pid is not None and process_matches(pid, "postgres") else None

    def is_ready(self) -> bool:
        try:
            with psycopg.connect(self.config.database_url(self.config.databases[0]),
                                 connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def _prepare_dirs(self) -> None:
        self._place_home_where_owner_can_reach()
        for directory in (self.home, self.socket_dir):
            directory.mkdir(parents=True, exist_ok=True)
            self._give_to_owner(directory)
        self.log_path.touch(exist_ok=True)
        self._give_to_owner(self.log_path)

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

    def _initdb(self) -> None:
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self._give_to_owner(self.data_dir)
        self._as_owner([str(bin_dir() / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                        "--auth-local=trust", "--auth-host=scram-sha-256",
                        "--encoding=UTF8", "--locale=C"])
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude 'exchange.conf'\n")

    def _write_config(self) -> None:
        # Rewritten on every start so a changed port or setting takes effect.
        conf = self.data_dir / "exchange.conf"
        conf.write_text(
            f"listen_addresses = '127.0.0.1'\n"
            f"port = {self.config.pg_port}\n"
            f"unix_socket_directories = '{self.socket_dir}'\n"
            "max_connections = 300\n"
            "shared_buffers = 256MB\n"
            "logging_collector = off\n"
            "log_line_prefix = '%m [%p] %q%u@%d '\n"
        )
        self._give_to_owner(conf)

    def _start_server(self) -> None:
        ensure_port_free(SERVICE, self.config.pg_port, "EXCHANGE_PG_PORT", self.log_path)
        pg_ctl = [str(bin_dir() / "pg_ctl"), "start", "-D", str(self.data_dir),
                  "-l", str(self.log_path), "-w", "-t", "60"]
        # After a kill -9 the old server's children may hold shared memory for a
        # moment; the postmaster refuses to start until they are gone.
        for _attempt in range(10):
            if self._as_owner(pg_ctl, check=False).returncode == 0:
                return
            time.sleep(1.0)
        raise ServiceError(SERVICE, "pg_ctl start failed", self.log_path)

    def _bootstrap_roles_and_databases(self) -> None:
        with psycopg.connect(host=str(self.socket_dir), port=self.config.pg_port,
                             user="postgres", dbname="postgres", autocommit=True) as conn:
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
                with psycopg.connect(host=str(self.socket_dir), port=self.config.pg_port,
                                     user="postgres", dbname=db_name, autocommit=True) as db:
                    db.execute("CREATE EXTENSION IF NOT EXISTS citext")

    def _ensure_service_logins(self, conn: Connection) -> None:
        """A login role per service, member of the group role its grants go to.

        The group roles are created here too (the migrations create them where they are
        missing), so that the logins can join them before the first migration runs.
        """
        for group, login in self.config.service_logins.items():
            ensure_role(conn, group, sql.SQL("NOLOGIN"))
            ensure_login(conn, login, group, self.config.db_service_password)

    def _as_owner(
        self, command: list[str], *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        if os.geteuid() == 0:
            command = ["runuser", "-u", OS_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False,
                                cwd="/")
        if check and result.returncode != 0:
            output = result.stderr.strip() or result.stdout.strip()
            raise ServiceError(SERVICE, f"{' '.join(command)} failed: {output}", self.log_path)
        return result

    def _give_to_owner(self, path: Path) -> None:
        if os.geteuid() == 0:
            owner = pwd.getpwnam(OS_USER)
            shutil.chown(path, owner.pw_uid, owner.pw_gid)


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
