"""Engine benchmark: one in-process order book on a seeded command stream.

The stream is shaped like exchange-core's single-book test: about 1,000 resting orders
pre-filled, then roughly 9 % GTC, 3 % IOC, 6 % cancel and 82 % cancel-replace near the
top of the book, so that a few percent of commands trade. The stream is generated (and
checked) before timing; the timed runs replay it on fresh books.

    python bench/engine.py --commands 1000000 --seed 1

Prints a few human lines, then as its last line a JSON object with at least
``commands``, ``seconds``, ``ops_per_s``, ``trades``, ``p50_us``, ``p99_us``.
``ops_per_s`` is the best of ``--repeat`` runs calling ``apply()`` once per command
(``cpu_ops_per_s`` the same runs per CPU second of the process),
dropping each command's events right away; ``batch_ops_per_s`` calls ``apply_batch()``
on ``--batch`` commands at a time, keeping a batch's events alive until the next (as a
consumer persisting per Kafka poll would). Latencies come from one more pass that
times every ``apply()`` call (timer overhead included).

``--engine rust`` times the compiled book (matching_cluster/engine_rs, built by
scripts/install.sh) instead of the Python one; the stream is generated the same way.

``--stream-file PATH`` also writes the stream (prefill included) as text for other
engines, such as bench/exchange_core's Java harness on exchange-core's books (see
``write_stream_file``). ``trades``, ``traded_lots`` and ``trades_digest`` (SHA-256 of
maker id, taker id, price in ticks and size in lots per trade, as big-endian int64s)
describe the trades of the timed part, so other engines can be checked against them.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import random
import struct
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chalicelib.domain.orders import MarketSpec, OrderType, Side, TimeInForce
from matching_cluster.engine import (
    Accepted,
    AmendOrder,
    CancelOrder,
    CancelReplace,
    Command,
    OrderBook,
    OrderDone,
    PlaceOrder,
    Trade,
)

# BTC/USDT-like: BTC has 8 decimals, USDT 6; tick 0.01 USDT, lot 0.0001 BTC.
SPEC = MarketSpec(
    symbol="BTCUSDT",
    base_unit=10**8,
    tick_size=10**4,
    lot_size=10**4,
    min_qty=10**4,
    max_qty=10**12,
    min_notional=10**6,
    maker_fee_ppm=1_000,
    taker_fee_ppm=1_000,
)
MID_TICKS = 3_000_000  # 30,000.00 USDT
TARGET_RESTING = 1_000
USERS = 1_000


class _LiveOrders:
    """Open orders of the generator's shadow book, with O(1) random choice."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.where: dict[int, int] = {}
        self.info: dict[int, tuple[int, Side]] = {}

    def add(self, order_id: int, user_id: int, side: Side) -> None:
        self.where[order_id] = len(self.ids)
        self.ids.append(order_id)
        self.info[order_id] = (user_id, side)

    def discard(self, order_id: int) -> None:
        i = self.where.pop(order_id, None)
        if i is None:
            return
        last = self.ids.pop()
        if last != order_id:
            self.ids[i] = last
            self.where[last] = i
        del self.info[order_id]

    def pick(self, rng: random.Random) -> int:
        return self.ids[rng.randrange(len(self.ids))]


