"""Signup, login, sessions, password change, two-factor and API key management."""

from __future__ import annotations

import json
import time
from typing import Any

import pyotp
import pytest
from chalice.test import Client

from chalicelib.bootstrap import Services
from chalicelib.domain.errors import ApiError
from chalicelib.service_layer import auth
from tests.e2e.conftest import PASSWORD, Caller, post_json


def test_signup_login_and_me(client: Client) -> None:
    alice = Caller(client, "Alice@Example.com")

    me = alice.get("/v1/me")

    assert me.status_code == 200
    assert me.json_body == {"id": alice.user_id, "email": "Alice@Example.com",
                            "isAdmin": False, "totpEnabled": False}


def test_an_email_signs_up_once_whatever_its_case(client: Client, alice: Caller) -> None:
    again = post_json(client, "/v1/auth/signup",
                      {"email": "ALICE@example.com", "password": PASSWORD})

    assert again.status_code == 409
    assert again.json_body["code"] == -5001


@pytest.mark.parametrize(("body", "code"), [
    ({"email": "not-an-email", "password": PASSWORD}, -1102),
    ({"email": "short@example.com", "password": "short"}, -1102),
    ({"email": "x@example.com"}, -1102),
    ({"email": "x@example.com", "password": PASSWORD, "admin": True}, -1103),
    ({"email": ["x@example.com"], "password": PASSWORD}, -1102),
])
def test_bad_signups_are_refused_with_the_field_named(
    client: Client, body: dict[str, object], code: int
) -> None:
    response = post_json(client, "/v1/auth/signup", body)

    assert response.status_code == 400
    assert response.json_body["code"] == code


def test_malformed_json_is_a_400_not_a_500(client: Client) -> None:
    for raw in ("{", "[]", "null", "\xff"):
        response = client.http.post("/v1/auth/signup", body=raw,
                                    headers={"Content-Type": "application/json"})
        assert response.status_code == 400
        assert response.json_body["code"] in (-1100, -1102)


def test_wrong_password_and_unknown_email_look_the_same(client: Client, alice: Caller) -> None:
    wrong = post_json(client, "/v1/auth/login", {"email": alice.email, "password": "nope" * 3})
    unknown = post_json(client, "/v1/auth/login",
                        {"email": "nobody@example.com", "password": "nope" * 3})

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json_body == unknown.json_body


@pytest.mark.parametrize("email", ["alice@example.com", "nobody@example.com"])
def test_repeated_failed_logins_are_throttled(client: Client, alice: Caller, email: str) -> None:
    for _ in range(5):
        assert post_json(client, "/v1/auth/login",
                         {"email": email, "password": "wrong" * 3}).status_code == 401

    locked = post_json(client, "/v1/auth/login", {"email": email, "password": PASSWORD})

    assert locked.status_code == 429
    assert locked.json_body["code"] == -1003
    assert 0 < int(locked.headers["Retry-After"]) <= 900


def test_logout_ends_the_session_and_its_tokens(alice: Caller) -> None:
    assert alice.post("/v1/auth/logout", {}).status_code == 200

    assert alice.get("/v1/me").status_code == 401
    refreshed = post_json(alice.client, "/v1/auth/refresh",
                          {"refreshToken": alice.refresh_token})
    assert refreshed.status_code == 401


def test_refresh_rotates_and_a_replayed_refresh_token_ends_the_session(alice: Caller) -> None:
    first = post_json(alice.client, "/v1/auth/refresh", {"refreshToken": alice.refresh_token})
    assert first.status_code == 200
    new_access = first.json_body["accessToken"]

    replay = post_json(alice.client, "/v1/auth/refresh", {"refreshToken": alice.refresh_token})

    assert replay.status_code == 401
    me = alice.client.http.get("/v1/me", headers={"Authorization": f"Bearer {new_access}"})
    assert me.status_code == 401
    after = post_json(alice.client, "/v1/auth/refresh",
                      {"refreshToken": first.json_body["refreshToken"]})
    assert after.status_code == 401


