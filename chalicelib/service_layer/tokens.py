"""Short-lived JWT access tokens: HS256 only, with issuer, audience and expiry.

A token is refused if it claims to live longer than the configured TTL (``exp - iat``)
or was issued in the future, so even a leaked signing key cannot mint tokens that
outlive a key rotation by years.
"""

from __future__ import annotations

from dataclasses import dataclass

import jwt

from chalicelib.domain.errors import ErrorCode, unauthorized

ALGORITHM = "HS256"
LIFETIME_LEEWAY_SECONDS = 5
"""Slack on ``exp - iat`` beyond the TTL (both come from the issuer's clock)."""


@dataclass(frozen=True)
class TokenConfig:
    signing_key: str
    issuer: str
    audience: str
    ttl_seconds: int


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    session_id: str


def issue_access_token(config: TokenConfig, user_id: int, session_id: str, now_s: int) -> str:
    claims = {"sub": str(user_id), "sid": session_id, "iss": config.issuer,
              "aud": config.audience, "iat": now_s, "exp": now_s + config.ttl_seconds}
    return jwt.encode(claims, config.signing_key, algorithm=ALGORITHM)


def read_access_token(config: TokenConfig, token: str) -> AccessClaims:
    try:
        claims = jwt.decode(token, config.signing_key, algorithms=[ALGORITHM],
                            audience=config.audience, issuer=config.issuer,
                            options={"require": ["exp", "iat", "sub", "sid", "iss", "aud"]})
        if int(claims["exp"]) - int(claims["iat"]) > config.ttl_seconds + LIFETIME_LEEWAY_SECONDS:
            raise ValueError("token lifetime exceeds the access token TTL")
        return AccessClaims(int(claims["sub"]), str(claims["sid"]))
    except (jwt.PyJWTError, ValueError) as exc:
        raise unauthorized(ErrorCode.INVALID_TOKEN,
                           "Access token is invalid or expired; log in or refresh.") from exc
