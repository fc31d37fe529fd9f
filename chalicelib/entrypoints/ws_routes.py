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

from chalicelib.bootstrap import Services
from chalicelib.domain.errors import ErrorCode
from chalicelib.entrypoints.http.middleware import logger
from chalicelib.service_layer import stream_protocol
from chalicelib.service_layer.stream_names import StreamRequestError


def stream_clients(svc: Services) -> stream_protocol.ClientContext:
    return stream_protocol.ClientContext(svc.subscriptions, svc.listen_keys, svc.auth,
                                         svc.master_key, svc.db, svc.now_ms)


def reply(svc: Services, event: WebsocketEvent, message: dict[str, Any]) -> None:
    endpoint = (svc.settings.ws_management_endpoint
                or f"https://{event.domain_name}/{event.stage}")
    svc.sender_for(endpoint).send(event.connection_id,
                                  json.dumps(message, separators=(",", ":")))


def on_connect(svc: Services, event: WebsocketEvent) -> dict[str, Any]:
    query = event.to_dict().get("queryStringParameters")
    try:
        stream_protocol.connect(stream_clients(svc), event.connection_id, query)
    except StreamRequestError as error:
        return {"statusCode": 400, "body": json.dumps({"code": error.code, "msg": error.msg})}
    return {"statusCode": 200}


def on_message(svc: Services, event: WebsocketEvent) -> None:
    context = event.to_dict()["requestContext"]
    identity = context.get("identity") or {}
    try:
        answer = stream_protocol.handle_message(
            stream_clients(svc), event.connection_id, event.body,
            str(identity.get("sourceIp", "")), int(context.get("connectedAt") or 0))
    except Exception:  # a client never sees a stack trace, only Binance's unknown error
        logger.exception("stream request failed")
        answer = stream_protocol.error_reply(
            ErrorCode.UNKNOWN, "An unknown error occurred while processing the request.", None)
    reply(svc, event, answer)


def on_disconnect(svc: Services, event: WebsocketEvent) -> None:
    stream_protocol.disconnect(svc.subscriptions, event.connection_id)
