"""Accounts: signup, login, refresh, logout, password change and TOTP two-factor."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyotp

from chalicelib.adapters import accounts_repo as repo
from chalicelib.adapters.envelope import MasterKey, seal_blob, unseal_blob
from chalicelib.adapters.passwords import decoy_hash, hash_password, needs_rehash, verify_password
from chalicelib.adapters.postgres import Conn
from chalicelib.adapters.redis_store import (
    LoginFailures,
    SessionStore,
    TotpFailures,
    UsedTotpCodes,
)
from chalicelib.domain.clock import SYSTEM_CLOCK, Clock
from chalicelib.domain.errors import (
    ApiError,
    ErrorCode,
    bad_request,
    conflict,
    forbidden,
    too_many_requests,
    unauthorized,
)
from chalicelib.service_layer.tokens import TokenConfig, issue_access_token, read_access_token

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
PASSWORD_MIN, PASSWORD_MAX = 10, 128
TOTP_ISSUER = "Spot Exchange"


@dataclass(frozen=True)
class AuthContext:
    sessions: SessionStore
    failures: LoginFailures
    totp_failures: TotpFailures
    used_codes: UsedTotpCodes
    master_key: MasterKey
    tokens: TokenConfig
    step_up_ttl_seconds: int
    clock: Clock = SYSTEM_CLOCK

    def now_s(self) -> int:
        return self.clock.now_ms() // 1000


@dataclass(frozen=True)
class User:
    id: int
    email: str
    is_admin: bool
    totp_enabled: bool

    @classmethod
    def from_row(cls, row: repo.UserRow) -> User:
        return cls(row.id, row.email, row.is_admin, row.totp_enabled)


def normalise_email(email: str) -> str:
    email = email.strip()
    if len(email) > 254 or not EMAIL.match(email):
        raise bad_request(ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                          "Parameter 'email' is not a valid email address.")
    return email


def check_password_strength(password: str) -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise bad_request(ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                          f"Password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long.")


def signup(conn: Conn, email: str, password: str) -> User:
    email = normalise_email(email)
    check_password_strength(password)
    user_id = repo.insert_user(conn, email, hash_password(password))
    if user_id is None:
        raise ApiError(409, ErrorCode.EMAIL_TAKEN, "An account with this email already exists.")
    return User(user_id, email, is_admin=False, totp_enabled=False)


def login(ctx: AuthContext, conn: Conn, email: str, password: str,
          totp_code: str | None, client_ip: str) -> dict[str, object]:
    email = email.strip()
    admit_password_guess(ctx, email, client_ip)
    row = repo.user_by_email(conn, email)
    if row is None or not verify_password(row.password_hash, password):
        if row is None:
            verify_password(decoy_hash(), password)
        raise unauthorized(ErrorCode.INVALID_CREDENTIALS, "Email or password is incorrect.")
    ctx.failures.succeeded(email, client_ip)
    if row.status != "ACTIVE":
        raise forbidden("This account is disabled.")
    if row.totp_enabled:
        check_second_factor(ctx, row, totp_code)
    if needs_rehash(row.password_hash):
        repo.set_password(conn, row.id, hash_password(password))
    return start_session(ctx, row.id)


def admit_password_guess(ctx: AuthContext, email: str, client_ip: str) -> None:
    """Count a password guess before it is checked: 429 once this IP, or this email,
    has guessed too often (a right password gives its count back)."""
    wait = ctx.failures.admit(email, client_ip)
    if wait:
        raise too_many_requests("Too many failed logins; try again later.", retry_after=wait)


def start_session(ctx: AuthContext, user_id: int) -> dict[str, object]:
    session_id, refresh = ctx.sessions.create(user_id)
    return token_response(ctx, user_id, session_id, refresh)


def token_response(ctx: AuthContext, user_id: int, session_id: str,
                   refresh: str) -> dict[str, object]:
    access = issue_access_token(ctx.tokens, user_id, session_id, ctx.now_s())
    return {"accessToken": access, "refreshToken": f"{session_id}.{refresh}",
            "tokenType": "Bearer", "expiresIn": ctx.tokens.ttl_seconds}


def refresh(ctx: AuthContext, refresh_token: str) -> dict[str, object]:
    session_id, _, secret = refresh_token.partition(".")
    rotated = ctx.sessions.rotate(session_id, secret) if session_id and secret else None
    if rotated is None:
        raise unauthorized(ErrorCode.INVALID_TOKEN, "Refresh token is invalid or revoked.")
    user_id, new_secret = rotated
    return token_response(ctx, user_id, session_id, new_secret)


def authenticate(ctx: AuthContext, conn: Conn, bearer_token: str) -> tuple[User, str]:
    """The user behind an access token whose session is still open."""
    claims = read_access_token(ctx.tokens, bearer_token)
    row = repo.user_by_id(conn, claims.user_id)
    if row is None or row.status != "ACTIVE" or \
            ctx.sessions.user_of(claims.session_id) != claims.user_id:
        raise unauthorized(ErrorCode.INVALID_TOKEN, "Session has ended; log in again.")
    return User.from_row(row), claims.session_id


def logout(ctx: AuthContext, session_id: str) -> None:
    ctx.sessions.revoke(session_id)


def change_password(ctx: AuthContext, conn: Conn, user: User, current: str, new: str,
                    client_ip: str) -> None:
    check_own_password(ctx, conn, user, current, client_ip)
    check_password_strength(new)
    repo.set_password(conn, user.id, hash_password(new))
    ctx.sessions.revoke_all(user.id)


def check_own_password(ctx: AuthContext, conn: Conn, user: User, password: str,
                       client_ip: str) -> None:
    """A logged-in user's password again, before changing their security: a stolen
    session alone must not do it. Guesses count as failed logins."""
    admit_password_guess(ctx, user.email, client_ip)
    row = repo.user_by_id(conn, user.id)
    assert row is not None
    if not verify_password(row.password_hash, password):
        raise unauthorized(ErrorCode.INVALID_CREDENTIALS, "Current password is incorrect.")
    ctx.failures.succeeded(user.email, client_ip)


def enrol_totp(ctx: AuthContext, conn: Conn, user: User, password: str,
               client_ip: str) -> dict[str, str]:
    if user.totp_enabled:
        raise conflict("Two-factor authentication is already enabled.")
    check_own_password(ctx, conn, user, password, client_ip)
    secret = pyotp.random_base32()
    repo.set_totp(conn, user.id, seal_blob(ctx.master_key, secret.encode()), enabled=False)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)
    return {"secret": secret, "otpauthUri": uri}


def confirm_totp(ctx: AuthContext, conn: Conn, user: User, code: str) -> None:
    row = repo.user_by_id(conn, user.id)
    assert row is not None
    if row.totp_enabled:
        raise conflict("Two-factor authentication is already enabled.")
    if row.totp_secret_enc is None:
        raise conflict("Start two-factor enrolment first.")
    if not code_is_valid(ctx, row, code):
        raise bad_request(ErrorCode.INVALID_TOTP, "The two-factor code is not valid.")
    repo.set_totp(conn, user.id, row.totp_secret_enc, enabled=True)


def require_second_factor(ctx: AuthContext, conn: Conn, user: User, code: str | None) -> None:
    """For sensitive actions (API keys, withdrawals) once two-factor is enabled."""
    if not user.totp_enabled:
        return
    row = repo.user_by_id(conn, user.id)
    assert row is not None
    check_second_factor(ctx, row, code)


def check_second_factor(ctx: AuthContext, row: repo.UserRow, code: str | None) -> None:
    """A TOTP code, with the user's wrong guesses limited: once locked out even the right
    code is refused unchecked, so guessing on and on cannot find it."""
    if not code:
        raise unauthorized(ErrorCode.TOTP_REQUIRED, "A two-factor code is required.")
    wait = ctx.totp_failures.admit(row.id)
    if wait:
        raise too_many_requests("Too many wrong two-factor codes; try again later.",
                                retry_after=wait)
    if not code_is_valid(ctx, row, code):
        raise unauthorized(ErrorCode.INVALID_TOTP, "The two-factor code is not valid.")
    ctx.totp_failures.succeeded(row.id)


def step_up(ctx: AuthContext, conn: Conn, user: User, session_id: str,
            code: str) -> dict[str, object]:
    """One TOTP code lets this session do admin money actions for a while: codes are
    single-use, so a code per action would not let an operator do several."""
    if not user.totp_enabled:
        raise forbidden("Enable two-factor authentication first.")
    require_second_factor(ctx, conn, user, code)
    if not ctx.sessions.mark_stepped_up(session_id, ctx.now_s() + ctx.step_up_ttl_seconds):
        raise unauthorized(ErrorCode.INVALID_TOKEN, "Session has ended; log in again.")
    return {"stepUpExpiresIn": ctx.step_up_ttl_seconds}


def require_step_up(ctx: AuthContext, user: User, session_id: str) -> None:
    """For admin money actions: this session stepped up within the TTL."""
    if not user.totp_enabled or \
            ctx.sessions.stepped_up_until(session_id, user.id) <= ctx.now_s():
        raise ApiError(401, ErrorCode.TOTP_REQUIRED,
                       "This needs a recent two-factor step-up: POST /v1/auth/step-up.")


def code_is_valid(ctx: AuthContext, row: repo.UserRow, code: str) -> bool:
    if row.totp_secret_enc is None or not code.isdigit():
        return False
    secret = unseal_blob(ctx.master_key, row.totp_secret_enc).decode()
    return (pyotp.TOTP(secret).verify(code, for_time=ctx.now_s(), valid_window=1)
            and ctx.used_codes.claim(row.id, code))
