"""Access tokens: even someone holding the signing key cannot mint long-lived ones."""

from __future__ import annotations

import time

import jwt
from chalice.test import Client

from chalicelib.bootstrap import Services
from tests.e2e.conftest import Caller

TEN_YEARS = 10 * 365 * 86400


def forged_token(services: Services, caller: Caller, *, lifetime: int) -> str:
    """A token signed with the API's own key, for the caller's open session."""
    config = services.auth.tokens
    genuine = jwt.decode(caller.access_token, options={"verify_signature": False})
    now = int(time.time())
    return jwt.encode({**genuine, "iat": now, "exp": now + lifetime}, config.signing_key,
                      algorithm="HS256")


def balances_with(client: Client, token: str) -> tuple[int, object]:
    response = client.http.get("/v1/balances", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.json_body


def test_a_token_living_ten_years_is_refused(client: Client, alice: Caller,
                                             services: Services) -> None:
    status, body = balances_with(client, forged_token(services, alice, lifetime=TEN_YEARS))

    assert (status, body) == (401, {"code": -5007, "msg": "Access token is invalid or expired;"
                                                         " log in or refresh."})


def test_a_token_within_the_configured_lifetime_is_accepted(client: Client, alice: Caller,
                                                            services: Services) -> None:
    lifetime = services.auth.tokens.ttl_seconds

    assert balances_with(client, forged_token(services, alice, lifetime=lifetime))[0] == 200
