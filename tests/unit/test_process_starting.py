"""A service being started is taken for dead only once it is: not while its command
line reads empty as it replaces itself by exec (the local Prometheus's launcher does)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from opscli.stack.process import is_live, process_matches, read_cmdline, starting
from tests.support.polling import wait_until


def empty_command_line_pid() -> int:
    """A live process whose command line reads empty, as an exec'ing one's does for a
    moment: a kernel thread."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and is_live(int(entry.name)):
            try:
                if (entry / "cmdline").read_bytes() == b"":
                    return int(entry.name)
            except OSError:
                continue
    raise AssertionError("no kernel thread visible in /proc")


MARKER = "sys.stdin.read"


@pytest.fixture
def waiter() -> Iterator[subprocess.Popen[bytes]]:
    """A child that runs until its standard input is closed."""
    proc = subprocess.Popen([sys.executable, "-c", f"import sys; {MARKER}()"],
                            stdin=subprocess.PIPE)
    # Popen returns as exec begins: until it is done the command line reads empty.
    wait_until(lambda: read_cmdline(proc.pid), timeout=10, what="the child's exec",
               until=lambda cmdline: MARKER in cmdline)
    yield proc
    proc.kill()
    proc.wait()


def test_a_process_whose_command_line_reads_empty_is_still_starting(tmp_path: Path) -> None:
    pid_file = tmp_path / "prometheus.pid"
    pid = empty_command_line_pid()
    pid_file.write_text(f"{pid}\n")

    assert not process_matches(pid, "prometheus")
    assert starting(pid_file, "prometheus")


def test_a_process_that_exited_is_not_starting(
        tmp_path: Path, waiter: subprocess.Popen[bytes]) -> None:
    pid_file = tmp_path / "waiter.pid"
    pid_file.write_text(f"{waiter.pid}\n")
    assert starting(pid_file, MARKER)

    waiter.communicate()  # its input closed: it exits, and is reaped

    assert not starting(pid_file, MARKER)


def test_another_program_under_the_pid_is_not_starting(
        tmp_path: Path, waiter: subprocess.Popen[bytes]) -> None:
    pid_file = tmp_path / "prometheus.pid"
    pid_file.write_text(f"{waiter.pid}\n")

    assert not starting(pid_file, "prometheus")
