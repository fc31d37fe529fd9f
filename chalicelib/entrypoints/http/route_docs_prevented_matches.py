"""The OpenAPI table's row for `GET /api/v3/myPreventedMatches`."""

from __future__ import annotations

from chalicelib.entrypoints.http import prevented_match_routes as routes
from chalicelib.entrypoints.http.route_doc_kinds import ACCOUNT, RouteDoc, signed

ROUTES: tuple[RouteDoc, ...] = (
    signed("GET", "/api/v3/myPreventedMatches", routes.my_prevented_matches,
           "The orders self-trade prevention expired, with the match each prevented "
           "(READ).", routes.PreventedMatchesParams, ACCOUNT),
)
