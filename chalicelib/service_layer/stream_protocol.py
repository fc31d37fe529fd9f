"""The WebSocket client protocol, Binance's way: requests and replies.

Clients subscribe on their connection with ``{"method": "SUBSCRIBE", "params":
["btcusdt@trade", ...], "id": 1}`` to public streams (``stream_names``); a listenKey
(``/ws/<key>``, or subscribed like a stream) names a user's order and balance updates,
which ``stream_fanout`` delivers. The WebSocket API's methods (``session.logon``,
``userDataStream.subscribe.signature``...) are ``ws_api``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.domain.errors import ErrorCode
from chalicelib.service_layer import ws_api
from chalicelib.service_layer.ports import Subscriptions
from chalicelib.service_layer.stream_names import (
    LISTEN_KEY_TAG,
    USER_CHANNEL_PREFIX,
    StreamRequestError,
    parse_stream,
    user_channel,
)
from chalicelib.service_layer.stream_requests import (
    ClientContext,
    StreamRequest,
    error_reply,
    parse_request,
)
from chalicelib.service_layer.user_streams import listen_key_shaped

__all__ = ["ClientContext", "StreamRequest", "error_reply", "handle_message", "parse_request"]

# Binance's limit of streams per connection.
MAX_STREAMS_PER_CONNECTION = 1024
PUBLIC_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS")
PROPERTY_METHODS = ("SET_PROPERTY", "GET_PROPERTY")

def handle_message(ctx: ClientContext, connection_id: str, body: str, client_ip: str,
                   connected_at_ms: int = 0) -> dict[str, Any]:
    """The reply to one client message: a result, or an error in Binance's format."""
    try:
        request = parse_request(body)
    except StreamRequestError as error:
        return error_reply(error.code, error.msg, None)
    caller = ws_api.Caller(connection_id, client_ip, connected_at_ms)
    try:
        if request.method == "userDataStream.subscribe" and request.params:
            return ws_api.legacy_request(ctx, caller, request)
        if ws_api.is_api_method(request.method):
            return ws_api.handle(ctx, caller, request)
        return {"result": public_request(ctx, connection_id, request), "id": request.id}
    except StreamRequestError as error:
        return error_reply(error.code, error.msg, request.id)


def public_request(ctx: ClientContext, connection_id: str, request: StreamRequest) -> Any:
    if request.method == "LIST_SUBSCRIPTIONS":
        return listed(ctx.subscriptions, connection_id)
    if request.method in PROPERTY_METHODS:
        return connection_property(ctx.subscriptions, connection_id, request)
    if request.method not in PUBLIC_METHODS:
        raise StreamRequestError(
            2, f"Invalid request: unknown variant {request.method!r}, expected one of "
               f"{', '.join(PUBLIC_METHODS + PROPERTY_METHODS)}")
    if not isinstance(request.params, list) or not request.params:
        raise StreamRequestError(2, "Invalid request: params must be a list of stream names")
    names, keys = resolve_names(ctx, request.params, lenient=False)
    if request.method == "UNSUBSCRIBE":
        ctx.subscriptions.remove(connection_id, names)
        drop_listen_keys(ctx.subscriptions, connection_id, list(keys))
        return None
    subscribe(ctx.subscriptions, connection_id, names)
    add_listen_keys(ctx.subscriptions, connection_id, keys)
    return None


def listed(subscriptions: Subscriptions, connection_id: str) -> list[str]:
    """The connection's public streams and listenKeys, as it named them."""
    public = [c for c in subscriptions.channels_of(connection_id)
              if not c.startswith(USER_CHANNEL_PREFIX)]
    keys = [t.removeprefix(LISTEN_KEY_TAG) for t in subscriptions.tags_of(connection_id)
            if t.startswith(LISTEN_KEY_TAG)]
    return sorted(public + keys)


