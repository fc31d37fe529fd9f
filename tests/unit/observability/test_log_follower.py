"""`exchange logs --order ID`: an order's lines across written log files, in time order,
through its correlation ids (one order's, and a batch's list); other lines skipped."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from opscli import logs
from opscli.cli import main


def write_log(log_dir: Path, name: str, lines: list[dict[str, object] | str]) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    text = [line if isinstance(line, str) else json.dumps(line) for line in lines]
    (log_dir / f"{name}.log").write_text("\n".join(text) + "\n")


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """An order (7, correlation "c-7") through the API, the matcher's batch with another
    order (8, "c-8"), and the fan-out; plus noise and another order (9) alone."""
    directory = tmp_path / "logs"
    write_log(directory, "api", [
        "Serving on http://127.0.0.1:28000",
        {"timestamp": "2026-12-06 09:00:00,100+0000", "level": "INFO", "service": "exchange-api",
         "message": "order accepted", "order_id": 7, "client_order_id": "x-7",
         "market": "BTCUSDT", "correlation_id": "c-7", "location": "placement:115"},
        {"timestamp": "2026-12-06 09:00:00,050+0000", "level": "INFO", "service": "exchange-api",
         "message": "order accepted", "order_id": 8, "correlation_id": "c-8"},
        {"timestamp": "2026-12-06 09:00:05,000+0000", "level": "INFO", "service": "exchange-api",
         "message": "order accepted", "order_id": 9, "correlation_id": "c-9"},
        "127.0.0.1 - - [06/Dec/2026 09:00:00] \"POST /api/v3/order HTTP/1.1\" 200 -",
        "{not json",
        "[1, 2]",
    ])
    write_log(directory, "matcher", [
        {"timestamp": "2026-12-06T09:00:00.300000+00:00", "level": "INFO", "service": "matcher",
         "message": "batch settled", "order_ids": [7, 8], "correlation_ids": ["c-7", "c-8"],
         "partition": 1},
        {"timestamp": "2026-12-06T09:00:00.200000+00:00", "level": "INFO", "service": "matcher",
         "message": "order settled", "order_id": 7, "correlation_id": "c-7"},
    ])
    write_log(directory, "fanout", [
        {"timestamp": "2026-12-06T09:00:00.400000+00:00", "level": "INFO", "service": "fanout",
         "message": "events sent", "correlation_ids": ["c-7"]},
        {"timestamp": "2026-12-06T09:00:00.450000+00:00", "level": "INFO", "service": "fanout",
         "message": "events sent", "correlation_ids": ["c-8"]},
    ])
    (directory / "notes.txt").write_text('{"order_id": 7, "correlation_id": "c-7"}\n')
    return directory


def messages(lines: list[logs.LogLine]) -> list[tuple[str, str]]:
    return [(line.source, str(line.fields["message"])) for line in lines]


def test_an_order_is_followed_through_its_correlation_id_across_the_logs_in_time_order(
    log_dir: Path
) -> None:
    lines = logs.follow(log_dir, order_id=7)

    assert messages(lines) == [("api", "order accepted"), ("matcher", "order settled"),
                               ("matcher", "batch settled"), ("fanout", "events sent")]
    assert [line.at for line in lines] == sorted(line.at for line in lines)


def test_a_batch_line_gives_an_order_the_correlation_id_paired_with_it(
    tmp_path: Path
) -> None:
    write_log(tmp_path, "matcher", [
        {"timestamp": "2026-12-06T09:00:00+00:00", "service": "matcher", "message": "batch",
         "order_ids": [7, 8], "correlation_ids": ["c-7", "c-8"]}])
    write_log(tmp_path, "fanout", [
        {"timestamp": "2026-12-06T09:00:01+00:00", "service": "fanout", "message": "sent",
         "correlation_ids": ["c-7"]},
        {"timestamp": "2026-12-06T09:00:02+00:00", "service": "fanout", "message": "sent",
         "correlation_ids": ["c-8"]}])

    lines = logs.follow(tmp_path, order_id=7)

    assert [line.fields["correlation_ids"] for line in lines] == [["c-7", "c-8"], ["c-7"]]


def test_a_correlation_id_alone_finds_its_lines(log_dir: Path) -> None:
    lines = logs.follow(log_dir, correlation_id="c-8")

    assert messages(lines) == [("api", "order accepted"), ("matcher", "batch settled"),
                               ("fanout", "events sent")]


def test_since_leaves_out_earlier_lines(log_dir: Path) -> None:
    since = datetime(2026, 12, 6, 9, 0, 0, 250_000, tzinfo=UTC)

    lines = logs.follow(log_dir, order_id=7, since=since)

    assert messages(lines) == [("matcher", "batch settled"), ("fanout", "events sent")]


def test_a_line_reads_as_time_service_message_and_its_fields(log_dir: Path) -> None:
    first = logs.follow(log_dir, order_id=7)[0]

    assert first.describe() == (
        "2026-12-06T09:00:00.100Z exchange-api order accepted level=INFO order_id=7"
        " client_order_id=x-7 market=BTCUSDT correlation_id=c-7")


def test_the_command_prints_lines_or_raw_json_and_fails_when_nothing_matches(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EXCHANGE_STATE_DIR", str(log_dir.parent))

    assert main(["logs", "--order", "9"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "2026-12-06T09:00:05.000Z exchange-api order accepted level=INFO order_id=9"
        " correlation_id=c-9"]
    assert main(["logs", "--correlation", "c-9", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["order_id"] == 9
    assert main(["logs", "--order", "404"]) == 1
    assert "no log line about order 404" in capsys.readouterr().err
    assert main(["logs", "--order", "7", "--since", "yesterday"]) == 2


def test_since_takes_a_duration_or_a_time() -> None:
    now = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)

    assert logs.parse_since("10m", now) == datetime(2026, 12, 6, 9, 50, tzinfo=UTC)
    assert logs.parse_since("2026-12-06T09:00:00", now) == datetime(2026, 12, 6, 9,
                                                                    tzinfo=UTC)
