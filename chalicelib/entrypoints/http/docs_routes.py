"""The API's own description: `GET /openapi.json` (OpenAPI 3.1), public."""

from __future__ import annotations

import functools
from typing import Any

from chalicelib.entrypoints.http.middleware import ApiBlueprint

routes = ApiBlueprint(__name__)


@routes.route("/openapi.json", methods=["GET"])
def openapi_json() -> dict[str, Any]:
    return served_document()


@functools.cache
def served_document() -> dict[str, Any]:
    """Built once per process: the routes do not change while it runs. Imported here, not
    at the top, because the document's route table imports every route module, this one
    included."""
    from chalicelib.entrypoints.http.openapi import openapi_document

    return openapi_document()
