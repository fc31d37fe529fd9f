"""Contract tests: each port's adapter and its fake (``tests/support/fakes``) pass the
same tests, so the unit tests that use the fakes speak for the adapters too."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A local port nothing listens on (just released), for an endpoint out of reach."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
