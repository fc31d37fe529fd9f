"""A process's wall clock, stepped while it runs: libfaketime (Debian's, installed by
scripts/install.sh) reads the offset from a file at every call, so writing the file steps
the clock. The monotonic clock is left alone, as a real host's clock step leaves it."""

from __future__ import annotations

from pathlib import Path

# In the machine's multiarch folder; the bare name lets the loader search for it.
LIBFAKETIME = next(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"),
                   Path("libfaketimeMT.so.1"))


class SteppedClock:
    """The offset in ``offset_file``; ``environment`` runs a process on that clock."""

    def __init__(self, offset_file: Path) -> None:
        self.offset_file = offset_file
        self.step_to(0)

    def environment(self) -> dict[str, str]:
        return {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME_TIMESTAMP_FILE": str(self.offset_file),
                "FAKETIME_NO_CACHE": "1", "DONT_FAKE_MONOTONIC": "1"}

    def step_to(self, offset_seconds: int) -> None:
        """The clock ``offset_seconds`` from the real time from now on."""
        self.offset_file.write_text(f"{offset_seconds:+d}\n")
