"""The process-fault tests' exchange: one isolated exchange (opscli/faults) for the whole
session, started once (the Kafka broker takes a while) on ports of its own (23xxx, moved
by EXCHANGE_FAULTS_PORT_OFFSET), so that its services and processes can be killed
without touching the shared stack; stopped and its folder removed at the end. The
network-fault tests (network/) have fixtures of their own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from opscli.faults.exchange import FaultPorts, IsolatedExchange

TRADERS = 8
# Two sessions at once (say, two people on one machine) each need ports of their own.
PORT_OFFSET = int(os.environ.get("EXCHANGE_FAULTS_PORT_OFFSET", "0"))


@pytest.fixture(scope="session")
def process_fault_exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IsolatedExchange]:
    exchange = IsolatedExchange(tmp_path_factory.mktemp("process-faults") / "state",
                                FaultPorts().shifted(PORT_OFFSET),
                                report=lambda line: print(line, flush=True))
    try:
        exchange.start(traders=TRADERS)
        yield exchange
    finally:
        exchange.close()


@pytest.fixture
def faulty_exchange(process_fault_exchange: IsolatedExchange) -> IsolatedExchange:
    """The isolated exchange with every service and process running (a failed test may
    have left one down)."""
    process_fault_exchange.ensure_running()
    return process_fault_exchange


@pytest.fixture
def faulty_db(faulty_exchange: IsolatedExchange) -> Iterator[psycopg.Connection[Any]]:
    """The isolated exchange's database, as its owner."""
    with psycopg.connect(faulty_exchange.owner_url(), autocommit=True) as conn:
        yield conn


@pytest.fixture(params=[True, False], ids=["synchronous-commit", "asynchronous-commit"])
def synchronous_commit(
    request: pytest.FixtureRequest, faulty_exchange: IsolatedExchange,
) -> Iterator[bool]:
    """The matcher's MATCHER_SYNCHRONOUS_COMMIT (its commits wait for the standby, or its
    events wait for a durability barrier); the matcher runs on its default afterwards."""
    if request.param:
        yield True
        return
    faulty_exchange.restart_app("matcher", {"MATCHER_SYNCHRONOUS_COMMIT": "false"})
    yield False
    faulty_exchange.restart_app("matcher")
