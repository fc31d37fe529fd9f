"""Start, find and stop the stack's own processes through pid files.

A pid file is trusted only if that pid is alive, not a zombie, and its command
line names the program we started: after a crash or a reboot a stale pid file
never makes us signal somebody else's process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from opscli.stack.config import StackConfig


class ServiceError(RuntimeError):
    """A service failed to start or become ready; says which and where its log is."""

    def __init__(self, service: str, problem: str, log_path: Path) -> None:
        self.service = service
        self.log_path = log_path
        tail = tail_lines(log_path, 15)
        detail = f"\n--- last lines of {log_path} ---\n{tail}" if tail else ""
        super().__init__(f"{service}: {problem} (log: {log_path}){detail}")


def tail_lines(path: Path, count: int) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join(lines[-count:])


def process_matches(pid: int, marker: str) -> bool:
    """True if `pid` is a live (non-zombie) process whose command line contains `marker`."""
    _reap(pid)
    return marker in read_cmdline(pid) and is_live(pid)


def is_live(pid: int) -> bool:
    """True if `pid` exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return not any(line.split()[:2] == ["State:", "Z"] for line in status.splitlines())


def starting(pid_file: Path, marker: str) -> bool:
    """Alive as far as a start can tell: the pid file's process matches `marker`, or its
    command line reads empty, as it does for a moment while the process replaces itself
    by exec (Prometheus's launcher does, once its configuration is written). Mistaking
    that moment for an exit failed a start now and then."""
    pid = read_pid(pid_file)
    if pid is None:
        return False
    return process_matches(pid, marker) or (read_cmdline(pid) == "" and is_live(pid))


def read_pid(pid_file: Path) -> int | None:
    try:
        first_line = pid_file.read_text().split("\n", 1)[0].strip()
        return int(first_line)
    except (FileNotFoundError, ValueError):
        return None


def running_pid(pid_file: Path, marker: str) -> int | None:
    pid = read_pid(pid_file)
    return pid if pid is not None and process_matches(pid, marker) else None


def spawn(
    command: Sequence[str],
    *,
    log_path: Path,
    pid_file: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> int:
    """Start a detached process (own session, survives its parent) logging to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file.write_text(f"{process.pid}\n")
    # Popen returns as exec begins; until the kernel has set the new command line,
    # /proc shows ours or nothing, and the process would not be recognised as ours.
    own = read_cmdline(os.getpid())
    wait_until(lambda: read_cmdline(process.pid) not in ("", own), 5, interval=0.01)
    return process.pid


def read_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


def terminate(pid: int, marker: str, *, grace_seconds: float) -> None:
    """SIGTERM, wait up to `grace_seconds`, then SIGKILL."""
    if not process_matches(pid, marker):
        return
    signal_group(pid, signal.SIGTERM)
    if wait_until(lambda: not process_matches(pid, marker), grace_seconds):
        return
    signal_group(pid, signal.SIGKILL)
    wait_until(lambda: not process_matches(pid, marker), 10)


def signal_group(pid: int, signum: int) -> None:
    """Signal the process and, when it leads its own group (we spawned it in a new
    session), every child it started too."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _reap(pid: int) -> None:
    # A service we spawned from this very process stays a zombie until reaped.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def ensure_port_free(service: str, port: int, variable: str, log_path: Path) -> None:
    """Fail early, and say what to change, when another program holds our port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise ServiceError(
                service,
                f"port {port} on 127.0.0.1 is taken by a process this project did not start; "
                f"stop it or set {variable} to a free port",
                log_path,
            ) from exc


def wait_ready_or_exit(
    service: str, ready: Callable[[], bool], alive: Callable[[], bool], timeout: float,
    log_path: Path,
) -> None:
    """Wait for readiness; give up at once if the process died meanwhile."""
    deadline = time.monotonic() + timeout
    while not ready():
        if not alive():
            raise ServiceError(service, "the process exited while starting", log_path)
        if time.monotonic() >= deadline:
            raise ServiceError(service, f"not ready after {timeout:.0f} s", log_path)
        time.sleep(0.2)


class PidFileProcess:
    """A process the stack spawns itself and finds again through its pid file.

    Subclasses provide `name`, `marker` (what its command line contains), `pid_file`,
    `log_path` and `grace_seconds`, and extend `is_ready` with a real readiness probe.
    """

    name: str
    marker: str
    pid_file: Path
    log_path: Path
    grace_seconds: float = 20

    def is_ready(self) -> bool:
        """Alive is all this knows; services override it with a query, a PING, ..."""
        return self.running_pid() is not None

    def running_pid(self) -> int | None:
        return running_pid(self.pid_file, self.marker)

    def wait_ready(self, timeout: float) -> None:
        wait_ready_or_exit(self.name, self.is_ready,
                           lambda: starting(self.pid_file, self.marker), timeout, self.log_path)

    def stop(self) -> None:
        pid = self.running_pid()
        if pid is not None:
            terminate(pid, self.marker, grace_seconds=self.grace_seconds)
        self.pid_file.unlink(missing_ok=True)


class StackServer(PidFileProcess):
    """A server the stack runs in a folder of its own (Redis, Kafka): ``<state>/<name>``
    holds its files and its log, ``<name>.log``; its pid file is in the run folder."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.home = config.state_dir / self.name
        self.log_path = self.home / f"{self.name}.log"
        self.pid_file = config.run_dir / f"{self.name}.pid"
