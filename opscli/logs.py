"""`exchange logs --order ID | --correlation ID`: one order's path through the local logs.

Every local process writes one JSON object per line to $EXCHANGE_STATE_DIR/logs/<name>.log
(``timestamp``, ``level``, ``message``, ``service``). A line about one order carries its
``order_id`` and ``correlation_id``; a line about a batch carries ``correlation_ids`` (and
may carry ``order_ids``). Following an order: the lines naming its id give its
correlation ids (a batch's line the one paired with the order's id), and every line
carrying one of those ids, or the order's id, across all the logs, is printed in time
order. Lines that are not JSON objects (a process' own
start-up text, a traceback) are skipped.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Fields every line has, printed in the line's head rather than as key=value.
HEAD_FIELDS = ("timestamp", "service", "message")
# Powertools' fields that say nothing about the order (the function's context included).
NOISE_FIELDS = ("location", "logger", "sampling_rate", "cold_start", "function_arn",
                "function_memory_size", "function_request_id", "xray_trace_id")
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_EPOCH = datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True)
class LogLine:
    at: datetime
    source: str
    """The log file's name without .log: the process that wrote it."""
    fields: dict[str, Any]
    raw: str

    @property
    def correlation_ids(self) -> set[str]:
        found = {str(v) for v in as_list(self.fields.get("correlation_ids"))}
        one = self.fields.get("correlation_id")
        return found | ({str(one)} if one else set())

    @property
    def order_ids(self) -> set[int]:
        ids = [*as_list(self.fields.get("order_ids")), self.fields.get("order_id")]
        return {found for found in map(as_order_id, ids) if found is not None}

    def correlation_ids_of(self, order_id: int) -> set[str]:
        """The correlation ids this line gives ``order_id``: its own when it is about
        that one order; in a batch's line, the one paired with the order's id (a batch's
        other ids belong to other orders)."""
        if as_order_id(self.fields.get("order_id")) == order_id:
            return self.correlation_ids
        orders = [as_order_id(v) for v in as_list(self.fields.get("order_ids"))]
        ids = as_list(self.fields.get("correlation_ids"))
        if len(orders) != len(ids):
            return set()
        return {str(id_) for order, id_ in zip(orders, ids, strict=True) if order == order_id}

    def describe(self) -> str:
        """``time service message key=value...``."""
        service = self.fields.get("service") or self.source
        rest = " ".join(f"{key}={render(value)}" for key, value in self.fields.items()
                        if key not in HEAD_FIELDS and key not in NOISE_FIELDS)
        stamp = self.at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return f"{stamp} {service} {self.fields.get('message', '')}" + (
            f" {rest}" if rest else "")


def as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


def as_order_id(value: object) -> int | None:
    """An order id written as a number or as digits; None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def render(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def parse_time(text: object) -> datetime | None:
    """A line's timestamp: ISO 8601 (the JSON formatter) or Powertools' default
    ``2026-12-06 09:49:25,485+0000``; UTC when it names no zone."""
    if not isinstance(text, str):
        return None
    try:
        at = datetime.fromisoformat(text.replace(",", "."))
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def read_lines(log_dir: Path) -> Iterator[LogLine]:
    """Every JSON object line of every log, file by file; other lines skipped."""
    for path in sorted(log_dir.glob("*.log")):
        with path.open(encoding="utf-8", errors="replace") as log:
            for raw in log:
                line = parse_line(raw.rstrip("\n"), path.stem)
                if line is not None:
                    yield line


def parse_line(raw: str, source: str) -> LogLine | None:
    if not raw.startswith("{"):
        return None
    try:
        fields = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(fields, dict):
        return None
    return LogLine(parse_time(fields.get("timestamp")) or _EPOCH, source, fields, raw)


def follow(log_dir: Path, *, order_id: int | None = None, correlation_id: str | None = None,
           since: datetime | None = None) -> list[LogLine]:
    """The lines of one order (its id, and every correlation id its lines carry) or of one
    correlation id, in time order. Two passes over the files: nothing else is kept."""
    wanted = {correlation_id} if correlation_id else set()
    if order_id is not None:
        for line in read_lines(log_dir):
            wanted |= line.correlation_ids_of(order_id)
    found = [line for line in read_lines(log_dir)
             if (since is None or line.at >= since)
             and (wanted & line.correlation_ids
                  or (order_id is not None and order_id in line.order_ids))]
    return sorted(found, key=lambda line: line.at)


def parse_since(text: str, now: datetime) -> datetime:
    """``30s``, ``10m``, ``2h``, ``1d`` before ``now``, or an ISO 8601 time."""
    duration = _DURATION.fullmatch(text)
    if duration:
        return now - timedelta(**{_UNITS[duration[2]]: int(duration[1])})
    at = parse_time(text)
    if at is None:
        raise ValueError(f"--since takes 30s, 10m, 2h, 1d or an ISO 8601 time, not {text!r}")
    return at


def run(log_dir: Path, *, order_id: int | None, correlation_id: str | None,
        since: str | None, as_json: bool) -> int:
    """Print the lines; 1 when there are none."""
    try:
        start = parse_since(since, datetime.now(UTC)) if since else None
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    lines = follow(log_dir, order_id=order_id, correlation_id=correlation_id, since=start)
    if not lines:
        wanted = f"order {order_id}" if order_id is not None else f"correlation {correlation_id}"
        print(f"no log line about {wanted} in {log_dir}/*.log", file=sys.stderr)
        return 1
    for line in lines:
        print(line.raw if as_json else line.describe())
    return 0
