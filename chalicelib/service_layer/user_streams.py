"""Binance's user data streams opened over REST: ``POST /api/v3/userDataStream`` hands
out a listenKey (the same one while it is valid), ``PUT`` keeps it alive another 60
minutes, ``DELETE`` closes it; ``/ws/<listenKey>`` then streams the user's
``executionReport``s and balance updates (``stream_protocol``).

These routes take the API key alone (Binance's USER_STREAM security): no timestamp, no
signature; the key's IP allow-list still applies. The web app's session may stand in for
the key."""

from __future__ import annotations

import secrets
import string

from chalicelib.adapters import accounts_repo
from chalicelib.domain.errors import ApiError, ErrorCode, bad_request
from chalicelib.service_layer import Conn
from chalicelib.service_layer.api_keys import KeyOwner, invalid_key, ip_allowed
from chalicelib.service_layer.ports import ListenKeys

LISTEN_KEY_LENGTH = 60
_ALPHABET = string.ascii_letters + string.digits


def listen_key_shaped(name: str) -> bool:
    """Whether ``name`` is shaped like the keys ``open_stream`` hands out."""
    return len(name) == LISTEN_KEY_LENGTH and name.isalnum()


def key_owner(conn: Conn, api_key: str | None, client_ip: str) -> KeyOwner:
    """The owner of the ``X-MBX-APIKEY`` of a USER_STREAM request (any permission)."""
    if not api_key or len(api_key) > 128 or not api_key.isalnum():
        raise ApiError(401, ErrorCode.BAD_API_KEY_FMT, "API-key format invalid.")
    row = accounts_repo.api_key_by_value(conn, api_key)
    if row is None or not ip_allowed(client_ip, row.ip_allowlist):
        raise invalid_key()
    return KeyOwner(row.user_id, row.id, tuple(row.permissions))


def open_stream(keys: ListenKeys, user_id: int) -> str:
    fresh = "".join(secrets.choice(_ALPHABET) for _ in range(LISTEN_KEY_LENGTH))
    return keys.open(user_id, fresh)


def keep_alive(keys: ListenKeys, user_id: int, listen_key: str) -> None:
    if not keys.keep_alive(listen_key, user_id):
        raise no_such_key()


def close_stream(keys: ListenKeys, user_id: int, listen_key: str) -> None:
    if not keys.close(listen_key, user_id):
        raise no_such_key()


def no_such_key() -> ApiError:
    return bad_request(ErrorCode.INVALID_LISTEN_KEY, "This listenKey does not exist.")