def test_a_replayed_older_refresh_token_ends_the_session(alice: Caller) -> None:
    tokens = [alice.refresh_token]
    for _ in range(3):
        rotated = post_json(alice.client, "/v1/auth/refresh", {"refreshToken": tokens[-1]})
        assert rotated.status_code == 200
        tokens.append(rotated.json_body["refreshToken"])

    assert post_json(alice.client, "/v1/auth/refresh",
                     {"refreshToken": tokens[1]}).status_code == 401

    assert post_json(alice.client, "/v1/auth/refresh",
                     {"refreshToken": tokens[-1]}).status_code == 401


def test_a_wrong_refresh_secret_is_refused_without_ending_the_session(alice: Caller) -> None:
    forged = f"{session_of(alice)}.{'A' * 43}"

    refused = post_json(alice.client, "/v1/auth/refresh", {"refreshToken": forged})

    assert (refused.status_code, refused.json_body["code"]) == (401, -5007)
    assert alice.get("/v1/me").status_code == 200
    refreshed = post_json(alice.client, "/v1/auth/refresh", {"refreshToken": alice.refresh_token})
    assert refreshed.status_code == 200


def test_tampered_or_foreign_tokens_are_refused(alice: Caller) -> None:
    header, payload, signature = alice.access_token.split(".")
    for token in (f"{header}.{payload}.{signature[:-2]}AA", "not.a.jwt", ""):
        response = alice.client.http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401


def test_password_change_revokes_every_session(client: Client, alice: Caller) -> None:
    other_session = Caller.__new__(Caller)
    other_session.__dict__.update(alice.__dict__)
    login = post_json(client, "/v1/auth/login", {"email": alice.email, "password": PASSWORD})
    other_session.access_token = login.json_body["accessToken"]

    changed = alice.post("/v1/auth/password", {"currentPassword": PASSWORD,
                                               "newPassword": "a brand new passphrase"})

    assert changed.status_code == 200
    assert alice.get("/v1/me").status_code == 401
    assert other_session.get("/v1/me").status_code == 401
    old = post_json(client, "/v1/auth/login", {"email": alice.email, "password": PASSWORD})
    assert old.status_code == 401
    new = post_json(client, "/v1/auth/login",
                    {"email": alice.email, "password": "a brand new passphrase"})
    assert new.status_code == 200


def enable_totp(user: Caller) -> pyotp.TOTP:
    enrol = user.post("/v1/auth/totp/enrol", {"password": PASSWORD})
    assert enrol.status_code == 200
    totp = pyotp.TOTP(enrol.json_body["secret"])
    assert user.post("/v1/auth/totp/confirm", {"code": "000000"}).status_code == 400
    assert user.post("/v1/auth/totp/confirm", {"code": totp.now()}).status_code == 200
    return totp


def next_code(totp: pyotp.TOTP) -> str:
    """The next window's code (still accepted): the current one was spent confirming."""
    return totp.at(int(time.time()) + 30)


def test_totp_is_required_at_login_once_enabled(client: Client, alice: Caller) -> None:
    totp = enable_totp(alice)
    credentials = {"email": alice.email, "password": PASSWORD}

    missing = post_json(client, "/v1/auth/login", credentials)
    wrong = post_json(client, "/v1/auth/login", {**credentials, "totpCode": "123456"})

    assert (missing.status_code, missing.json_body["code"]) == (401, -5003)
    assert (wrong.status_code, wrong.json_body["code"]) == (401, -5004)
    code = next_code(totp)
    ok = post_json(client, "/v1/auth/login", {**credentials, "totpCode": code})
    assert ok.status_code == 200, ok.body
    reused = post_json(client, "/v1/auth/login", {**credentials, "totpCode": code})
    assert reused.status_code == 401, "a TOTP code must work only once"


def test_api_key_creation_needs_totp_once_enabled(alice: Caller) -> None:
    totp = enable_totp(alice)

    without = alice.post("/v1/api-keys", {"permissions": ["READ"]})
    with_code = alice.post("/v1/api-keys", {"permissions": ["READ"], "totpCode": next_code(totp)})

    assert without.json_body["code"] == -5003
    assert with_code.status_code == 201


