"""Binance's WebSocket API (``/ws-api/v3``) as far as user data streams need it:
``session.logon``/``status``/``logout``, ``userDataStream.subscribe`` (on a logged-on
session) and ``.subscribe.signature``, ``.unsubscribe``, ``session.subscriptions``, the
listenKey methods ``userDataStream.start``/``ping``/``stop``, ``ping`` and ``time``.

Replies carry an HTTP-like ``status``: ``{"id", "status": 200, "result"}`` or ``{"id",
"status", "error": {"code", "msg"}}``. A subscription answers its ``subscriptionId``;
its events then come wrapped, ``{"subscriptionId": N, "event": {...}}``
(``stream_fanout``). Binance logs sessions on with Ed25519 keys only; this exchange's
keys are HMAC, and ``session.logon`` takes their signature like any signed request's.
Any other of its methods (``order.place``...) answers -1020, not supported.

The older form of ``userDataStream.subscribe`` with the credentials in its params (an
API key signature or a JWT access token) streams the events unwrapped, as before;
without params (or empty ones) it is the WebSocket API's, on the logged-on session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.service_layer import auth, user_streams
from chalicelib.service_layer.api_keys import SignedRequest, authenticate_signed
from chalicelib.service_layer.stream_names import (
    USER_CHANNEL_PREFIX,
    StreamRequestError,
    user_channel,
)
from chalicelib.service_layer.stream_requests import ClientContext, StreamRequest, error_reply

SUBSCRIPTION_TAG = "sub:"
METHODS = ("ping", "time", "session.logon", "session.status", "session.logout",
           "session.subscriptions", "userDataStream.subscribe",
           "userDataStream.subscribe.signature", "userDataStream.unsubscribe",
           "userDataStream.start", "userDataStream.ping", "userDataStream.stop")


@dataclass(frozen=True)
class Caller:
    connection_id: str
    client_ip: str
    connected_at_ms: int


def is_api_method(method: str) -> bool:
    """The WebSocket API's methods are in camel case (``order.place``, ``exchangeInfo``);
    the stream endpoint's in capitals (``SUBSCRIBE``)."""
    return method in METHODS or not method.isupper()


def handle(ctx: ClientContext, caller: Caller, request: StreamRequest) -> dict[str, Any]:
    try:
        return {"id": request.id, "status": 200, "result": answer(ctx, caller, request)}
    except ApiError as error:
        return {"id": request.id, "status": error.status,
                **error_reply(int(error.code), error.msg, request.id)}


def answer(ctx: ClientContext, caller: Caller, request: StreamRequest) -> Any:
    method = request.method
    if method == "ping":
        return {}
    if method == "time":
        return {"serverTime": ctx.now_ms()}
    if method.startswith("session."):
        return session_request(ctx, caller, request)
    if method in ("userDataStream.start", "userDataStream.ping", "userDataStream.stop"):
        return listen_key_request(ctx, caller, request)
    if method in ("userDataStream.subscribe.signature", "userDataStream.subscribe"):
        return {"subscriptionId": subscribe(ctx, caller, request)}
    if method == "userDataStream.unsubscribe":
        unsubscribe(ctx, caller.connection_id, request.params)
        return {}
    raise ApiError(400, ErrorCode.UNSUPPORTED_OPERATION, "This operation is not supported.")


# --- sessions


def session_request(ctx: ClientContext, caller: Caller, request: StreamRequest) -> Any:
    subscriptions = ctx.subscriptions
    connection_id = caller.connection_id
    if request.method == "session.logon":
        api_key, _ = signed_user(ctx, caller, request.params, "READ")
        subscriptions.set_session(connection_id, {"apiKey": api_key,
                                                  "authorizedSince": str(ctx.now_ms())})
    elif request.method == "session.logout":
        subscriptions.set_session(connection_id, None)
    elif request.method == "session.subscriptions":
        return [{"subscriptionId": int(tag.removeprefix(SUBSCRIPTION_TAG))}
                for tag in sorted(subscriptions.tags_of(connection_id),
                                  key=lambda t: (len(t), t))
                if tag.startswith(SUBSCRIPTION_TAG)]
    elif request.method != "session.status":
        raise ApiError(400, ErrorCode.UNSUPPORTED_OPERATION, "This operation is not supported.")
    return session_status(ctx, caller)


def session_status(ctx: ClientContext, caller: Caller) -> dict[str, Any]:
    session = ctx.subscriptions.session_of(caller.connection_id)
    since = session.get("authorizedSince")
    return {"apiKey": session.get("apiKey"), "authorizedSince": int(since) if since else None,
            "connectedSince": caller.connected_at_ms, "returnRateLimits": False,
            "serverTime": ctx.now_ms(),
            "userDataStream": any(t.startswith(SUBSCRIPTION_TAG)
                                  for t in ctx.subscriptions.tags_of(caller.connection_id))}