def resolve_names(ctx: ClientContext, names: Sequence[object], *,
                  lenient: bool) -> tuple[list[str], dict[str, int]]:
    """The public stream names among ``names``, and the listenKeys with their users.
    A listenKey that does not exist (closed, timed out, or lost with Redis restarted
    empty) is refused as REST refuses it (-1125), even in a ``/ws/`` path: a client
    left streaming nothing would wait, silently, for ever; told, it opens a new key.
    Any other name is refused, or (``lenient``, as Binance reads a ``/ws/`` path) left out."""
    public: list[str] = []
    keys: dict[str, int] = {}
    for name in names:
        try:
            public.append(parse_stream(name).name)
        except StreamRequestError:
            user_id = (ctx.listen_keys.user_of(name)
                       if isinstance(name, str) and name.isalnum() else None)
            if user_id is not None:
                keys[str(name)] = user_id
            elif isinstance(name, str) and listen_key_shaped(name):
                raise StreamRequestError(int(ErrorCode.INVALID_LISTEN_KEY),
                                         "This listenKey does not exist.") from None
            elif not lenient:
                raise
    return list(dict.fromkeys(public)), keys


def add_listen_keys(subscriptions: Subscriptions, connection_id: str,
                    keys: Mapping[str, int]) -> None:
    """A listenKey streams its user's channel, under its name."""
    for key, user_id in keys.items():
        subscriptions.add(connection_id, [user_channel(user_id)])
        subscriptions.tag(connection_id, user_channel(user_id), LISTEN_KEY_TAG + key)


def drop_listen_keys(subscriptions: Subscriptions, connection_id: str,
                     keys: Sequence[str]) -> None:
    tags = subscriptions.tags_of(connection_id)
    dropped = [LISTEN_KEY_TAG + key for key in keys if LISTEN_KEY_TAG + key in tags]
    subscriptions.untag(connection_id, dropped)
    left = {channel for tag, channel in tags.items() if tag not in dropped}
    subscriptions.remove(connection_id, sorted({tags[t] for t in dropped} - left))


def connection_property(subscriptions: Subscriptions, connection_id: str,
                        request: StreamRequest) -> bool | None:
    """Binance's one connection property, ``combined``: ``SET_PROPERTY ["combined",
    true]`` makes payloads come wrapped as ``{"stream", "data"}``."""
    params = request.params
    if not isinstance(params, list) or not params or not isinstance(params[0], str):
        raise StreamRequestError(2, "Invalid request: property name must be a string")
    if params[0] != "combined":  # Binance's codes 0 and 1 are for these two alone
        raise StreamRequestError(0, "Unknown property")
    if len(params) != (1 if request.method == "GET_PROPERTY" else 2):
        raise StreamRequestError(2, "Invalid request: too many parameters")
    if request.method == "GET_PROPERTY":
        return connection_id in subscriptions.combined([connection_id])
    if not isinstance(params[1], bool):
        raise StreamRequestError(1, "Invalid value type: expected Boolean")
    subscriptions.set_combined(connection_id, params[1])
    return None


def subscribe(subscriptions: Subscriptions, connection_id: str,
              names: Sequence[str]) -> None:
    current = subscriptions.channels_of(connection_id)
    if len(current | set(names)) > MAX_STREAMS_PER_CONNECTION:
        raise StreamRequestError(
            2, f"Invalid request: at most {MAX_STREAMS_PER_CONNECTION} streams per connection")
    subscriptions.add(connection_id, names)


def connect(ctx: ClientContext, connection_id: str, query: Mapping[str, str] | None) -> None:
    """A connection may name its streams up front, ``?streams=btcusdt@trade/btcusdt@depth``,
    and with ``combined=true`` take Binance's combined payloads, ``{"stream", "data"}``
    (Binance's ``/stream?streams=`` endpoint; the local gateway maps that path here).
    ``path=`` is what followed ``/ws/``: Binance takes the names it knows there (streams
    and listenKeys) and ignores the rest (CCXT Pro connects to ``/ws/<a number>``, then
    subscribes). ``streams=`` may name listenKeys too; one that does not exist, in either,
    refuses the connection."""
    query = query or {}
    names, keys = resolve_names(ctx, (query.get("path") or "").split("/"), lenient=True)
    wanted = query.get("streams")
    if wanted:
        listed, listed_keys = resolve_names(ctx, wanted.split("/"), lenient=False)
        names, keys = list(dict.fromkeys([*listed, *names])), {**keys, **listed_keys}
    if names:
        subscribe(ctx.subscriptions, connection_id, names)
    add_listen_keys(ctx.subscriptions, connection_id, keys)
    if query.get("combined") == "true":
        ctx.subscriptions.set_combined(connection_id)


def disconnect(subscriptions: Subscriptions, connection_id: str) -> None:
    subscriptions.drop_connection(connection_id)
