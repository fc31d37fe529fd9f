"""The shared JSON log formatter: one object per line, naming its service."""

from __future__ import annotations

import json
import logging

from chalicelib.adapters.json_logs import JsonFormatter


def test_a_line_is_one_json_object_with_its_service_and_extra_fields() -> None:
    record = logging.makeLogRecord({"name": "matcher.consumer", "levelname": "INFO",
                                    "msg": "batch settled %d", "args": (3,),
                                    "order_id": 7, "correlation_id": "abc"})

    entry = json.loads(JsonFormatter("matcher").format(record))

    assert entry["service"] == "matcher"
    assert entry["message"] == "batch settled 3"
    assert entry["order_id"] == 7
    assert entry["correlation_id"] == "abc"
    assert entry["timestamp"].endswith("+00:00")


def test_without_a_service_the_logger_name_stands_for_it() -> None:
    record = logging.makeLogRecord({"name": "opscli.release", "msg": "x"})

    assert json.loads(JsonFormatter().format(record))["service"] == "opscli.release"
