"""Signatures used on money-moving routes, remembered in Redis for as long as the
signed request they belong to could still be accepted."""

from __future__ import annotations

import redis


class ReplayGuard:
    """One entry per (API key, signature) holding a digest of the request it signed."""

    def __init__(self, client: redis.Redis, ttl_ms: int) -> None:
        self.client = client
        self.ttl_ms = ttl_ms

    def remember(self, key_id: int, signature: str, request_digest: str) -> str | None:
        """Record `request_digest` under the signature unless one is there already, in
        one step (SET NX GET); return the digest recorded earlier, None on first use."""
        earlier = self.client.set(f"replay:{key_id}:{signature}", request_digest, nx=True,
                                  px=self.ttl_ms, get=True)
        return earlier.decode() if isinstance(earlier, bytes) else None
