"""The demo seed: markets, funded traders and API keys, and a second run adds nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg

from chalicelib.settings import Settings
from opscli.demo.seed import FUNDING, TRADERS, seed
from tests.support.ledger import assert_ledger_invariants


def test_seed_is_idempotent(db: psycopg.Connection[Any], test_settings: Settings,
                            tmp_path: Path) -> None:
    settings = test_settings.model_copy(update={"state_dir": tmp_path})

    first = seed(settings)
    second = seed(settings)

    assert first == second
    assert len(first) == len(TRADERS)
    assert json.loads((tmp_path / "demo" / "keys.json").read_text())[0]["email"] == TRADERS[0]
    markets = db.execute("SELECT symbol, status FROM markets ORDER BY symbol").fetchall()
    assert markets == [("BTCUSDT", "TRADING"), ("ETHUSDT", "TRADING")]
    assert db.execute("SELECT count(*) FROM deposits").fetchone() == (
        len(TRADERS) * len(FUNDING),)
    assert db.execute("SELECT count(*) FROM api_keys").fetchone() == (len(TRADERS),)
    assert_ledger_invariants(db)
