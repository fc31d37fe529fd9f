"""/v1 accounts: signup, login, tokens, two-factor, API keys."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.middleware import json_response
from chalicelib.entrypoints.http.models import (
    Credentials,
    Login,
    NewApiKey,
    PasswordChange,
    PasswordConfirmation,
    RefreshBody,
    StepUp,
    TotpCode,
)
from chalicelib.entrypoints.http.requests import client_ip, parse_body, path_id
from chalicelib.service_layer import api_keys, auth

routes = ApiBlueprint(__name__)


@routes.route("/v1/auth/signup", methods=["POST"])
def signup() -> Response:
    body = parse_body(routes.current_request, Credentials)
    with routes.services.db() as conn:
        user = auth.signup(conn, body.email, body.password)
    return json_response(201, {"id": user.id, "email": user.email})


@routes.route("/v1/auth/login", methods=["POST"])
def login() -> dict[str, object]:
    body = parse_body(routes.current_request, Login)
    svc = routes.services
    with svc.db() as conn:
        return auth.login(svc.auth, conn, body.email, body.password, body.totp_code,
                          client_ip(svc, routes.current_request))


@routes.route("/v1/auth/refresh", methods=["POST"])
def refresh() -> dict[str, object]:
    body = parse_body(routes.current_request, RefreshBody)
    return auth.refresh(routes.services.auth, body.refresh_token)


@routes.route("/v1/auth/logout", methods=["POST"])
def logout() -> dict[str, object]:
    _user, session_id = routes.bearer_user()
    auth.logout(routes.services.auth, session_id)
    return {}


@routes.route("/v1/auth/password", methods=["POST"])
def change_password() -> dict[str, object]:
    user, _session = routes.bearer_user()
    body = parse_body(routes.current_request, PasswordChange)
    svc = routes.services
    with svc.db() as conn:
        auth.change_password(svc.auth, conn, user, body.current_password, body.new_password,
                             client_ip(svc, routes.current_request))
    return {}


@routes.route("/v1/auth/totp/enrol", methods=["POST"])
def enrol_totp() -> dict[str, str]:
    user, _session = routes.bearer_user()
    body = parse_body(routes.current_request, PasswordConfirmation)
    svc = routes.services
    with svc.db() as conn:
        return auth.enrol_totp(svc.auth, conn, user, body.password,
                               client_ip(svc, routes.current_request))


@routes.route("/v1/auth/totp/confirm", methods=["POST"])
def confirm_totp() -> dict[str, object]:
    user, _session = routes.bearer_user()
    body = parse_body(routes.current_request, TotpCode)
    svc = routes.services
    with svc.db() as conn:
        auth.confirm_totp(svc.auth, conn, user, body.code)
    return {}


@routes.route("/v1/auth/step-up", methods=["POST"])
def step_up() -> dict[str, object]:
    user, session_id = routes.bearer_user()
    body = parse_body(routes.current_request, StepUp)
    svc = routes.services
    with svc.db() as conn:
        return auth.step_up(svc.auth, conn, user, session_id, body.totp_code)


@routes.route("/v1/me", methods=["GET"])
def me() -> dict[str, object]:
    user, _session = routes.bearer_user()
    return {"id": user.id, "email": user.email, "isAdmin": user.is_admin,
            "totpEnabled": user.totp_enabled}


@routes.route("/v1/api-keys", methods=["GET"])
def list_keys() -> dict[str, object]:
    user, _session = routes.bearer_user()
    with routes.services.db() as conn:
        return {"apiKeys": api_keys.list_api_keys(conn, user.id)}


@routes.route("/v1/api-keys", methods=["POST"])
def create_key() -> Response:
    user, _session = routes.bearer_user()
    body = parse_body(routes.current_request, NewApiKey)
    svc = routes.services
    with svc.db() as conn:
        auth.require_second_factor(svc.auth, conn, user, body.totp_code)
        created = api_keys.create_api_key(conn, svc.master_key, user.id, body.label,
                                          body.permissions, body.ip_allowlist)
    return json_response(201, created)


@routes.route("/v1/api-keys/{key_id}", methods=["DELETE"])
def delete_key(key_id: str) -> dict[str, object]:
    user, _session = routes.bearer_user()
    with routes.services.db() as conn:
        api_keys.delete_api_key(conn, user.id, path_id(key_id, "keyId"))
    return {}
