"""Turning Chalice requests into validated inputs and authenticated callers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from chalice.app import Request
from pydantic import BaseModel, ValidationError

from chalicelib.bootstrap import Services
from chalicelib.domain import client_address
from chalicelib.domain.errors import (
    ApiError,
    ErrorCode,
    malformed,
    unauthorized,
)
from chalicelib.domain.params import has_nul, parse_count
from chalicelib.entrypoints.http import rate_charges
from chalicelib.service_layer import auth, user_streams
from chalicelib.service_layer.api_keys import (
    KeyOwner,
    SignedRequest,
    authenticate_session,
    authenticate_with,
    key_of,
    read_key,
    session_owner,
    signing_key_id,
    strict_form_pairs,
)
from chalicelib.service_layer.retries import in_transaction

Model = TypeVar("Model", bound=BaseModel)


def validation_error(exc: ValidationError) -> ApiError:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    if first["type"] == "extra_forbidden":
        return ApiError(400, ErrorCode.UNKNOWN_PARAM, f"An unknown parameter was sent: {field}.")
    if first["type"] == "missing":
        return ApiError(400, ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                        f"Mandatory parameter '{field}' was not sent, was empty/null, or "
                        "malformed.")
    return malformed(field, f"is invalid: {first['msg']}")


def parse_body(request: Request, model: type[Model]) -> Model:
    try:
        data = json.loads(request.raw_body or b"{}")
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting too deep
        raise ApiError(400, ErrorCode.ILLEGAL_CHARS, "Request body is not valid JSON.") from exc
    return validate(model, data)


def parse_query(request: Request, model: type[Model]) -> Model:
    return validate(model, dict(request.query_params or {}))


def validate(model: type[Model], data: Any) -> Model:
    if not isinstance(data, dict):
        raise ApiError(400, ErrorCode.ILLEGAL_CHARS, "Request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from exc


# The web app's distribution (iac/cloudformation/web.yaml) adds both to every request to
# the API: the secret as an origin custom header, the viewer's IP from a viewer-request
# function; CloudFront overwrites whatever the viewer sent under either name.
EDGE_SECRET_HEADER = "X-Exchange-Edge"  # noqa: S105 - the name of the header holding it
VIEWER_IP_HEADER = "X-Exchange-Viewer-Ip"


def client_ip(svc: Services, request: Request) -> str:
    """The caller's IP, for per-IP limits and API keys' allow-lists: the viewer's behind
    the web app's CloudFront, otherwise the connection's."""
    return request_client_ip(request, svc.settings.edge_secret.get_secret_value())


def request_client_ip(request: Request, edge_secret: str) -> str:
    source_ip = str(request.context.get("identity", {}).get("sourceIp", ""))
    return client_address.client_ip(source_ip, request.headers.get(VIEWER_IP_HEADER),
                                    request.headers.get(EDGE_SECRET_HEADER), edge_secret)


def bearer_user(svc: Services, request: Request) -> tuple[auth.User, str]:
    """The web app's caller, from `Authorization: Bearer <access token>`."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise unauthorized(ErrorCode.UNAUTHORIZED,
                           "You are not authorized to execute this request.")
    with svc.db() as conn:
        return auth.authenticate(svc.auth, conn, token.strip())


def signed_request(svc: Services, request: Request) -> SignedRequest:
    raw = request.raw_body or b""
    body = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    params = request.query_params
    pairs = [] if params is None else [(key, value) for key in params
                                       for value in params.getlist(key)]
    return SignedRequest(api_key=request.headers.get("x-mbx-apikey"), query_pairs=pairs,
                         body=body, client_ip=client_ip(svc, request), now_ms=svc.now_ms())


def uses_session(request: Request) -> bool:
    """Whether the web app calls a SIGNED or USER_STREAM route with its session: an
    Authorization header and no API key. A request with an API key is a Binance
    client's, whatever else it carries."""
    return "x-mbx-apikey" not in request.headers and "authorization" in request.headers


def key_owner(svc: Services, request: Request, permission: str,
              placing: bool = False) -> tuple[KeyOwner, SignedRequest]:
    """The caller of a SIGNED endpoint, checked as Binance checks it; or, through the web
    app's session, as ``bearer_user`` checks it (READ and TRADE only; no key, so no key
    weight). ``placing``: the request places an order whose statement checks the key
    again, so a key read within the last seconds is taken as read (no round trip) and
    its weight charged with the order count."""
    signed = signed_request(svc, request)
    charges = rate_charges.current(svc)
    if uses_session(request):
        charges.settle()  # the IP's weight, before the session is read
        user, _session = bearer_user(svc, request)
        return authenticate_session(user.id, signed, permission), signed
    api_key = key_of(signed)
    key = svc.recent_keys.get(api_key) if placing else None
    if key is None:
        charges.settle()  # the IP's weight, before the database is read
        key = in_transaction(svc.single_read,
                             lambda conn: read_key(conn, svc.master_key, api_key))
        if key is not None and placing:
            svc.recent_keys.keep(api_key, key)
    owner = authenticate_with(key, signed, permission)
    charges.charge_key(signing_key_id(owner))
    if not placing:
        charges.settle()
    return owner, signed


def stream_owner(svc: Services, request: Request) -> tuple[KeyOwner, SignedRequest]:
    """The caller of a USER_STREAM route: the API key alone (no signature), or the web
    app's session."""
    signed = signed_request(svc, request)
    if uses_session(request):
        user, _session = bearer_user(svc, request)
        return session_owner(user.id, "READ"), signed
    with svc.db() as conn:
        return user_streams.key_owner(conn, signed.api_key, signed.client_ip), signed


def path_id(value: str, name: str) -> int:
    """A numeric id from the URL path (ASCII digits within BIGINT), or a 400 naming it."""
    return parse_count(value, name)


def request_texts(request: Request) -> Iterator[str]:
    """Every name and value the request carries: path, query and body (form or JSON)."""
    yield from (request.uri_params or {}).values()
    if request.query_params is not None:
        for key in request.query_params:
            yield key
            yield from request.query_params.getlist(key)
    raw = request.raw_body or b""
    body = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    if not may_encode_nul(body):
        return
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        for key, value in form_texts(body):
            yield key
            yield value
    else:
        yield from json_texts(body)


def may_encode_nul(body: str) -> bool:
    """Whether a body could decode to a text holding NUL: raw, percent-encoded (a form)
    or escaped (JSON). Most bodies cannot, and are not parsed for the NUL screen."""
    return "\x00" in body or "%00" in body or "\\u0000" in body


def form_texts(body: str) -> Iterable[tuple[str, str]]:
    """A form body's pairs, leniently: a malformed one still has its texts screened.
    (A strict parse either fails or equals the lenient one, and it is cached.)"""
    try:
        return strict_form_pairs(body)
    except ValueError:
        return parse_qsl(body, keep_blank_values=True)


def json_texts(body: str) -> Iterator[str]:
    """The strings of a JSON document, keys included (JSON hides NUL as an escape);
    a body that is not JSON is one text."""
    try:
        pending = [json.loads(body)] if body else []
    except (ValueError, RecursionError):
        yield body
        return
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


def refuse_nul(request: Request) -> None:
    """PostgreSQL text cannot hold NUL: a request carrying one anywhere is refused
    before any handler runs (-1100), rather than failing in the database."""
    if any(has_nul(text) for text in request_texts(request)):
        raise ApiError(400, ErrorCode.ILLEGAL_CHARS, "Illegal characters found in a parameter.")
