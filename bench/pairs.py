"""Alternating pairs: a benchmark run on an older revision and on this tree, in turns.

This machine's speed drifts by more than most changes are worth (the same pipeline run
gave p99 0.42 s and 1.4 s within one hour, docs/performance.md), so a figure means
something only beside a baseline measured in the same stretch of time. This runs the
given benchmark script on a ``git worktree`` of ``--base`` and on this checkout, in
ABBA order (base, this, this, base, ...: a steady drift weighs on both sides alike),
then prints every numeric figure of the script's JSON summary (its last line of output)
per side, with the medians. Example:

    .venv/bin/python bench/pairs.py --base 57d2bb7 --pairs 2 --keys 'rates.*.p99_ms' \\
        -- bench/pipeline.py --rates 6000,8000 --all-rates --seconds-per-rate 8 --seed 1

Both sides run with this checkout's virtualenv, so compiled extensions (the Rust book)
are the installed ones; each side's Python is its own tree's, the benchmark script's
included (the scripts put their tree first on ``sys.path``), so a script changed in
between measures a little differently on the two sides. The worktree shares this
checkout's ``.local`` (the local stack), and is removed at the end.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("base", "head")


def flatten(value: Any, prefix: str = "") -> dict[str, float]:
    """Every number in a JSON value, by its dotted path (list items by their index)."""
    if isinstance(value, bool):
        return {}
    if isinstance(value, int | float):
        return {prefix: float(value)}
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        items = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        items = [(str(i), v) for i, v in enumerate(value)]
    found: dict[str, float] = {}
    for key, item in items:
        found.update(flatten(item, f"{prefix}.{key}" if prefix else key))
    return found


def summary_of(output: str) -> dict[str, Any]:
    """The JSON object a benchmark prints as its last line."""
    for line in reversed(output.strip().splitlines()):
        if line.startswith("{"):
            summary: dict[str, Any] = json.loads(line)
            return summary
    raise ValueError("the benchmark printed no JSON summary line")


def abba(pairs: int) -> list[str]:
    """The order of the runs: base, head, head, base, base, head, ..."""
    order: list[str] = []
    for i in range(pairs):
        order += list(SIDES) if i % 2 == 0 else list(reversed(SIDES))
    return order


def compare(runs: dict[str, list[dict[str, float]]],
            patterns: list[str]) -> dict[str, dict[str, Any]]:
    """Per figure matching ``patterns`` (all when empty): each side's values and median."""
    keys = [k for k in runs["head"][0] if not patterns
            or any(fnmatch.fnmatchcase(k, p) for p in patterns)]
    table: dict[str, dict[str, Any]] = {}
    for key in keys:
        row: dict[str, Any] = {}
        for side in SIDES:
            values = [run[key] for run in runs[side] if key in run]
            row[side] = values
            row[f"{side}_median"] = round(statistics.median(values), 4) if values else None
        table[key] = row
    return table


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """A detached worktree of ``revision`` sharing this checkout's ``.local``."""
    with tempfile.TemporaryDirectory(prefix="bench-pairs-") as scratch:
        tree = Path(scratch) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet",
                        str(tree), revision], check=True)
        try:
            if (ROOT / ".local").exists():
                (tree / ".local").symlink_to(ROOT / ".local")
            yield tree
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(tree)], check=False)


def run_side(tree: Path, script: str, args: list[str]) -> dict[str, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(tree / script), *args], cwd=tree,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"{script} failed on {tree} (exit {done.returncode}): see above")
    print(f"[pairs]   {time.monotonic() - started:.0f} s", flush=True)
    return flatten(summary_of(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the revision to compare with")
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--keys", action="append", default=[],
                        help="figures to report, as glob patterns of their dotted paths"
                             " (repeatable; default: all)")
    parser.add_argument("script", help="the benchmark, e.g. bench/pipeline.py")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    args = parser.parse_args()
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    if Path(args.script).is_absolute() or not (ROOT / args.script).is_file():
        parser.error(f"{args.script}: give the benchmark's path in this checkout, relative"
                     " (e.g. bench/pipeline.py), so each side runs its own tree's copy")
    base = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.base],
                          capture_output=True, text=True, check=True).stdout.strip()
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    with worktree(base) as base_tree:
        trees = {"base": base_tree, "head": ROOT}
        order = abba(args.pairs)
        for i, side in enumerate(order, 1):
            print(f"[pairs] run {i}/{len(order)}: {side}", flush=True)
            runs[side].append(run_side(trees[side], args.script, args.args))
    table = compare(runs, args.keys)
    for key, row in table.items():
        print(f"{key}: base {row['base']} (median {row['base_median']}),"
              f" head {row['head']} (median {row['head_median']})")
    print(json.dumps({"bench": "pairs", "base": base, "script": args.script,
                      "args": args.args, "pairs": args.pairs, "figures": table}))


if __name__ == "__main__":
    main()
