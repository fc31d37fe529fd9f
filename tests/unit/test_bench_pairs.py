"""bench/pairs.py: runs a benchmark on a worktree of an older revision and on this tree
in ABBA order, reports each side's figures, and leaves no worktree behind."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.bench_scripts import BENCH, load_bench_script

pairs = load_bench_script("pairs")


def worktrees() -> str:
    return subprocess.run(["git", "-C", str(BENCH.parent), "worktree", "list"],
                          capture_output=True, text=True, check=True).stdout


def test_runs_alternate_base_and_head_so_that_a_steady_drift_weighs_on_both() -> None:
    assert pairs.abba(3) == ["base", "head", "head", "base", "base", "head"]


def test_every_number_of_a_summary_is_a_figure_by_its_path() -> None:
    summary = {"rates": [{"target_per_s": 8000, "p99_ms": 412.5, "ok": True}],
               "stop_reason": "ladder completed", "seconds": 68}

    assert pairs.flatten(summary) == {"rates.0.target_per_s": 8000.0,
                                      "rates.0.p99_ms": 412.5, "seconds": 68.0}


def test_the_same_revision_on_both_sides_gives_the_same_trades() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "pairs.py"), "--base", "HEAD", "--pairs", "1",
         "--keys", "trades", "--",
         "bench/engine.py", "--commands", "5000", "--repeat", "1"],
        cwd=BENCH.parent, capture_output=True, text=True, check=True, timeout=300)

    report = json.loads(done.stdout.strip().splitlines()[-1])
    trades = report["figures"]["trades"]
    assert trades["base"] == trades["head"]
    assert trades["base"][0] > 0
    assert "bench-pairs-" not in worktrees()


def test_a_script_outside_this_checkout_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "pairs.py"), "--base", "HEAD", "--",
         str(BENCH / "engine.py")], cwd=BENCH.parent, capture_output=True, text=True,
        check=False, timeout=60)

    assert done.returncode == 2
    assert "relative" in done.stderr
