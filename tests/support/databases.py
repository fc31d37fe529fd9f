"""Scratch databases of tests and benchmarks, dropped whatever still uses them."""

from __future__ import annotations

import psycopg
from psycopg import sql


def drop_database(admin_url: str, name: str) -> None:
    """Drop ``name``. FORCE ends the sessions left in it, but refuses (to a role that is
    not a superuser) while an autovacuum worker is in the database, which is likely
    right after a run that wrote a lot; a plain DROP then cancels the worker itself."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
        except psycopg.errors.InsufficientPrivilege:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
