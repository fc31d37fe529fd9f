"""Writes the seed corpus of fuzz_parsers.py: one readable input per parser.

atheris's FuzzedDataProvider takes integers from the end of the input (little-endian,
the first one consumed last), booleans and bytes from the front; these builders lay
the values out that way. Run from the project root: `.venv/bin/python tests/fuzz/make_corpus.py`.
"""

from __future__ import annotations

import struct
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"


class Seed:
    def __init__(self, target: int) -> None:
        self.front = b""
        self.back: list[bytes] = []
        self.byte(target)

    def byte(self, value: int) -> Seed:
        """An integer in a range of at most 256 values (the parser and length choices)."""
        self.back.append(bytes([value]))
        return self

    def word(self, value: int) -> Seed:
        """An integer in a range of at most 65536 values (offset from its minimum)."""
        self.back.append(struct.pack("<H", value))
        return self

    def quad(self, value: int) -> Seed:
        self.back.append(struct.pack("<Q", value))
        return self

    def flag(self, value: bool) -> Seed:
        self.front += bytes([int(value)])
        return self

    def text(self, value: str, *, long: bool = False) -> Seed:
        encoded = value.encode()
        (self.word if long else self.byte)(len(encoded))
        self.front += encoded
        return self

    def bytes(self) -> bytes:
        return self.front + b"".join(reversed(self.back))


AMOUNT, ORDER_SIZES, COUNT, SYMBOLS, SIGNED_QUERY = range(5)
SEEDS = {
    "amount": Seed(AMOUNT).byte(8).text("1.50000000"),
    "amount_integer": Seed(AMOUNT).byte(0).text("42"),
    "order_limit": Seed(ORDER_SIZES).byte(0).flag(True).text("30000.01").text("0.0002"),
    "order_market": Seed(ORDER_SIZES).byte(1).flag(False).text("").text("9"),
    "count": Seed(COUNT).word(1).quad(999).text("500"),
    "symbol": Seed(SYMBOLS).text("btcusdt", long=True),
    "symbols_list": Seed(SYMBOLS).text('["BTCUSDT","ETHUSDT"]', long=True).flag(True),
    "symbols_nested": Seed(SYMBOLS).text("[" * 40 + '"BTCUSDT"' + "]" * 40, long=True)
    .flag(True),
    # Nesting deeper than the interpreter's recursion limit: json.loads raises
    # RecursionError (coverage gives the fuzzer no reason to nest this deep by itself).
    "symbols_deep": Seed(SYMBOLS).text("[" * 1200 + "]" * 1200, long=True).flag(True),
    "signed_query": Seed(SIGNED_QUERY).byte(2).text("symbol").text("BTCUSDT")
    .text("timestamp").text("1800000000000").flag(False).flag(False).flag(False).flag(False),
    "signed_body": Seed(SIGNED_QUERY).byte(1).text("recvWindow").text("5000").flag(True)
    .text("quantity").text("0.01").flag(False).flag(True).flag(True),
}


def main() -> None:
    CORPUS.mkdir(exist_ok=True)
    for name, seed in SEEDS.items():
        (CORPUS / name).write_bytes(seed.bytes())


if __name__ == "__main__":
    main()
