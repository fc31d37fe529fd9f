"""Each service's database role can do its job and nothing more: no DDL, no TRUNCATE,
and the ledger is insert-only for all of them (SPEC: Security)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors

from chalicelib.adapters import fee_tiers_repo
from chalicelib.adapters.candles_store import CandleRepository
from chalicelib.adapters.ledger import post_transaction
from chalicelib.domain.candles import Trade
from chalicelib.domain.fees import FeeTier, Rates
from chalicelib.domain.ledger import AccountKind, AccountRef, Bucket, Posting
from chalicelib.settings import DbRole, Settings, service_login_role
from matching_cluster.service import repository as matcher_repo
from opscli.stack.apps import app_processes
from opscli.stack.config import StackConfig
from tests.integration.matching.support import create_market

Conn = psycopg.Connection[Any]

SERVICE_ROLES: list[DbRole] = ["api", "matcher", "functions"]

REFUSED = {
    "truncate the ledger": "TRUNCATE ledger_entries",
    "rewrite a ledger entry": "UPDATE ledger_entries SET amount = amount + 1",
    "delete ledger entries": "DELETE FROM ledger_entries",
    "rewrite a ledger transaction": "UPDATE ledger_transactions SET reference = 'x'",
    "delete ledger transactions": "DELETE FROM ledger_transactions",
    "drop the append-only trigger": "DROP TRIGGER ledger_entries_append_only ON ledger_entries",
    "disable the ledger's triggers": "ALTER TABLE ledger_entries DISABLE TRIGGER ALL",
    "alter a table": "ALTER TABLE balances DROP CONSTRAINT balances_available_nonnegative",
    "create a table": "CREATE TABLE intruder (id integer)",
    "create a temporary table": "CREATE TEMPORARY TABLE intruder (id integer)",
    "truncate the balances": "TRUNCATE balances",
    "rewrite the audit log": "UPDATE audit_log SET action = 'nothing'",
    "delete the audit log": "DELETE FROM audit_log",
    "drop a table": "DROP TABLE trades",
    "become the owner": "SET ROLE exchange",
}


def role_url(stack: StackConfig, settings: Settings, role: DbRole) -> str:
    return stack.database_url(settings.test_db_name, role)


@pytest.fixture
def connect_as(
    stack: StackConfig, test_settings: Settings, db_url: str
) -> Iterator[Any]:
    """``connect_as(role)``: an autocommit connection to the emptied test database."""
    opened: list[Conn] = []

    def connect(role: DbRole) -> Conn:
        opened.append(psycopg.connect(role_url(stack, test_settings, role), autocommit=True))
        return opened[-1]

    yield connect
    for conn in opened:
        conn.close()


@pytest.fixture
def user_id(db: Conn) -> int:
    create_market(db)
    row = db.execute("INSERT INTO users (email, password_hash) VALUES ('alice@example.com', 'x')"
                     " RETURNING id").fetchone()
    assert row is not None
    return int(row[0])


def deposit(user_id: int) -> list[Posting]:
    return [Posting(AccountRef.user(user_id, "BTC"), Bucket.AVAILABLE, 100),
            Posting(AccountRef.system(AccountKind.DEPOSIT_CLEARING, "BTC"), Bucket.AVAILABLE,
                    -100)]


@pytest.mark.parametrize("role", SERVICE_ROLES)
@pytest.mark.parametrize("statement", REFUSED.values(), ids=REFUSED.keys())
def test_a_service_role_cannot_rewrite_history_or_the_schema(
    connect_as: Any, db: Conn, user_id: int, role: DbRole, statement: str
) -> None:
    with db.transaction():
        post_transaction(db, "DEPOSIT", "seed", deposit(user_id))

    with pytest.raises(errors.InsufficientPrivilege, match=r"permission denied|must be owner"):
        connect_as(role).execute(statement.encode())

    assert db.execute("SELECT count(*) FROM ledger_entries").fetchone() == (2,)
    assert db.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'intruder'"
                      ).fetchone() == (0,)


@pytest.mark.parametrize("role", ["api", "matcher"])
def test_the_api_and_the_matcher_post_balanced_ledger_transactions(
    connect_as: Any, db: Conn, user_id: int, role: DbRole
) -> None:
    conn = connect_as(role)
    with conn.transaction():
        posted = post_transaction(conn, "DEPOSIT", f"by-{role}", deposit(user_id))

    assert posted is not None
    assert db.execute("SELECT available FROM balances WHERE user_id = %s AND asset = 'BTC'",
                      (user_id,)).fetchone() == (100,)


def test_the_api_sets_fee_tiers_and_the_matcher_reads_them_and_their_version(
    connect_as: Any, db: Conn, user_id: int
) -> None:
    api = connect_as("api")
    with api.transaction():
        fee_tiers_repo.replace_tiers(api, [FeeTier(1, "USDT", 0, 400, 500)])
        fee_tiers_repo.pin_tier(api, user_id, 1)

    matcher = connect_as("matcher")
    assert matcher_repo.all_fee_tier_rates(matcher) == {user_id: Rates(400, 500)}
    assert matcher_repo.fetch_version(matcher_repo.fee_tier_version_cursor(matcher)) > 0


def test_the_functions_cannot_move_money(connect_as: Any, user_id: int) -> None:
    conn = connect_as("functions")
    with pytest.raises(errors.InsufficientPrivilege, match="permission denied"), \
            conn.transaction():
        post_transaction(conn, "DEPOSIT", "by-functions", deposit(user_id))


def test_the_functions_fold_trades_into_candles(
    stack: StackConfig, test_settings: Settings, db: Conn, user_id: int
) -> None:
    repository = CandleRepository(role_url(stack, test_settings, "functions"))
    trade = Trade(trade_id=1, time_ms=1_700_000_000_000, price=100, qty=10, quote_qty=1000,
                  buyer_is_maker=True)
    try:
        result = repository.fold({"BTCUSDT": [trade]})
    finally:
        repository.close()

    assert result.folded_trades == 1
    assert db.execute("SELECT count(*) FROM candles WHERE market = 'BTCUSDT'").fetchone() == (15,)


@pytest.mark.parametrize("role", SERVICE_ROLES)
def test_a_process_connects_as_the_role_it_is_started_with(
    monkeypatch: pytest.MonkeyPatch, test_settings: Settings, migrated_db: str, role: DbRole
) -> None:
    for name in ("DATABASE_URL", "DATABASE_READ_URL", "MIGRATIONS_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EXCHANGE_DB_NAME", test_settings.test_db_name)
    monkeypatch.setenv("EXCHANGE_DB_ROLE", role)

    settings = Settings()

    for url, user in ((settings.database_url, service_login_role(role)),
                      (settings.migrations_database_url, settings.db_user)):
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (user,)


def test_the_launcher_starts_each_process_as_its_role(test_settings: Settings) -> None:
    roles = {process.name: process.db_role for process in app_processes(test_settings)}

    assert roles == {"matcher": "matcher", "sweeper": "functions", "api": "api",
                     "ws-gateway": "api", "fanout": "functions", "candles": "functions",
                     "market-maker": None, "db-watchdog": None,
                     "ledger-auditor": "functions", "infra-probe": None,
                     "prometheus": None, "web": None}
