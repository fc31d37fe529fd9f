"""The end of a listenKey's stream, as Binance signals it: one ``listenKeyExpired``
event (``{"e", "E", "listenKey"}``) on each connection that streamed the key, and no
more of the user's events there. The fan-out finds keys that timed out when it next
has an event for their user; closing a key (``DELETE /api/v3/userDataStream``) ends its
streams at once."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

from chalicelib.service_layer.ports import Subscriptions
from chalicelib.service_layer.stream_names import LISTEN_KEY_TAG


def expired_payload(listen_key: str, now_ms: int) -> dict[str, Any]:
    return {"e": "listenKeyExpired", "E": now_ms, "listenKey": listen_key}


def end_dead_keys(subscriptions: Subscriptions, channel: str,
                  tags: Mapping[str, list[str]], combined: Collection[str],
                  is_live: Callable[[str], bool], now_ms: int,
                  ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Of the connections' tags on a user's ``channel``, those still live, and the
    ``listenKeyExpired`` messages owed to each connection whose key is not; the dead
    tags are dropped (and the channel with the connection's last tag on it)."""
    live: dict[str, list[str]] = {}
    notices: dict[str, list[str]] = {}
    for connection_id, held in tags.items():
        dead = [t for t in held if t.startswith(LISTEN_KEY_TAG)
                and not is_live(t.removeprefix(LISTEN_KEY_TAG))]
        live[connection_id] = [t for t in held if t not in dead]
        if not dead:
            continue
        notices[connection_id] = [_message(t.removeprefix(LISTEN_KEY_TAG), now_ms,
                                           connection_id in combined) for t in dead]
        subscriptions.untag(connection_id, dead)
        if not live[connection_id]:
            subscriptions.remove(connection_id, [channel])
    return live, notices


def _message(listen_key: str, now_ms: int, combined: bool) -> str:
    payload = expired_payload(listen_key, now_ms)
    wrapped = {"stream": listen_key, "data": payload} if combined else payload
    return json.dumps(wrapped, separators=(",", ":"))
