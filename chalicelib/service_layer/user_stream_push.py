"""Balance changes that do not go through the matcher (deposits credited, withdrawals
requested, rejected or paid out) pushed to the user's streams as Binance sends them: a
``balanceUpdate`` with the change, then an ``outboundAccountPosition`` with the asset's
balance after it (only the latter when the money only leaves its lock); and a closed
listenKey's ``listenKeyExpired``.

The API posts them itself, through API Gateway's management API, once the change is
committed; the same wrapping as the fan-out's (a listenKey's stream, a WebSocket API
subscription). Best effort, like every stream message: a failure is logged."""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.domain.money import format_units
from chalicelib.domain.wallet import Balance
from chalicelib.service_layer import Conn, wallet
from chalicelib.service_layer.listen_key_expiry import end_dead_keys
from chalicelib.service_layer.ports import Sender, SendError, Subscriptions
from chalicelib.service_layer.stream_fanout import messages
from chalicelib.service_layer.stream_names import user_channel
from chalicelib.service_layer.stream_payloads import account_position

log = logging.getLogger(__name__)


def balance_update_payloads(conn: Conn, user_id: int, asset: str, delta: int,
                            now_ms: int) -> list[dict[str, Any]]:
    held = _held(conn, user_id, asset)
    scale = held[0].scale if held else 0
    update = {"e": "balanceUpdate", "E": now_ms, "a": asset,
              "d": ("-" if delta < 0 else "") + format_units(abs(delta), scale), "T": now_ms}
    return [update, account_position(held, now_ms)]


def account_position_payloads(conn: Conn, user_id: int, asset: str,
                              now_ms: int) -> list[dict[str, Any]]:
    """A change between the asset's buckets (a paid-out withdrawal leaves its lock):
    no ``balanceUpdate``, only the balance after it."""
    return [account_position(_held(conn, user_id, asset), now_ms)]


def _held(conn: Conn, user_id: int, asset: str) -> list[Balance]:
    return [b for b in wallet.balances(conn, user_id) if b.asset == asset]


def push(subscriptions: Subscriptions, sender: Sender, user_id: int,
         payloads: list[dict[str, Any]]) -> int:
    """Post the payloads to every connection on the user's channel; the count posted."""
    channel = user_channel(user_id)
    connections = subscriptions.subscribers([channel]).get(channel, set())
    if not connections:
        return 0
    combined = subscriptions.combined(connections)
    tags = subscriptions.tagged(connections, channel)
    return send_all(subscriptions, sender, {
        connection_id: messages(list(payloads), channel, tags.get(connection_id, []),
                                connection_id in combined)
        for connection_id in sorted(connections)})


def end_listen_key(subscriptions: Subscriptions, sender: Sender, user_id: int,
                   listen_key: str, now_ms: int) -> int:
    """A closed listenKey: ``listenKeyExpired`` on its streams, which end there."""
    channel = user_channel(user_id)
    connections = subscriptions.subscribers([channel]).get(channel, set())
    tags = subscriptions.tagged(connections, channel)
    _, notices = end_dead_keys(subscriptions, channel, tags,
                               subscriptions.combined(connections),
                               lambda key: key != listen_key, now_ms)
    return send_all(subscriptions, sender, notices)


def send_all(subscriptions: Subscriptions, sender: Sender,
             outbox: dict[str, list[str]]) -> int:
    posted = 0
    for connection_id, sent in outbox.items():
        for data in sent:
            try:
                if not sender.send(connection_id, data):
                    subscriptions.drop_connection(connection_id)
                    break
                posted += 1
            except SendError:
                log.warning("user stream post failed", exc_info=True,
                            extra={"connection_id": connection_id})
    return posted
