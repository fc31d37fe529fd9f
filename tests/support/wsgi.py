"""The Chalice app as a WSGI application, so WSGI tools (schemathesis) can call it in-process.

Chalice apps speak Lambda events, not WSGI. This adapter hands each WSGI request to
Chalice's own local API Gateway (`chalice.local.LocalGateway`, which `chalice.test.Client`
and `chalice local` use), so routing, path parameters, query parsing and the source IP
are exactly what the API sees in those.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import LocalGateway, LocalGatewayException

StartResponse = Callable[..., Any]

# A status HTTPStatus does not know still needs a reason phrase on the WSGI status line.
_UNKNOWN_PHRASE = "Unknown"


class ChaliceWsgiApp:
    """A WSGI callable serving a Chalice app through `LocalGateway`."""

    def __init__(self, app: Chalice, stage: str = "dev") -> None:
        self._gateway = LocalGateway(app, Config.create(chalice_stage=stage))

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        status, headers, body = self._respond(environ)
        if body and not any(name.lower() == "content-type" for name, _ in headers):
            # What `chalice local` sends when a view sets none (API Gateway does the same).
            headers.append(("Content-Type", "application/json"))
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{status} {status_phrase(status)}", headers)
        return [body]

    def _respond(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        try:
            response = self._gateway.handle_request(
                method=environ["REQUEST_METHOD"], path=raw_target(environ),
                headers=request_headers(environ), body=request_body(environ))
        except LocalGatewayException as refused:
            # What API Gateway itself answers: no route, refused by an authorizer.
            return refused.CODE, list(refused.headers.items()), refused.body or b""
        return response_parts(response)


def raw_target(environ: dict[str, Any]) -> str:
    """The path and query as the client sent them: still percent-encoded, as
    `chalice local` passes them, so an encoded '/' or '?' stays inside its parameter.
    Servers differ on whether RAW_URI/REQUEST_URI hold the query; QUERY_STRING does."""
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw_uri:
        path = str(raw_uri).partition("?")[0]
    else:
        path = quote(environ.get("PATH_INFO", "/").encode("latin-1"), safe="/")
    query = environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def request_headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {key[5:].replace("_", "-").lower(): str(value)
               for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = str(environ[key])
    return headers


def request_body(environ: dict[str, Any]) -> bytes:
    length = environ.get("CONTENT_LENGTH") or "0"
    return bytes(environ["wsgi.input"].read(int(length))) if length.isdigit() else b""


def response_parts(response: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """A Lambda proxy response (statusCode, headers, multiValueHeaders, body) for WSGI."""
    headers = [(name, str(value)) for name, value in response.get("headers", {}).items()]
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers.extend((name, str(value)) for value in values)
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        return int(response["statusCode"]), headers, base64.b64decode(body)
    return int(response["statusCode"]), headers, body.encode() if isinstance(body, str) else body


def status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return _UNKNOWN_PHRASE
