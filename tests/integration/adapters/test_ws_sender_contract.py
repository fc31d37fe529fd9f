"""The WebSocket sender, real (boto3's management API client, against the local
gateway) and fake: messages reach the addressed live connection in order, a closed or
unknown connection is gone, and a dead endpoint fails with ``SendError``."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Protocol

import pytest
from chalice.app import Chalice, WebsocketEvent
from websockets.sync.client import ClientConnection, connect

from chalicelib.adapters.ws_sender import WsSender
from chalicelib.service_layer.ports import Sender, SendError
from opscli.ws_gateway import Gateway
from tests.integration.adapters import closed_port
from tests.support.fakes.sender import FakeSender

REGION = "us-east-1"
WAIT_SECONDS = 10


class SenderRig(Protocol):
    sender: Sender

    def connect(self) -> str:
        """Open a connection; its id."""

    def received(self, connection_id: str, count: int) -> list[str]:
        """The first ``count`` messages the connection received."""

    def disconnect(self, connection_id: str) -> None: ...

    def dead_endpoint(self) -> Sender:
        """A sender whose endpoint does not answer."""


class FakeRig:
    def __init__(self) -> None:
        self.fake = FakeSender()
        self.sender: Sender = self.fake

    def connect(self) -> str:
        return self.fake.connect()

    def received(self, connection_id: str, count: int) -> list[str]:
        return self.fake.inboxes[connection_id][:count]

    def disconnect(self, connection_id: str) -> None:
        self.fake.disconnect(connection_id)

    def dead_endpoint(self) -> Sender:
        dead = FakeSender()
        dead.reachable = False
        return dead


class GatewayRig:
    """Clients of the local gateway; a $connect handler tells each one's id."""

    def __init__(self, exits: ExitStack) -> None:
        self.connected: queue.Queue[str] = queue.Queue()
        app = Chalice("sender-contract")
        app.experimental_feature_flags.update(["WEBSOCKETS"])
        app.on_ws_connect()(self._on_connect)
        self.gateway = Gateway(app, ws_port=0, management_port=0)
        self.gateway.start()
        exits.callback(self.gateway.stop)
        self.sender: Sender = WsSender(self.gateway.management_url, REGION, local=True)
        self.clients: dict[str, ClientConnection] = {}
        self.exits = exits

    def _on_connect(self, event: WebsocketEvent) -> None:
        self.connected.put(event.connection_id)

    def connect(self) -> str:
        client = self.exits.enter_context(connect(self.gateway.ws_url))
        connection_id = self.connected.get(timeout=WAIT_SECONDS)
        self.clients[connection_id] = client
        return connection_id

    def received(self, connection_id: str, count: int) -> list[str]:
        client = self.clients[connection_id]
        return [str(client.recv(timeout=WAIT_SECONDS)) for _ in range(count)]

    def disconnect(self, connection_id: str) -> None:
        self.clients[connection_id].close()

    def dead_endpoint(self) -> Sender:
        return WsSender(f"http://127.0.0.1:{closed_port()}", REGION, local=True)


@pytest.fixture(params=["fake", "gateway"])
def rig(request: pytest.FixtureRequest) -> Iterator[SenderRig]:
    if request.param == "fake":
        yield FakeRig()
        return
    with ExitStack() as exits:
        yield GatewayRig(exits)


def test_messages_reach_the_addressed_connection_in_order(rig: SenderRig) -> None:
    first, second = rig.connect(), rig.connect()

    sent = [rig.sender.send(first, f"message {i}") for i in range(3)]
    sent.append(rig.sender.send(second, "only for the second"))

    assert sent == [True] * 4
    assert rig.received(first, 3) == ["message 0", "message 1", "message 2"]
    assert rig.received(second, 1) == ["only for the second"]


def test_a_closed_connection_is_gone(rig: SenderRig) -> None:
    connection_id = rig.connect()
    rig.disconnect(connection_id)

    assert rig.sender.send(connection_id, "too late") is False


def test_a_connection_never_opened_is_gone(rig: SenderRig) -> None:
    assert rig.sender.send("bm90LWEtY29ubmVjdGlvbg=", "anyone?") is False


def test_a_dead_endpoint_fails_with_send_error(rig: SenderRig) -> None:
    with pytest.raises(SendError):
        rig.dead_endpoint().send("bm90LWEtY29ubmVjdGlvbg=", "anyone?")
