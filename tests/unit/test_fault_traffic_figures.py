"""The order stream's figures (opscli/faults/traffic.py): what the soak benchmark reports
per phase."""

from __future__ import annotations

from opscli.faults.traffic import Answer, Request, figures


def answer(due: float, status: int, code: int | None = None, latency: float = 0.01) -> Answer:
    request = Request("place", 0, "BTCUSDT", f"c{due}", {})
    return Answer(request, status, code, 1 if status == 200 else None, due, due + latency)


def test_figures_count_the_answers_due_in_the_window_by_outcome_with_latency_percentiles(
) -> None:
    answers = [answer(0.5, 200), answer(1.0, 200, latency=0.05), answer(1.5, 503, -1007, 5.0),
               answer(2.5, 200), answer(9.0, 200)]

    phase = figures(answers, 0.0, 2.0)

    assert (phase.requests, phase.throughput) == (3, 1.5)
    assert phase.outcomes == {"200": 2, "503/-1007": 1}
    assert phase.ok_rate == round(2 / 3, 4)
    assert (phase.p50_ms, phase.p99_ms) == (50.0, 5000.0)


def test_an_empty_window_has_no_latency() -> None:
    phase = figures([answer(5.0, 200)], 0.0, 1.0)

    assert (phase.requests, phase.p50_ms, phase.p99_ms) == (0, None, None)
