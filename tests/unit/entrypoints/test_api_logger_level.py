"""The API's own INFO lines survive Chalice: its app logger is the API's Powertools logger."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from chalicelib.entrypoints.http.exchange_app import ExchangeApp
from chalicelib.entrypoints.http.middleware import logger as api_logger

pytestmark = pytest.mark.unit


def unbuilt() -> object:
    raise AssertionError("no request is made")


def test_making_an_app_keeps_the_api_logger_at_info(monkeypatch: pytest.MonkeyPatch) -> None:
    # Another stdout than the one Powertools' handler writes to: Chalice then thinks its
    # logger unconfigured and sets its level (to ERROR, before the fix).
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    app = ExchangeApp(api_logger.name, build=unbuilt)  # type: ignore[arg-type]
    app.debug = False

    assert logging.getLogger(api_logger.name).isEnabledFor(logging.INFO)


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_each_api_line_is_written_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    own_handlers = list(logging.getLogger(api_logger.name).handlers)
    root = Collected()
    logging.getLogger().addHandler(root)
    try:
        ExchangeApp(api_logger.name, build=unbuilt)  # type: ignore[arg-type]
        api_logger.info("order accepted")
    finally:
        logging.getLogger().removeHandler(root)

    assert logging.getLogger(api_logger.name).handlers == own_handlers
    assert root.records == []
