"""``python -m opscli.release``: prepare the database and the topics for a new version.

The migrations Job runs it before a new matcher version rolls out (iac/README.md);
locally it prepares the local stack the same way. In order, each step idempotent:

1. apply the pending migrations as the schema's owner (MIGRATIONS_DATABASE_URL locally,
   MIGRATIONS_SECRET_ARN in AWS);
2. make each service's login (API_DB_SECRET_ARN, MATCHER_DB_SECRET_ARN,
   FUNCTIONS_DB_SECRET_ARN; locally the stack's own logins) a member of its group role
   (chalicelib/migrations/0007_service_roles.sql) that logs in with its secret's password;
3. create the topics with the stage's partition counts, KAFKA_REPLICATION_FACTOR and
   min.insync.replicas = KAFKA_MIN_INSYNC_REPLICAS; grow partitions, never shrink.

Each step logs one JSON line saying what it changed; a run with nothing to do changes
nothing and says so. On failure the step's error is logged and the exit status is 1.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import SecretStr

from chalicelib.adapters.kafka import make_admin
from chalicelib.adapters.migrations import apply_migrations, load_migrations
from chalicelib.adapters.secrets import read_login_secret, resolved_settings, secrets_client
from chalicelib.settings import SERVICE_GROUP_ROLES, Settings, service_login_role
from matching_cluster.service.logs import configure_logging
from opscli.stack.kafka_broker import ensure_topics
from opscli.stack.postgres import Connection, ensure_login

log = logging.getLogger("opscli.release")

# What the release job cannot run without in AWS.
RELEASE_VARIABLES = ("MIGRATIONS_SECRET_ARN", "API_DB_SECRET_ARN", "MATCHER_DB_SECRET_ARN",
                     "FUNCTIONS_DB_SECRET_ARN", "KAFKA_BOOTSTRAP_SERVERS")

Changes = list[str]


@dataclass(frozen=True)
class ServiceLogin:
    role: str
    username: str
    password: SecretStr

    @property
    def group(self) -> str:
        return SERVICE_GROUP_ROLES[self.role]


class ReleaseError(RuntimeError):
    """A release step failed; the message names the step and the cause."""


def release_settings() -> Settings:
    """The settings, with the owner's and (in AWS) the services' secrets resolved."""
    return resolved_settings(Settings(), required=RELEASE_VARIABLES)


def service_logins(settings: Settings) -> list[ServiceLogin]:
    """Each service's login: from its secret when one is named (always in AWS), else the
    local stack's login for it."""
    logins = []
    client = secrets_client(settings)
    for role in SERVICE_GROUP_ROLES:
        arn = settings.service_db_secret_arn(role)
        if arn:
            secret = read_login_secret(client, arn)
            logins.append(ServiceLogin(role, secret.username, secret.password))
        else:
            logins.append(ServiceLogin(role, service_login_role(role),
                                       settings.db_service_password))
    return logins


def migrate(settings: Settings) -> Changes:
    applied = apply_migrations(settings.migrations_database_url)
    return [f"applied {migration.version:04d}_{migration.name}" for migration in applied]


def ensure_logins(settings: Settings) -> Changes:
    owner_url = settings.migrations_database_url
    changes: Changes = []
    with psycopg.connect(owner_url, autocommit=True, connect_timeout=10) as conn:
        for login in service_logins(settings):
            if logs_in(owner_url, login) and is_member(conn, login):
                continue
            created = ensure_login(conn, login.username, login.group,
                                   login.password.get_secret_value())
            verb = "created" if created else "updated"
            changes.append(f"{verb} {login.username} (in {login.group})")
    return changes


def logs_in(owner_url: str, login: ServiceLogin) -> bool:
    """Whether `login` already logs in with its password where the owner does."""
    conninfo = make_conninfo(owner_url, user=login.username,
                             password=login.password.get_secret_value())
    try:
        with psycopg.connect(conninfo, connect_timeout=10):
            return True
    except psycopg.OperationalError:
        return False


def is_member(conn: Connection, login: ServiceLogin) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
        " JOIN pg_roles u ON u.oid = m.member WHERE g.rolname = %s AND u.rolname = %s",
        (login.group, login.username)).fetchone()
    return row is not None


def create_topics(settings: Settings) -> Changes:
    admin = make_admin(settings.kafka_bootstrap_servers, **{"log_level": 0})
    return ensure_topics(admin, settings.topic_partitions,
                         replication_factor=settings.kafka_replication_factor,
                         min_insync_replicas=settings.kafka_min_insync_replicas)


STEPS: dict[str, Callable[[Settings], Changes]] = {
    "migrations": migrate, "logins": ensure_logins, "topics": create_topics}


def release(settings: Settings) -> dict[str, Changes]:
    """Run every step in order; what each changed (all empty: nothing to do)."""
    target = conninfo_to_dict(settings.migrations_database_url)
    log.info("release starting", extra={"database": target.get("dbname"),
                                        "host": target.get("host"),
                                        "kafka": settings.kafka_bootstrap_servers})
    done: dict[str, Changes] = {}
    for name, step in STEPS.items():
        try:
            done[name] = step(settings)
        except Exception as exc:
            raise ReleaseError(f"{name}: {type(exc).__name__}: {exc}") from exc
        log.info(f"{name}: " + ("; ".join(done[name]) or "no change"),
                 extra={"step": name, "changed": bool(done[name]), "changes": done[name]})
    log.info("release done", extra={"changed": any(done.values()),
                                    "schema_version": load_migrations()[-1].version,
                                    "topics": settings.topic_partitions})
    return done


def main() -> int:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    try:
        release(release_settings())
    except Exception as exc:  # whatever it is, the Job's log must say why it failed
        log.error("release failed", extra={"error": f"{exc}"})
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
