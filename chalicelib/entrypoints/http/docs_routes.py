"""The API's own description: `GET /openapi.json` (OpenAPI 3.1), public."""

from __future__ import annotations

import functools
from typing import Any

from chalice.app import Response

from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.middleware import json_response

routes = ApiBlueprint(__name__)


@routes.route("/openapi.json", methods=["GET"])
def openapi_json() -> Response:
    # Said outright: a tool fetching the document goes by its media type.
    return json_response(200, served_document())


@functools.cache
def served_document() -> dict[str, Any]:
    """Built once per process: the routes do not change while it runs. Imported here, not
    at the top, because the document's route table imports every route module, this one
    included."""
    from chalicelib.entrypoints.http.openapi import openapi_document

    return openapi_document()
