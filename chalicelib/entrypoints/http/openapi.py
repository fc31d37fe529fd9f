"""The OpenAPI 3.1 document of the whole HTTP API, generated from the route table
(``route_docs``) and the pydantic models the handlers parse with: nothing here is
written by hand but the words.

Run as a module to print it: ``python -m chalicelib.entrypoints.http.openapi``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from chalicelib.entrypoints.http.route_doc_kinds import Auth, Param, RouteDoc
from chalicelib.entrypoints.http.route_docs import ROUTES

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
SUCCESSES = {200: "OK", 201: "Created", 202: "Accepted: awaits a second admin."}
TAGS = (
    ("General", "Connectivity, time, trading rules and this document."),
    ("Market data", "Public market data in Binance's shapes, from Redis or PostgreSQL."),
    ("Trading", "Binance's signed order endpoints."),
    ("Account", "Binance's signed account and withdrawal endpoints."),
    ("Auth", "The web app's accounts, sessions and two-factor."),
    ("API keys", "The keys Binance clients sign with."),
    ("Wallet", "The web app's view of the user's money."),
    ("Admin", "Configuration and money operations; each one is in the audit log."),
)
SIGNED_HOW = (
    "Binance's SIGNED requests: the key in the `X-MBX-APIKEY` header, `timestamp` (ms) "
    "within `recvWindow` (default 5000, at most 60000), and `signature`: the hex "
    "HMAC-SHA256, keyed by the key's secret, of the query string followed by the body.")
BEARER_HOW = (
    "A 15-minute access token from `POST /v1/auth/login`. On the Binance routes that "
    "list it (those needing READ or TRADE), it stands in for the API key when no "
    "`X-MBX-APIKEY` is sent: no timestamp or signature needed. A refused token is a 401 "
    "with code -5007 (-1002 if the Authorization header holds no bearer token); with "
    "neither header, the Binance routes answer -2014 as for a missing API key.")
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    Auth.SIGNED: {"type": "apiKey", "in": "header", "name": "X-MBX-APIKEY",
                  "description": SIGNED_HOW},
    Auth.BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                  "description": BEARER_HOW},
    Auth.ADMIN: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                 "description": "An access token of a user with the admin role."},
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["code", "msg"],
    "properties": {
        "code": {"type": "integer", "maximum": -1,
                 "description": "Binance's error code where Binance has one; -5xxx the "
                                "web app's own."},
        "msg": {"type": "string"}},
}


class Components:
    """``components/schemas``, filled as models are referenced."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}

    def schema_of(self, model: type[BaseModel]) -> dict[str, Any]:
        """The model's own JSON schema (camelCase names); what it refers to is added."""
        schema = model.model_json_schema(by_alias=True, ref_template=REF)
        for name, definition in schema.pop("$defs", {}).items():
            self.add(name, definition)
        return schema

    def ref(self, model: type[BaseModel]) -> dict[str, str]:
        self.add(model.__name__, self.schema_of(model))
        return {"$ref": REF.format(model=model.__name__)}

    def add(self, name: str, schema: dict[str, Any]) -> None:
        if self.schemas.setdefault(name, schema) != schema:
            raise ValueError(f"two different schemas are named {name}")


def without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter is sent or not, never null: ``X | None`` is described as ``X``."""
    options = [s for s in schema.get("anyOf", []) if s != {"type": "null"}]
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "title")
            and not (k == "default" and v is None)}
    return {**options[0], **rest} if len(options) == 1 else rest


def query_parameters(model: type[BaseModel], components: Components) -> list[dict[str, Any]]:
    """One query parameter per field of the model, by its name on the wire."""
    schema = components.schema_of(model)
    required = set(schema.get("required", []))
    parameters = []
    for name, field in schema["properties"].items():
        described = without_null(field)
        description = described.pop("description", None)
        parameter = {"name": name, "in": "query", "required": name in required,
                     "schema": described}
        parameters.append({**parameter, "description": description} if description
                          else parameter)
    return parameters


def declared_parameter(param: Param, where: str) -> dict[str, Any]:
    return {"name": param.name, "in": where, "required": True, "schema": param.schema,
            "description": param.description}


def request_body(route: RouteDoc, components: Components) -> dict[str, Any] | None:
    if route.body is not None:
        return {"required": bool(components.schema_of(route.body).get("required")),
                "content": {"application/json": {"schema": components.ref(route.body)}}}
    if route.auth is Auth.SIGNED and route.method != "GET" and route.params is not None:
        return {"required": False,
                "description": "The same parameters may come in a form body instead of "
                               "the query string; the signature covers the query string "
                               "followed by the body.",
                "content": {"application/x-www-form-urlencoded": {
                    "schema": components.ref(route.params)}}}
    return None


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def responses(route: RouteDoc, components: Components) -> dict[str, Any]:
    answer = components.ref(route.answer) if route.answer is not None else {}
    weight = {WEIGHT_HEADER: {"description": "Request weight this IP used this minute.",
                              "schema": {"type": "integer"}}}
    error = json_content({"$ref": REF.format(model="Error")})
    found = {str(status): {"description": SUCCESSES[status],
                           "headers": weight, "content": json_content(answer)}
             for status in route.statuses}
    return {**found,
            "429": {"description": "Too much request weight this minute.",
                    "headers": {"Retry-After": {"description": "Seconds to wait.",
                                                "schema": {"type": "integer"}}},
                    "content": error},
            "4XX": {"description": "Refused; nothing was changed.", "content": error},
            "5XX": {"description": "Failed or timed out.", "content": error}}


def security(route: RouteDoc) -> list[dict[str, list[str]]]:
    """The route's security requirements, alternatives in order of preference."""
    if route.auth is Auth.NONE:
        return []
    schemes = (route.auth, Auth.BEARER) if route.sessions else (route.auth,)
    return [{str(scheme): []} for scheme in schemes]


def operation(route: RouteDoc, components: Components) -> dict[str, Any]:
    parameters = [declared_parameter(p, "path") for p in route.path_params]
    parameters += [declared_parameter(p, "header") for p in route.headers]
    if route.params is not None:
        parameters += query_parameters(route.params, components)
    described: dict[str, Any] = {
        "operationId": route.handler.__name__, "summary": route.summary, "tags": [route.tag],
        "security": security(route),
        "parameters": parameters, "responses": responses(route, components)}
    body = request_body(route, components)
    return {**described, "requestBody": body} if body else described


def openapi_document() -> dict[str, Any]:
    """The document, built afresh from the route table and the models."""
    components = Components()
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = operation(route, components)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Spot exchange API", "version": "1",
                 "description": "Binance-compatible `/api/v3` and `/sapi`, and the web app's "
                                "`/v1`. Errors are always `{\"code\": <negative int>, "
                                "\"msg\": \"...\"}`. Amounts are decimal strings, times ms."},
        "tags": [{"name": name, "description": text} for name, text in TAGS],
        "paths": paths,
        "components": {"schemas": components.schemas,
                       "securitySchemes": {str(k): v for k, v in SECURITY_SCHEMES.items()}},
    }


if __name__ == "__main__":
    print(json.dumps(openapi_document(), indent=2))
