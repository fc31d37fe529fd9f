"""Toxiproxy in front of an isolated exchange's services, for network faults.

One proxy per PostgreSQL node (clients get a multi-host URL over the two proxies' ports,
so libpq still finds whichever node is the primary after a failover, and never reaches
a node past its proxy), one for Redis and one for the Kafka broker (which advertises
its proxy's port, so that the clients' later connections go through it too). A toxic
put on every proxy at once is a fault between every client and every service.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from opscli.stack.config import StackConfig
from opscli.stack.toxiproxy import Toxic, ToxiproxyServer

READY_SECONDS = 15.0


@dataclass(frozen=True)
class Proxy:
    """127.0.0.1:``listen`` forwarded to the service on 127.0.0.1:``upstream``."""

    name: str
    listen: int
    upstream: int


class ProxiedNetwork:
    """The Toxiproxy server (its files under the stack's state folder) and its proxies."""

    def __init__(self, config: StackConfig, api_port: int, proxies: Sequence[Proxy]) -> None:
        self.server = ToxiproxyServer(config, api_port)
        self.proxies = tuple(proxies)

    def start(self) -> None:
        """The server and every proxy, before the services start: the broker advertises
        its proxy's address, which must answer as soon as the broker is asked."""
        self.server.start()
        self.server.wait_ready(READY_SECONDS)
        for proxy in self.proxies:
            self.server.api.create_proxy(proxy.name, proxy.listen, proxy.upstream)

    def stop(self) -> None:
        self.server.stop()

    @contextmanager
    def everywhere(self, toxic: Toxic) -> Iterator[None]:
        """``toxic`` on every proxy for the block, each removed however it ends."""
        with ExitStack() as toxics:
            for proxy in self.proxies:
                toxics.enter_context(self.server.api.toxic(proxy.name, toxic))
            yield
