"""The OpenAPI description of the listenKey routes (Binance's USER_STREAM security: the
``X-MBX-APIKEY`` header alone, no timestamp or signature; or the web app's bearer token)."""

from __future__ import annotations

from chalicelib.entrypoints.http import user_stream_routes as routes
from chalicelib.entrypoints.http.api_models import EmptyAnswer
from chalicelib.entrypoints.http.route_doc_kinds import ACCOUNT, Auth, RouteDoc

ROUTES: tuple[RouteDoc, ...] = (
    RouteDoc("POST", routes.PATH, routes.open_user_stream,
             "Open a user data stream: a listenKey for /ws/<listenKey> (API key or bearer "
             "token, no signature; the same key while it is valid).", ACCOUNT, Auth.SIGNED,
             answer=routes.ListenKeyAnswer, sessions=True),
    RouteDoc("PUT", routes.PATH, routes.keep_user_stream_alive,
             "Keep a listenKey alive another 60 minutes (no signature).", ACCOUNT,
             Auth.SIGNED, params=routes.ListenKeyParams, answer=EmptyAnswer, sessions=True),
    RouteDoc("DELETE", routes.PATH, routes.close_user_stream,
             "Close a user data stream (no signature).", ACCOUNT, Auth.SIGNED,
             params=routes.ListenKeyParams, answer=EmptyAnswer, sessions=True),
)
