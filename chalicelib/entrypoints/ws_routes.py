"""The WebSocket API: Binance-style streams over API Gateway (locally opscli/ws_gateway.py).

``api/app.py`` registers these on the app itself: Chalice wraps WebSocket handlers
(event class, management API endpoint) only when they are declared on the app, not in
a blueprint. Stream logic is in ``chalicelib.service_layer.stream_protocol``; replies
leave through API Gateway's management API, like the fan-out's messages.
"""

from __future__ import annotations

import json
from typing import Any

from chalice.app import WebsocketEvent

from chalicelib.adapters.stream_subscriptions import StreamSubscriptions
from chalicelib.adapters.ws_sender import sender_for
from chalicelib.domain.errors import ErrorCode
from chalicelib.entrypoints.http.middleware import logger
from chalicelib.entrypoints.http.services import services
from chalicelib.service_layer import stream_protocol
from chalicelib.service_layer.stream_names import StreamRequestError


def stream_clients() -> stream_protocol.ClientContext:
    svc = services()
    return stream_protocol.ClientContext(StreamSubscriptions(svc.redis), svc.auth,
                                         svc.master_key, svc.db, svc.now_ms)


def reply(event: WebsocketEvent, message: dict[str, Any]) -> None:
    settings = services().settings
    endpoint = settings.ws_management_endpoint or f"https://{event.domain_name}/{event.stage}"
    sender = sender_for(endpoint, settings.aws_region, settings.exchange_env == "local")
    sender.send(event.connection_id, json.dumps(message, separators=(",", ":")))


def on_connect(event: WebsocketEvent) -> dict[str, Any]:
    query = event.to_dict().get("queryStringParameters")
    try:
        stream_protocol.connect(stream_clients(), event.connection_id, query)
    except StreamRequestError as error:
        return {"statusCode": 400, "body": json.dumps({"code": error.code, "msg": error.msg})}
    return {"statusCode": 200}


def on_message(event: WebsocketEvent) -> None:
    identity = event.to_dict()["requestContext"].get("identity") or {}
    try:
        answer = stream_protocol.handle_message(stream_clients(), event.connection_id,
                                                event.body, str(identity.get("sourceIp", "")))
    except Exception:  # a client never sees a stack trace, only Binance's unknown error
        logger.exception("stream request failed")
        answer = stream_protocol.error_reply(
            ErrorCode.UNKNOWN, "An unknown error occurred while processing the request.", None)
    reply(event, answer)


def on_disconnect(event: WebsocketEvent) -> None:
    stream_protocol.disconnect(StreamSubscriptions(services().redis), event.connection_id)