class SignedParams(BaseModel):
    """A signed WebSocket API request's credentials (other parameters are signed too)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    apiKey: str | None = None  # noqa: N815 - Binance's parameter names
    timestamp: int | None = None
    recvWindow: int | float | None = None  # noqa: N815
    signature: str | None = None


def signed_user(ctx: ClientContext, caller: Caller, params: object,
                permission: str) -> tuple[str, int]:
    """(API key, user) of a signed request: the key and its HMAC over the other
    parameters sorted by name, as Binance's WebSocket API signs them."""
    if not isinstance(params, dict):
        raise ApiError(400, ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                       "Mandatory parameter 'apiKey' was not sent, was empty/null, "
                       "or malformed.")
    try:
        given = SignedParams.model_validate(params)
    except ValidationError as exc:
        raise ApiError(400, ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                       f"Parameter '{exc.errors()[0]['loc'][0]}' was empty or malformed."
                       ) from exc
    pairs = sorted((k, str(v)) for k, v in params.items() if v is not None)
    signed = SignedRequest(api_key=given.apiKey, query_pairs=pairs, body="",
                           client_ip=caller.client_ip, now_ms=ctx.now_ms())
    with ctx.db() as conn:
        owner = authenticate_signed(conn, ctx.master_key, signed, permission)
    return str(given.apiKey), owner.user_id


def session_user(ctx: ClientContext, caller: Caller) -> int:
    api_key = ctx.subscriptions.session_of(caller.connection_id).get("apiKey")
    if api_key is None:
        raise ApiError(401, ErrorCode.UNAUTHORIZED,
                       "You are not authorized to execute this request.")
    with ctx.db() as conn:
        owner = user_streams.key_owner(conn, api_key, caller.client_ip)
    return owner.user_id


# --- user data stream subscriptions


def subscribe(ctx: ClientContext, caller: Caller, request: StreamRequest) -> int:
    """A new subscription to the user's stream: its events come wrapped with its id."""
    if request.method == "userDataStream.subscribe.signature":
        _, user_id = signed_user(ctx, caller, request.params, "READ")
    else:
        user_id = session_user(ctx, caller)
    subscriptions = ctx.subscriptions
    subscription_id = subscriptions.next_subscription_id(caller.connection_id)
    channel = user_channel(user_id)
    subscriptions.add(caller.connection_id, [channel])
    subscriptions.tag(caller.connection_id, channel, f"{SUBSCRIPTION_TAG}{subscription_id}")
    return subscription_id


def unsubscribe(ctx: ClientContext, connection_id: str, params: object) -> None:
    """One subscription (``subscriptionId``), or every user stream of the connection."""
    subscriptions = ctx.subscriptions
    tags = subscriptions.tags_of(connection_id)
    wanted = params.get("subscriptionId") if isinstance(params, Mapping) else None
    if wanted is not None:
        if f"{SUBSCRIPTION_TAG}{wanted}" not in tags:
            raise ApiError(400, ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                           f"No subscription with id {wanted}.")
        dropped = [f"{SUBSCRIPTION_TAG}{wanted}"]
    else:
        dropped = [t for t in tags if t.startswith(SUBSCRIPTION_TAG)]
    subscriptions.untag(connection_id, dropped)
    left = {channel for tag, channel in tags.items() if tag not in dropped}
    gone = {tags[t] for t in dropped} - left
    if wanted is None:  # the older unwrapped form too
        gone |= {c for c in subscriptions.channels_of(connection_id)
                 if c.startswith(USER_CHANNEL_PREFIX) and c not in left}
    subscriptions.remove(connection_id, sorted(gone))


# --- listenKeys through the WebSocket API (the connector's user_data_start/ping/stop)


def listen_key_request(ctx: ClientContext, caller: Caller,
                       request: StreamRequest) -> dict[str, Any]:
    params = request.params if isinstance(request.params, Mapping) else {}
    with ctx.db() as conn:
        owner = user_streams.key_owner(conn, params.get("apiKey"), caller.client_ip)
    if request.method == "userDataStream.start":
        return {"listenKey": user_streams.open_stream(ctx.listen_keys, owner.user_id)}
    listen_key = str(params.get("listenKey") or "")
    if request.method == "userDataStream.ping":
        user_streams.keep_alive(ctx.listen_keys, owner.user_id, listen_key)
    else:
        user_streams.close_stream(ctx.listen_keys, owner.user_id, listen_key)
    return {}


# --- the older, unwrapped form


class UserStreamParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str | None = None
    apiKey: str | None = None  # noqa: N815 - Binance's parameter names
    timestamp: int | None = None
    recvWindow: int | None = None  # noqa: N815
    signature: str | None = None


def legacy_request(ctx: ClientContext, caller: Caller,
                   request: StreamRequest) -> dict[str, Any]:
    """``userDataStream.subscribe`` with a JWT access token or an API key signature in
    its params: the user's events unwrapped on this connection, instead of any before."""
    connection_id = caller.connection_id
    owned = [c for c in ctx.subscriptions.channels_of(connection_id)
             if c.startswith(USER_CHANNEL_PREFIX)]
    try:
        user_id = authenticate_user(ctx, request.params, caller.client_ip)
    except ApiError as error:
        return {"id": request.id, "status": error.status,
                **error_reply(int(error.code), error.msg, request.id)}
    ctx.subscriptions.remove(connection_id, owned)
    ctx.subscriptions.add(connection_id, [user_channel(user_id)])
    return {"id": request.id, "status": 200, "result": {}}


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
