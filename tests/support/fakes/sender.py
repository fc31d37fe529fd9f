"""The WebSocket sender's fake: a gateway of live connections and what each received."""

from __future__ import annotations

import itertools

from botocore.exceptions import EndpointConnectionError

ENDPOINT = "http://fake-gateway.invalid"


class FakeSender:
    """Posts to the connections opened with ``connect``; a closed or unknown one is gone.
    With ``reachable`` False every post fails as a post to a dead endpoint does."""

    def __init__(self) -> None:
        self.reachable = True
        self.inboxes: dict[str, list[str]] = {}
        self._live: set[str] = set()
        self._ids = itertools.count(1)

    def connect(self) -> str:
        connection_id = f"fake-{next(self._ids)}"
        self.inboxes[connection_id] = []
        self._live.add(connection_id)
        return connection_id

    def disconnect(self, connection_id: str) -> None:
        self._live.discard(connection_id)

    def send(self, connection_id: str, data: str) -> bool:
        if not self.reachable:
            raise EndpointConnectionError(endpoint_url=ENDPOINT)
        if connection_id not in self._live:
            return False
        self.inboxes[connection_id].append(data)
        return True
