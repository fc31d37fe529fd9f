"""Binance's user data stream over REST: ``/api/v3/userDataStream`` opens (POST), keeps
alive (PUT) and closes (DELETE) a listenKey, with the API key alone (no signature) or the
web app's bearer token; the stream itself is ``/ws/<listenKey>`` on the WebSocket API.
``push_balance_update`` and ``push_account_position`` are how other routes (deposits,
withdrawals) tell a user's streams of a balance change."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import Field

from chalicelib.bootstrap import Services
from chalicelib.entrypoints.http import requests
from chalicelib.entrypoints.http.api_models import Answer
from chalicelib.entrypoints.http.binance_models import BinanceParams, parse_params
from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.service_layer import user_stream_push, user_streams
from chalicelib.service_layer.api_keys import KeyOwner, SignedRequest
from chalicelib.service_layer.ports import Sender

routes = ApiBlueprint(__name__)
PATH = "/api/v3/userDataStream"
log = logging.getLogger(__name__)


class ListenKeyParams(BinanceParams):
    """`PUT` and `DELETE /api/v3/userDataStream`, in the query or a form body."""

    listen_key: str = Field(min_length=1, max_length=128,
                            description="The key `POST /api/v3/userDataStream` answered.")


class ListenKeyAnswer(Answer):
    listen_key: str = Field(description="60 letters and digits: stream it at "
                                        "`/ws/<listenKey>`; valid 60 minutes, extended by PUT.")


def stream_owner() -> tuple[KeyOwner, SignedRequest]:
    return requests.stream_owner(routes.services, routes.current_request)


@routes.route(PATH, methods=["POST"])
def open_user_stream() -> dict[str, object]:
    owner, _ = stream_owner()
    listen_key = user_streams.open_stream(routes.services.listen_keys, owner.user_id)
    return ListenKeyAnswer(listen_key=listen_key).model_dump(by_alias=True)


@routes.route(PATH, methods=["PUT"])
def keep_user_stream_alive() -> dict[str, object]:
    owner, request = stream_owner()
    params = parse_params(ListenKeyParams, request.params())
    user_streams.keep_alive(routes.services.listen_keys, owner.user_id, params.listen_key)
    return {}


@routes.route(PATH, methods=["DELETE"])
def close_user_stream() -> dict[str, object]:
    owner, request = stream_owner()
    params = parse_params(ListenKeyParams, request.params())
    svc = routes.services
    user_streams.close_stream(svc.listen_keys, owner.user_id, params.listen_key)
    post_to_streams(svc, lambda sender: user_stream_push.end_listen_key(
        svc.subscriptions, sender, owner.user_id, params.listen_key, svc.now_ms()))
    return {}


def push_balance_update(svc: Services, user_id: int, asset: str, delta: int) -> None:
    """After a committed change of the user's ``asset`` by ``delta`` units: Binance's
    ``balanceUpdate`` and ``outboundAccountPosition`` on the user's streams."""
    def post(sender: Sender) -> int:
        with svc.db() as conn:
            payloads = user_stream_push.balance_update_payloads(conn, user_id, asset, delta,
                                                                svc.now_ms())
        return user_stream_push.push(svc.subscriptions, sender, user_id, payloads)

    post_to_streams(svc, post)


def push_account_position(svc: Services, user_id: int, asset: str) -> None:
    """After a committed change between the buckets of the user's ``asset``: Binance's
    ``outboundAccountPosition`` alone on the user's streams."""
    def post(sender: Sender) -> int:
        with svc.db() as conn:
            payloads = user_stream_push.account_position_payloads(conn, user_id, asset,
                                                                  svc.now_ms())
        return user_stream_push.push(svc.subscriptions, sender, user_id, payloads)

    post_to_streams(svc, post)


def post_to_streams(svc: Services, post: Callable[[Sender], int]) -> None:
    """Post through the WebSocket API's management endpoint after a committed change;
    best effort, like every stream message: it never fails the request."""
    endpoint = svc.settings.ws_management_endpoint
    if not endpoint:
        return
    try:
        post(svc.sender_for(endpoint))
    except Exception:  # the change is committed; a stream message is best effort
        log.exception("user stream message not posted")
