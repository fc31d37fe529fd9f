"""The parsers' coverage-guided fuzz target (tests/fuzz/fuzz_parsers.py), run for a
bounded time: every input is parsed or refused with an ApiError, never a crash."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.fuzz_report import report

pytest_plugins = ["tests.support.fuzz_report"]

FUZZ_DIR = Path(__file__).resolve().parents[1] / "fuzz"
PROJECT_ROOT = FUZZ_DIR.parents[1]
FUZZ_SECONDS = 30
# libFuzzer's last lines: "#N DONE cov: ... exec/s: ..." then "Done N runs in S second(s)".
DONE = re.compile(r"Done (\d+) runs in (\d+) second")


def test_parsers_survive_fuzzing(tmp_path: Path) -> None:
    corpus, artifacts = tmp_path / "corpus", tmp_path / "artifacts"
    corpus.mkdir()
    artifacts.mkdir()
    # New inputs go to the first (scratch) corpus; the seeds and any crash stay out of git.
    fuzzer = subprocess.run(
        [sys.executable, str(FUZZ_DIR / "fuzz_parsers.py"), f"-max_total_time={FUZZ_SECONDS}",
         "-rss_limit_mb=2048", "-seed=1", f"-dict={FUZZ_DIR / 'parsers.dict'}",
         f"-artifact_prefix={artifacts}/", str(corpus), str(FUZZ_DIR / "corpus")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=FUZZ_SECONDS + 120, cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, check=False)
    output = fuzzer.stdout  # libFuzzer's lines and atheris's Python tracebacks, in order
    done = DONE.search(output)
    runs = done[1] if done else "?"
    report(f"parser fuzzing (atheris): {runs} inputs in {FUZZ_SECONDS} s, "
           f"exit {fuzzer.returncode}, crashes: {len(list(artifacts.iterdir()))}")
    assert fuzzer.returncode == 0, crash_summary(output)
    assert done is not None, output[-2000:]


def crash_summary(output: str) -> str:
    """The Python exception libFuzzer caught and the input that caused it."""
    start = output.find("=== Uncaught Python exception")
    return output[start:] if start >= 0 else output[-3000:]
