"""The WebSocket client protocol, Binance's way: requests, replies and authentication.

Clients subscribe on their connection with ``{"method": "SUBSCRIBE", "params":
["btcusdt@trade", ...], "id": 1}`` to public streams (``stream_names``), and with
``userDataStream.subscribe`` (an API key signature or a JWT access token) to their own
order and balance updates, which ``stream_fanout`` delivers; a listenKey (``/ws/<key>``,
or subscribed like a stream) names a user's updates too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.adapters.envelope import MasterKey
from chalicelib.domain.errors import ApiError
from chalicelib.service_layer import Conn, auth
from chalicelib.service_layer.api_keys import SignedRequest, authenticate_signed
from chalicelib.service_layer.ports import ListenKeys, Subscriptions
from chalicelib.service_layer.stream_names import (
    USER_CHANNEL_PREFIX,
    StreamRequestError,
    parse_stream,
    user_channel,
)

# Binance's limit of streams per connection.
MAX_STREAMS_PER_CONNECTION = 1024
PUBLIC_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS")
PROPERTY_METHODS = ("SET_PROPERTY", "GET_PROPERTY")
USER_METHODS = ("userDataStream.subscribe", "userDataStream.subscribe.signature",
                "userDataStream.unsubscribe")
LISTEN_KEY_TAG = "key:"
REQUEST_ID = re.compile(r"[A-Za-z0-9-]{1,36}")

RequestId = int | str | None


@dataclass(frozen=True)
class ClientContext:
    subscriptions: Subscriptions
    listen_keys: ListenKeys
    auth: auth.AuthContext
    master_key: MasterKey
    db: Callable[[], AbstractContextManager[Conn]]
    now_ms: Callable[[], int]


@dataclass(frozen=True)
class StreamRequest:
    method: str
    params: Any
    id: RequestId


def parse_request(body: str) -> StreamRequest:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise StreamRequestError(3, f"Invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise StreamRequestError(2, "Invalid request: expected a JSON object")
    request_id = data.get("id")
    if not _valid_id(request_id):
        raise StreamRequestError(2, "Invalid request: request ID must be an unsigned integer")
    method = data.get("method")
    if not isinstance(method, str):
        raise StreamRequestError(2, "Invalid request: missing field `method`")
    if set(data) - {"method", "params", "id"}:
        raise StreamRequestError(2, "Invalid request: too many parameters")
    return StreamRequest(method, data.get("params"), request_id)


def _valid_id(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 0 <= value < 2**63
    return isinstance(value, str) and REQUEST_ID.fullmatch(value) is not None


def error_reply(code: int, msg: str, request_id: RequestId) -> dict[str, Any]:
    return {"error": {"code": code, "msg": msg}, "id": request_id}


def handle_message(ctx: ClientContext, connection_id: str, body: str,
                   client_ip: str) -> dict[str, Any]:
    """The reply to one client message: a result, or an error in Binance's format."""
    try:
        request = parse_request(body)
    except StreamRequestError as error:
        return error_reply(error.code, error.msg, None)
    try:
        if request.method in USER_METHODS:
            return user_request(ctx, connection_id, request, client_ip)
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
               f"{', '.join(PUBLIC_METHODS + PROPERTY_METHODS + USER_METHODS)}")
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
    if not isinstance(params, list) or not params or params[0] != "combined":
        raise StreamRequestError(2, "Invalid request: unknown property")
    if request.method == "GET_PROPERTY":
        if len(params) != 1:
            raise StreamRequestError(2, "Invalid request: too many parameters")
        return connection_id in subscriptions.combined([connection_id])
    if len(params) != 2 or not isinstance(params[1], bool):
        raise StreamRequestError(2, "Invalid request: property value must be a boolean")
    subscriptions.set_combined(connection_id, params[1])
    return None


def stream_names(params: object) -> list[str]:
    if not isinstance(params, list) or not params:
        raise StreamRequestError(2, "Invalid request: params must be a list of stream names")
    return list(dict.fromkeys(parse_stream(name).name for name in params))


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
    subscribes)."""
    query = query or {}
    wanted = query.get("streams")
    if wanted:
        subscribe(ctx.subscriptions, connection_id, stream_names(wanted.split("/")))
    names, keys = resolve_names(ctx, (query.get("path") or "").split("/"), lenient=True)
    if names:
        subscribe(ctx.subscriptions, connection_id, names)
    add_listen_keys(ctx.subscriptions, connection_id, keys)
    if query.get("combined") == "true":
        ctx.subscriptions.set_combined(connection_id)


def disconnect(subscriptions: Subscriptions, connection_id: str) -> None:
    subscriptions.drop_connection(connection_id)


def user_request(ctx: ClientContext, connection_id: str, request: StreamRequest,
                 client_ip: str) -> dict[str, Any]:
    """Binance's WebSocket API methods: replies carry an HTTP-like ``status``."""
    owned = [c for c in ctx.subscriptions.channels_of(connection_id)
             if c.startswith(USER_CHANNEL_PREFIX)]
    if request.method == "userDataStream.unsubscribe":
        ctx.subscriptions.remove(connection_id, owned)
        return {"id": request.id, "status": 200, "result": {}}
    try:
        user_id = authenticate_user(ctx, request.params, client_ip)
    except ApiError as error:
        return {"id": request.id, "status": error.status,
                **error_reply(int(error.code), error.msg, request.id)}
    ctx.subscriptions.remove(connection_id, owned)
    ctx.subscriptions.add(connection_id, [user_channel(user_id)])
    return {"id": request.id, "status": 200, "result": {}}


class UserStreamParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str | None = None
    apiKey: str | None = None  # noqa: N815 - Binance's parameter names
    timestamp: int | None = None
    recvWindow: int | None = None  # noqa: N815
    signature: str | None = None


def authenticate_user(ctx: ClientContext, params: object, client_ip: str) -> int:
    """The user behind a JWT access token, or an API key (READ) and its signature over
    the other parameters sorted by name, as Binance's WebSocket API signs them."""
    if not isinstance(params, dict):
        raise StreamRequestError(2, "Invalid request: params must be an object")
    try:
        given = UserStreamParams.model_validate(params)
    except ValidationError as exc:
        raise StreamRequestError(2, f"Invalid request: {exc.errors()[0]['msg']}") from exc
    with ctx.db() as conn:
        if given.token is not None:
            user, _ = auth.authenticate(ctx.auth, conn, given.token)
            return user.id
        pairs = sorted((k, str(v)) for k, v in params.items() if v is not None)
        signed = SignedRequest(api_key=given.apiKey, query_pairs=pairs, body="",
                               client_ip=client_ip, now_ms=ctx.now_ms())
        return authenticate_signed(conn, ctx.master_key, signed, "READ").user_id