def test_api_keys_are_created_listed_and_deleted_without_showing_the_secret(
    alice: Caller,
) -> None:
    created = alice.post("/v1/api-keys", {"label": "bot", "permissions": ["TRADE", "READ"]})
    assert created.status_code == 201
    assert len(created.json_body["secretKey"]) == 64

    listed = alice.get("/v1/api-keys").json_body["apiKeys"]

    assert listed == [{"id": created.json_body["id"], "apiKey": created.json_body["apiKey"],
                       "label": "bot", "permissions": ["READ", "TRADE"], "ipAllowlist": []}]
    assert "secret" not in json.dumps(listed).lower()
    assert alice.delete(f"/v1/api-keys/{created.json_body['id']}").status_code == 200
    assert alice.get("/v1/api-keys").json_body["apiKeys"] == []


def test_api_key_secrets_are_not_stored_in_plain_text(alice: Caller, db: object) -> None:
    created = alice.post("/v1/api-keys", {"permissions": ["READ"]}).json_body

    row = db.execute("SELECT secret_enc FROM api_keys").fetchone()  # type: ignore[attr-defined]

    assert created["secretKey"].encode() not in bytes(row[0])


@pytest.mark.parametrize(("body", "code"), [
    ({"permissions": ["WITHDRAW"]}, -1102),
    ({"permissions": ["READ", "ADMIN"]}, -1102),
    ({"permissions": []}, -1102),
    ({"permissions": ["READ"], "ipAllowlist": ["not-an-ip"]}, -1102),
])
def test_bad_api_key_requests_are_refused(alice: Caller, body: dict[str, object],
                                          code: int) -> None:
    response = alice.post("/v1/api-keys", body)

    assert response.status_code == 400
    assert response.json_body["code"] == code


def test_a_user_cannot_see_or_delete_anothers_keys(alice: Caller, bob: Caller) -> None:
    key = alice.post("/v1/api-keys", {"permissions": ["READ"]}).json_body

    assert bob.get("/v1/api-keys").json_body["apiKeys"] == []
    assert bob.delete(f"/v1/api-keys/{key['id']}").status_code == 404
    assert len(alice.get("/v1/api-keys").json_body["apiKeys"]) == 1


def test_every_v1_route_needs_a_token(client: Client) -> None:
    for method, path in (("GET", "/v1/me"), ("GET", "/v1/api-keys"),
                         ("POST", "/v1/api-keys"), ("POST", "/v1/auth/logout"),
                         ("DELETE", "/v1/api-keys/1")):
        response = getattr(client.http, method.lower())(path)
        assert response.status_code == 401, path
        assert response.json_body["code"] == -1002


def session_of(user: Caller) -> str:
    return str(user.refresh_token.partition(".")[0])


def step_up_refusal(services: Services, user: Caller,
                    totp_enabled: bool = True) -> ApiError | None:
    """What `require_step_up` (admin money actions) says about the caller's session."""
    me = auth.User(user.user_id, user.email, is_admin=False, totp_enabled=totp_enabled)
    try:
        auth.require_step_up(services.auth, me, session_of(user))
    except ApiError as refused:
        return refused
    return None


def test_step_up_needs_two_factor_enabled(alice: Caller, services: Services) -> None:
    response = alice.post("/v1/auth/step-up", {"totpCode": "123456"})

    assert response.status_code == 403
    assert response.json_body == {"code": -5005,
                                  "msg": "Enable two-factor authentication first."}
    assert step_up_refusal(services, alice, totp_enabled=False) is not None


def test_step_up_marks_only_the_callers_session(client: Client, alice: Caller,
                                                services: Services) -> None:
    other = post_json(client, "/v1/auth/login", {"email": alice.email, "password": PASSWORD})
    totp = enable_totp(alice)
    refused = step_up_refusal(services, alice)
    assert refused is not None
    assert (refused.status, refused.code, refused.msg) == (
        401, -5003, "This needs a recent two-factor step-up: POST /v1/auth/step-up.")

    wrong = alice.post("/v1/auth/step-up", {"totpCode": "000000"})
    assert (wrong.status_code, wrong.json_body["code"]) == (401, -5004)
    assert step_up_refusal(services, alice) is not None
    stepped = alice.post("/v1/auth/step-up", {"totpCode": next_code(totp)})

    assert stepped.status_code == 200, stepped.body
    assert stepped.json_body == {"stepUpExpiresIn": 300}
    assert step_up_refusal(services, alice) is None
    other_session = Caller.__new__(Caller)
    other_session.__dict__.update(alice.__dict__, refresh_token=other.json_body["refreshToken"])
    assert step_up_refusal(services, other_session) is not None


