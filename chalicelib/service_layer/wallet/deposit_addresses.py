"""Where a user sends a deposit."""

from __future__ import annotations

import secrets

from chalicelib.adapters import wallet_repo
from chalicelib.service_layer import Conn
from chalicelib.service_layer.admin import asset_scale


def deposit_address(conn: Conn, user_id: int, asset: str) -> str:
    """The user's deposit address for the asset, created on first request and then
    stable. Random (160 bits), so it reveals nothing and never collides in practice."""
    with conn.transaction():
        asset_scale(conn, asset)
        return wallet_repo.deposit_address(conn, user_id, asset, secrets.token_hex(20))
