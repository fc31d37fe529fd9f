"""Our order book against exchange-core 0.5.3's two books, on one command stream.

Writes bench/engine.py's stream to a file, runs bench/engine.py on it (our engine, one
``apply()`` per command), then the Java harness in bench/exchange_core on the same file
(built with Maven when its jar is missing or older than its sources):

    python bench/engine_vs_exchange_core.py --commands 1000000 --seed 1

The harness maps a cancel-replace two ways: ``cancel-place`` (CANCEL_ORDER then
PLACE_ORDER, the engine's semantics: the trades should be ours exactly) and ``move``
(exchange-core's MOVE_ORDER, which keeps the order's id and remaining size, so it trades
differently). Rates are commands per CPU second of the thread doing the matching (our
process is that one thread); ``ours_vs`` is our rate divided by theirs. The JVM's own CPU
(its garbage collector and compiler threads) is in ``process_cpu_ops_per_s``, its ratio
in ``ours_vs_process``. Prints a table, then as its last line a JSON object. Exits 1 when
exchange-core's two books disagree with each other.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "bench" / "exchange_core"
JAR = HARNESS / "target" / "exchange-core-bench.jar"
REPLACE_MODES = ("cancel-place", "move")


def harness_jar() -> Path:
    """The harness jar, (re)built by Maven when missing or older than the pom or sources."""
    sources = [HARNESS / "pom.xml", *HARNESS.glob("src/**/*.java")]
    newest = max(p.stat().st_mtime for p in sources)
    if not JAR.exists() or JAR.stat().st_mtime < newest:
        subprocess.run(["mvn", "-q", "-B", "-f", str(HARNESS / "pom.xml"), "package"],
                       check=True)
    return JAR


def _last_json(stdout: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result


def run_ours(stream_file: Path, commands: int, seed: int, repeat: int,
             engine: str = "python") -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "engine.py"), "--commands", str(commands),
         "--seed", str(seed), "--repeat", str(repeat), "--stream-file", str(stream_file),
         "--engine", engine],
        check=True, capture_output=True, text=True)
    return _last_json(out.stdout)


def run_exchange_core(jar: Path, stream_file: Path, replace: str, passes: int,
                      warmup: int) -> dict[str, Any]:
    out = subprocess.run(
        ["java", "-jar", str(jar), str(stream_file), "--passes", str(passes),
         "--warmup", str(warmup), "--replace", replace],
        capture_output=True, text=True)
    if out.returncode not in (0, 1):  # 1: the two books disagree, reported below
        raise SystemExit(f"exchange-core harness failed:\n{out.stderr}")
    return _last_json(out.stdout)


def compare(ours: dict[str, Any], theirs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One row per book, with rates relative to ours and whether the trades are ours."""
    ours_cpu = ours["cpu_ops_per_s"]
    rows: list[dict[str, Any]] = [{
        "book": "ours", "replace": "cancel-replace", "cpu_ops_per_s": ours_cpu,
        "process_cpu_ops_per_s": ours_cpu, "ops_per_s": ours["ops_per_s"], "ours_vs": 1.0,
        "ours_vs_process": 1.0, "trades": ours["trades"],
        "traded_lots": ours["traded_lots"], "trades_equal_ours": True,
    }]
    for replace, result in theirs.items():
        for book in ("naive", "direct"):
            figures = result[book]
            rows.append({
                "book": book, "replace": replace, "cpu_ops_per_s": figures["cpu_ops_per_s"],
                "process_cpu_ops_per_s": figures["process_cpu_ops_per_s"],
                "ops_per_s": figures["ops_per_s"],
                "ours_vs": round(ours_cpu / figures["cpu_ops_per_s"], 4),
                "ours_vs_process": round(ours_cpu / figures["process_cpu_ops_per_s"], 4),
                "trades": figures["trades"], "traded_lots": figures["traded_lots"],
                "trades_equal_ours": figures["trades_digest"] == ours["trades_digest"],
            })
    return {
        "commands": ours["commands"],
        "seed": ours["seed"],
        "rows": rows,
        "books_agree": all(result["books_agree"] for result in theirs.values()),
        "ours": {k: ours[k] for k in ("cpu_ops_per_s", "ops_per_s", "trades", "traded_lots",
                                     "trades_digest", "mix_pct")},
        "exchange_core": theirs,
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"{'book':<8}{'cancel-replace as':<19}{'cmds/thr CPU s':>15}{'ours/this':>10}"
          f"{'cmds/proc CPU s':>16}{'ours/this':>10}{'cmds/s wall':>13}{'trades':>8}{'lots':>8}"
          "  trades = ours")
    for row in result["rows"]:
        print(f"{row['book']:<8}{row['replace']:<19}{row['cpu_ops_per_s']:>15,}"
              f"{row['ours_vs']:>10.3f}{row['process_cpu_ops_per_s']:>16,}"
              f"{row['ours_vs_process']:>10.3f}{row['ops_per_s']:>13,}{row['trades']:>8}"
              f"{row['traded_lots']:>8}  {'yes' if row['trades_equal_ours'] else 'no'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--commands", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of our engine")
    parser.add_argument("--passes", type=int, default=5,
                        help="timed passes per Java book (best taken: the JVM is noisy)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up passes per Java book")
    parser.add_argument("--replace", choices=(*REPLACE_MODES, "both"), default="both",
                        help="how the Java harness expresses a cancel-replace")
    parser.add_argument("--stream-file", type=Path,
                        help="keep the stream in this file (default: a temporary one)")
    parser.add_argument("--engine", choices=("python", "rust"), default="python",
                        help="our book: Python, or the compiled one (engine_rs)")
    args = parser.parse_args(argv)

    jar = harness_jar()
    modes = REPLACE_MODES if args.replace == "both" else (args.replace,)
    with tempfile.TemporaryDirectory() as tmp:
        stream_file = args.stream_file or Path(tmp) / "stream.csv"
        ours = run_ours(stream_file, args.commands, args.seed, args.repeat, args.engine)
        theirs = {mode: run_exchange_core(jar, stream_file, mode, args.passes, args.warmup)
                  for mode in modes}
    result = compare(ours, theirs)
    print_table(result)
    print(json.dumps(result))
    if not result["books_agree"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
