"""Public /api/v3 endpoints: connectivity and server time."""

from __future__ import annotations

from chalicelib.entrypoints.http.middleware import ApiBlueprint
from chalicelib.entrypoints.http.services import services

routes = ApiBlueprint(__name__)


@routes.route("/api/v3/ping", methods=["GET"])
def ping() -> dict[str, object]:
    return {}


@routes.route("/api/v3/time", methods=["GET"])
def server_time() -> dict[str, object]:
    return {"serverTime": services().now_ms()}