def test_logout_ends_the_step_up(alice: Caller, services: Services) -> None:
    totp = enable_totp(alice)
    assert alice.post("/v1/auth/step-up", {"totpCode": next_code(totp)}).status_code == 200

    assert alice.post("/v1/auth/logout", {}).status_code == 200

    assert step_up_refusal(services, alice) is not None


@pytest.mark.parametrize("body", [{}, {"totpCode": "12345"}, {"totpCode": "123456", "x": 1}])
def test_bad_step_up_bodies_are_refused(alice: Caller, services: Services,
                                        body: dict[str, object]) -> None:
    enable_totp(alice)

    response = alice.post("/v1/auth/step-up", body)

    assert response.status_code == 400
    assert step_up_refusal(services, alice) is not None


def refused_for_too_many_guesses(response: Any) -> bool:
    return (response.status_code == 429 and response.json_body["code"] == -1003
            and 0 < int(response.headers["Retry-After"]) <= 900)


def test_two_factor_guesses_are_limited_even_when_the_right_code_follows(
    client: Client, alice: Caller, services: Services
) -> None:
    totp = enable_totp(alice)
    for _ in range(5):
        wrong = alice.post("/v1/api-keys", {"permissions": ["READ"], "totpCode": "000000"})
        assert (wrong.status_code, wrong.json_body["code"]) == (401, -5004)

    right = next_code(totp)
    assert refused_for_too_many_guesses(
        alice.post("/v1/api-keys", {"permissions": ["READ"], "totpCode": right}))
    assert refused_for_too_many_guesses(alice.post("/v1/auth/step-up", {"totpCode": right}))
    assert refused_for_too_many_guesses(post_json(client, "/v1/auth/login", {
        "email": alice.email, "password": PASSWORD, "totpCode": right}))
    assert alice.get("/v1/api-keys").json_body["apiKeys"] == []
    assert step_up_refusal(services, alice) is not None


def test_wrong_step_up_codes_count_towards_the_limit(alice: Caller, services: Services) -> None:
    totp = enable_totp(alice)
    for _ in range(5):
        assert alice.post("/v1/auth/step-up", {"totpCode": "000000"}).status_code == 401

    assert refused_for_too_many_guesses(
        alice.post("/v1/auth/step-up", {"totpCode": next_code(totp)}))
    assert step_up_refusal(services, alice) is not None


def test_a_right_two_factor_code_resets_the_count(alice: Caller) -> None:
    totp = enable_totp(alice)
    for _ in range(4):
        assert alice.post("/v1/auth/step-up", {"totpCode": "000000"}).status_code == 401
    assert alice.post("/v1/auth/step-up", {"totpCode": next_code(totp)}).status_code == 200

    again = [alice.post("/v1/auth/step-up", {"totpCode": "000000"}) for _ in range(5)]

    assert [r.json_body["code"] for r in again] == [-5004] * 5


def test_totp_enrolment_needs_the_password(alice: Caller) -> None:
    missing = alice.post("/v1/auth/totp/enrol", {})
    wrong = alice.post("/v1/auth/totp/enrol", {"password": "not my password"})

    assert (missing.status_code, missing.json_body["code"]) == (400, -1102)
    assert (wrong.status_code, wrong.json_body["code"]) == (401, -5002)
    assert "secret" not in wrong.json_body
    not_started = alice.post("/v1/auth/totp/confirm", {"code": "123456"})
    assert (not_started.status_code, not_started.json_body["code"]) == (409, -5008)


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/auth/totp/enrol", {"password": "not my password"}),
    ("/v1/auth/password", {"currentPassword": "not my password",
                           "newPassword": "a brand new passphrase"}),
])
def test_wrong_passwords_of_a_logged_in_user_count_like_failed_logins(
    client: Client, alice: Caller, path: str, body: dict[str, object]
) -> None:
    for _ in range(5):
        assert alice.post(path, body).status_code == 401

    assert refused_for_too_many_guesses(alice.post("/v1/auth/totp/enrol", {"password": PASSWORD}))
    assert refused_for_too_many_guesses(
        post_json(client, "/v1/auth/login", {"email": alice.email, "password": PASSWORD}))