class StreamGenerator:
    """Generates commands against a shadow book so cancels and replaces hit live orders."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.book = OrderBook(SPEC)
        self.live = _LiveOrders()
        self.next_id = 1

    def _price(self, ticks: int) -> int:
        return ticks * SPEC.tick_size

    def _best(self) -> tuple[int, int]:
        """Best bid and ask in ticks (around the mid when a side is empty)."""
        bid, ask = self.book.best_bid(), self.book.best_ask()
        bid_t = bid // SPEC.tick_size if bid is not None else MID_TICKS - 1
        ask_t = ask // SPEC.tick_size if ask is not None else MID_TICKS + 1
        return bid_t, ask_t

    def _feed(self, cmd: Command) -> Command:
        for e in self.book.apply(cmd):
            if isinstance(e, Accepted):
                self.live.add(e.order_id, e.user_id, e.side)
            elif isinstance(e, OrderDone):
                self.live.discard(e.order_id)
        return cmd

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _lots(self, low: int, high: int) -> int:
        return self.rng.randint(low, high) * SPEC.lot_size

    def prefill(self) -> list[Command]:
        cmds: list[Command] = []
        rng = self.rng
        for _ in range(TARGET_RESTING):
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            offset = 1 + int(rng.expovariate(1 / 40))
            ticks = MID_TICKS - offset if side is Side.BUY else MID_TICKS + offset
            cmds.append(self._feed(PlaceOrder(
                self._new_id(), rng.randrange(USERS), side, price=self._price(ticks),
                qty=self._lots(1, 20))))
        return cmds

    def next(self) -> Command:
        rng = self.rng
        roll = rng.random()
        size = len(self.live.ids)
        kind = "gtc" if roll < 0.09 else "ioc" if roll < 0.12 else "cancel" if roll < 0.18 else ""
        # Keep the book near its target size without moving the mix much.
        if kind == "gtc" and size > TARGET_RESTING * 1.2:
            kind = "cancel"
        elif kind == "cancel" and size < TARGET_RESTING * 0.8:
            kind = "gtc"
        if kind == "gtc" or not size:
            return self._feed(self._gtc())
        if kind == "ioc":
            return self._feed(self._ioc())
        if kind == "cancel":
            order_id = self.live.pick(rng)
            return self._feed(CancelOrder(order_id, self.live.info[order_id][0]))
        return self._feed(self._replace())

    def _gtc(self) -> PlaceOrder:
        rng = self.rng
        bid_t, ask_t = self._best()
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        if rng.random() < 0.05:  # crosses the spread and takes some liquidity
            ticks = ask_t + rng.randint(0, 2) if side is Side.BUY else bid_t - rng.randint(0, 2)
        else:  # joins or improves the top, or sits a few ticks behind it
            behind = rng.randint(-1, 10)
            ticks = bid_t - behind if side is Side.BUY else ask_t + behind
            ticks = min(ticks, ask_t - 1) if side is Side.BUY else max(ticks, bid_t + 1)
        return PlaceOrder(self._new_id(), rng.randrange(USERS), side,
                          price=self._price(ticks), qty=self._lots(1, 20))

    def _ioc(self) -> PlaceOrder:
        rng = self.rng
        bid_t, ask_t = self._best()
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        ticks = ask_t + rng.randint(0, 2) if side is Side.BUY else bid_t - rng.randint(0, 2)
        return PlaceOrder(self._new_id(), rng.randrange(USERS), side, OrderType.LIMIT,
                          price=self._price(ticks), qty=self._lots(1, 10),
                          tif=TimeInForce.IOC)

    def _replace(self) -> CancelReplace:
        rng = self.rng
        order_id = self.live.pick(rng)
        user_id, side = self.live.info[order_id]
        bid_t, ask_t = self._best()
        if rng.random() < 0.01:  # crosses the spread
            ticks = ask_t if side is Side.BUY else bid_t
        else:  # moves to within a dozen ticks of its side's best price
            behind = rng.randint(-1, 12)
            ticks = bid_t - behind if side is Side.BUY else ask_t + behind
            ticks = min(ticks, ask_t - 1) if side is Side.BUY else max(ticks, bid_t + 1)
        return CancelReplace(order_id, user_id, self._new_id(), self._price(ticks),
                             self._lots(1, 20))


def generate(commands: int, seed: int) -> tuple[list[Command], list[Command]]:
    gen = StreamGenerator(seed)
    prefill = gen.prefill()
    return prefill, [gen.next() for _ in range(commands)]


STREAM_FORMAT = "exchange-stream v1"


def _stream_line(cmd: Command) -> str:
    """One command as a CSV line, prices in ticks and sizes in lots (exchange-core's longs).

    P,order,user,B|S,price,size,GTC|IOC   place a limit order
    C,order,user                          cancel
    M,order,user,new order,price,size     cancel-replace: new id, price and size, no priority
    R,order,user,new size                 reduce the order's original size (AmendOrder)
    """
    tick, lot = SPEC.tick_size, SPEC.lot_size
    if type(cmd) is PlaceOrder and cmd.order_type is OrderType.LIMIT and cmd.tif in (
            TimeInForce.GTC, TimeInForce.IOC):
        side = "B" if cmd.side is Side.BUY else "S"
        return (f"P,{cmd.order_id},{cmd.user_id},{side},{cmd.price // tick},"
                f"{cmd.qty // lot},{cmd.tif.value}")
    if type(cmd) is CancelOrder:
        return f"C,{cmd.order_id},{cmd.user_id}"
    if type(cmd) is CancelReplace:
        return (f"M,{cmd.order_id},{cmd.user_id},{cmd.new_order_id},{cmd.price // tick},"
                f"{cmd.qty // lot}")
    if type(cmd) is AmendOrder:
        return f"R,{cmd.order_id},{cmd.user_id},{cmd.new_qty // lot}"
    raise ValueError(f"the stream file format has no line for {cmd!r}")


def write_stream_file(path: Path, prefill: list[Command], stream: list[Command]) -> None:
    """Writes a header, ``prefill <n>``, then one line per command (prefill first)."""
    with path.open("w", encoding="ascii") as out:
        out.write(f"# {STREAM_FORMAT} tick={SPEC.tick_size} lot={SPEC.lot_size}\n")
        out.write(f"prefill {len(prefill)}\n")
        out.writelines(_stream_line(cmd) + "\n" for cmd in prefill)
        out.writelines(_stream_line(cmd) + "\n" for cmd in stream)


def _parse_stream_line(line: str) -> Command:
    fields = line.rstrip("\n").split(",")
    op, order_id, user_id = fields[0], int(fields[1]), int(fields[2])
    tick, lot = SPEC.tick_size, SPEC.lot_size
    if op == "P":
        side = Side.BUY if fields[3] == "B" else Side.SELL
        return PlaceOrder(order_id, user_id, side, price=int(fields[4]) * tick,
                          qty=int(fields[5]) * lot, tif=TimeInForce(fields[6]))
    if op == "C":
        return CancelOrder(order_id, user_id)
    if op == "M":
        return CancelReplace(order_id, user_id, int(fields[3]), int(fields[4]) * tick,
                             int(fields[5]) * lot)
    if op == "R":
        return AmendOrder(order_id, user_id, int(fields[3]) * lot)
    raise ValueError(f"unknown stream line {line!r}")


def read_stream_file(path: Path) -> tuple[list[Command], list[Command]]:
    """Reads what ``write_stream_file`` wrote: (prefill, timed stream)."""
    with path.open(encoding="ascii") as lines:
        header = next(lines)
        if not header.startswith(f"# {STREAM_FORMAT} "):
            raise ValueError(f"{path}: not an {STREAM_FORMAT} file")
        prefill_count = int(next(lines).split()[1])
        commands = [_parse_stream_line(line) for line in lines]
    return commands[:prefill_count], commands[prefill_count:]


def trade_summary(prefill: list[Command], stream: list[Command]) -> tuple[int, int, str]:
    """Trades of the timed part: count, lots traded and the digest of their sequence."""
    book = _fresh_book(prefill)
    digest = hashlib.sha256()
    pack = struct.Struct(">4q").pack
    tick, lot = SPEC.tick_size, SPEC.lot_size
    trades = lots = 0
    for cmd in stream:
        for e in book.apply(cmd):
            if type(e) is Trade:
                trades += 1
                lots += e.qty // lot
                digest.update(pack(e.maker_order_id, e.taker_order_id, e.price // tick,
                                   e.qty // lot))
    return trades, lots, digest.hexdigest()


# The book class timed: the Python one unless --engine says otherwise.
_engine: Any = OrderBook


def _select_engine(name: str) -> None:
    global _engine
    if name == "rust":
        from matching_cluster_engine_rs import OrderBook as CompiledBook

        _engine = CompiledBook
    else:
        _engine = OrderBook


def _fresh_book(prefill: list[Command]) -> OrderBook:
    book: OrderBook = _engine(SPEC)
    book.apply_batch(prefill)
    return book


def run_per_command(prefill: list[Command],
                    stream: list[Command]) -> tuple[float, float, str]:
    """One ``apply()`` call per command; events are dropped as an adapter would after use.

    Returns wall seconds, CPU seconds of the process and the book's state hash.
    """
    book = _fresh_book(prefill)
    apply = book.apply
    cpu_start = time.process_time()
    start = time.perf_counter()
    for cmd in stream:
        apply(cmd)
    seconds = time.perf_counter() - start
    return seconds, time.process_time() - cpu_start, book.state_hash()


def run_batched(prefill: list[Command], stream: list[Command], batch: int) -> tuple[float, str]:
    """``apply_batch()`` over consecutive slices, like a consumer handling Kafka polls."""
    book = _fresh_book(prefill)
    apply_batch = book.apply_batch
    batches = [stream[i:i + batch] for i in range(0, len(stream), batch)]
    start = time.perf_counter()
    for cmds in batches:
        apply_batch(cmds)
    seconds = time.perf_counter() - start
    return seconds, book.state_hash()


def run_latency(prefill: list[Command],
                stream: list[Command]) -> tuple[list[int], int, int, int]:
    """Times every ``apply()``; also counts trades, commands that traded, orders left."""
    book = _fresh_book(prefill)
    apply = book.apply
    clock = time.perf_counter_ns
    samples = [0] * len(stream)
    trades = trading = 0
    for i, cmd in enumerate(stream):
        t0 = clock()
        events = apply(cmd)
        samples[i] = clock() - t0
        n = sum(1 for e in events if type(e) is Trade)
        trades += n
        trading += n > 0
    return samples, trades, trading, len(book)


def percentile_us(sorted_ns: list[int], q: float) -> float:
    index = min(len(sorted_ns) - 1, int(q * len(sorted_ns)))
    return round(sorted_ns[index] / 1000, 3)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--commands", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3,
                        help="throughput runs of each kind; the best one is reported")
    parser.add_argument("--batch", type=int, default=1_000,
                        help="commands per apply_batch() call in the batched runs")
    parser.add_argument("--no-gc", action="store_true",
                        help="disable the cyclic GC while timing (the engine makes no cycles)")
    parser.add_argument("--stream-file", type=Path,
                        help="also write the stream (prefill first) to this file")
    parser.add_argument("--engine", choices=("python", "rust"), default="python",
                        help="the book timed: Python, or the compiled one (engine_rs)")
    args = parser.parse_args(argv)
    _select_engine(args.engine)

    t0 = time.perf_counter()
    prefill, stream = generate(args.commands, args.seed)
    if args.stream_file:
        write_stream_file(args.stream_file, prefill, stream)
    mix: dict[str, int] = {}
    for cmd in stream:
        name = type(cmd).__name__
        if isinstance(cmd, PlaceOrder):
            name += "_" + cmd.tif.value
        mix[name] = mix.get(name, 0) + 1
    print(f"generated {len(prefill)} prefill + {len(stream)} commands "
          f"in {time.perf_counter() - t0:.1f}s", flush=True)

    if args.no_gc:
        gc.disable()
    hashes = set()
    per_command: list[float] = []
    per_command_cpu: list[float] = []
    batched: list[float] = []
    for _ in range(args.repeat):
        gc.collect()
        seconds, cpu_seconds, digest = run_per_command(prefill, stream)
        per_command.append(seconds)
        per_command_cpu.append(cpu_seconds)
        hashes.add(digest)
        gc.collect()
        seconds, digest = run_batched(prefill, stream, args.batch)
        batched.append(seconds)
        hashes.add(digest)
    gc.collect()
    samples, trades, trading, resting = run_latency(prefill, stream)
    samples.sort()
    if len(hashes) != 1:
        raise SystemExit("non-deterministic: runs of the same stream ended differently")
    summary_trades, traded_lots, trades_digest = trade_summary(prefill, stream)
    if summary_trades != trades:
        raise SystemExit("non-deterministic: two runs of the same stream traded differently")

    best = min(per_command)
    best_batched = min(batched)
    result = {
        "commands": len(stream),
        "seed": args.seed,
        "seconds": round(best, 4),
        "ops_per_s": round(len(stream) / best),
        "median_ops_per_s": round(len(stream) / sorted(per_command)[len(per_command) // 2]),
        "cpu_seconds": round(min(per_command_cpu), 4),
        "cpu_ops_per_s": round(len(stream) / min(per_command_cpu)),
        "batch_seconds": round(best_batched, 4),
        "batch_ops_per_s": round(len(stream) / best_batched),
        "batch_size": args.batch,
        "trades": trades,
        "traded_lots": traded_lots,
        "trades_digest": trades_digest,
        "trading_commands_pct": round(100 * trading / len(stream), 2),
        "mix_pct": {k: round(100 * v / len(stream), 1) for k, v in sorted(mix.items())},
        "prefill": len(prefill),
        "resting_at_end": resting,
        "p50_us": percentile_us(samples, 0.50),
        "p99_us": percentile_us(samples, 0.99),
        "p999_us": percentile_us(samples, 0.999),
        "max_us": round(samples[-1] / 1000, 3),
        "repeat": args.repeat,
        "gc": not args.no_gc,
        "python": sys.version.split()[0],
        "engine": args.engine,
        "state_hash": hashes.pop(),
    }
    if args.stream_file:
        result["stream_file"] = str(args.stream_file)
    print(f"{result['ops_per_s']:,} cmds/s with apply() per command (best of {args.repeat}), "
          f"{result['batch_ops_per_s']:,} cmds/s with apply_batch({args.batch}); "
          f"p50 {result['p50_us']} us, p99 {result['p99_us']} us, "
          f"{result['trading_commands_pct']} % of commands traded", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
