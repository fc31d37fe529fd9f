"""What every WebSocket request shares: the client's context (the ports a handler
uses), a request as Binance frames it (``{"method", "params", "id"}``) and its error
reply."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.envelope import MasterKey
from chalicelib.service_layer import Conn, auth
from chalicelib.service_layer.ports import ListenKeys, Subscriptions
from chalicelib.service_layer.stream_names import StreamRequestError

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


