"""API keys: create (secret shown once), list, delete; and Binance-style signed
request authentication (HMAC-SHA256 over the query string then the body)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlencode

from chalicelib.adapters import accounts_repo as repo
from chalicelib.adapters.envelope import MasterKey, seal, unseal
from chalicelib.adapters.postgres import Conn
from chalicelib.adapters.replay_guard import ReplayGuard
from chalicelib.domain.errors import ApiError, ErrorCode, bad_request, malformed, not_found
from chalicelib.domain.params import parse_count

PERMISSIONS = ("READ", "TRADE", "WITHDRAW")
SESSION_PERMISSIONS = ("READ", "TRADE")
"""What the web app's session may do on the SIGNED routes in place of an API key: never
WITHDRAW (the web app withdraws through /v1/withdrawals, with two-factor)."""
DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60000
MAX_CLOCK_AHEAD_MS = 1000
SIGNATURE_LIFETIME_MS = MAX_RECV_WINDOW_MS + MAX_CLOCK_AHEAD_MS
"""How long one signed request can be accepted: its widest window plus the clock allowance."""
MAX_KEYS_PER_USER = 30
MIN_IPV4_PREFIX = 24
"""An allow-list entry names at most an IPv4 /24: a broader one is no restriction."""
MIN_IPV6_PREFIX = 48
"""An allow-list entry names at most an IPv6 /48, one site's allocation."""
IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")


def invalid_key() -> ApiError:
    return ApiError(401, ErrorCode.REJECTED_MBX_KEY,
                    "Invalid API-key, IP, or permissions for action.")


def describe_key(row: repo.ApiKeyRow) -> dict[str, object]:
    return {"id": row.id, "apiKey": row.api_key, "label": row.label,
            "permissions": row.permissions, "ipAllowlist": row.ip_allowlist}


def validate_allowlist(entries: Sequence[str]) -> list[str]:
    return [str(allowed_network(entry)) for entry in entries]


def allowed_network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        network = ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError as exc:
        raise malformed("ipAllowlist", f"holds '{entry}', which is not an IP or CIDR") from exc
    minimum = minimum_prefix(network)
    if network.prefixlen < minimum:
        raise malformed("ipAllowlist", f"holds '{entry}', a network broader than "
                                       f"/{minimum}; name addresses or smaller networks")
    return network


def minimum_prefix(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> int:
    """The shortest prefix allowed; IPv4-mapped IPv6 networks count as the IPv4 they hold."""
    if network.version == 4:
        return MIN_IPV4_PREFIX
    if network.overlaps(IPV4_MAPPED):
        return IPV4_MAPPED.prefixlen + MIN_IPV4_PREFIX
    return MIN_IPV6_PREFIX


def create_api_key(conn: Conn, master: MasterKey, user_id: int, label: str,
                   permissions: Sequence[str], ip_allowlist: Sequence[str]) -> dict[str, object]:
    if not permissions or not set(permissions) <= set(PERMISSIONS):
        raise malformed("permissions", f"must be a non-empty subset of {list(PERMISSIONS)}")
    wanted = [p for p in PERMISSIONS if p in permissions]
    networks = validate_allowlist(ip_allowlist)
    if "WITHDRAW" in wanted and not networks:
        raise bad_request(ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                          "A key with WITHDRAW permission needs an IP allow-list.")
    if len(repo.live_api_keys(conn, user_id)) >= MAX_KEYS_PER_USER:
        raise bad_request(ErrorCode.FILTER_FAILURE, f"At most {MAX_KEYS_PER_USER} API keys.")
    api_key, secret = secrets.token_hex(32), secrets.token_hex(32)
    secret_enc, data_key_enc = seal(master, secret.encode())
    key_id = repo.insert_api_key(conn, user_id, api_key, secret_enc, data_key_enc, label[:64],
                                 wanted, networks)
    return {"id": key_id, "apiKey": api_key, "secretKey": secret, "label": label[:64],
            "permissions": wanted, "ipAllowlist": networks}


def list_api_keys(conn: Conn, user_id: int) -> list[dict[str, object]]:
    return [describe_key(row) for row in repo.live_api_keys(conn, user_id)]


def delete_api_key(conn: Conn, user_id: int, key_id: int) -> None:
    if not repo.delete_api_key(conn, user_id, key_id):
        raise not_found("No such API key.")


@dataclass(frozen=True)
class SignedRequest:
    api_key: str | None
    query_pairs: list[tuple[str, str]]
    body: str
    client_ip: str
    now_ms: int

    def params(self) -> dict[str, str]:
        """Query and form-body parameters together, each name sent once. The signature
        covers the query and body run together, so a name sent twice, or a body that is
        not a well-formed form, could respell a signed request as another one."""
        pairs = self.query_pairs + form_pairs(self.body)
        names = [name for name, _ in pairs]
        if "" in names:
            raise bad_request(ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                              "A parameter was sent without a name; each one is name=value.")
        if len(set(names)) != len(names):
            raise bad_request(ErrorCode.TOO_MANY_PARAMETERS,
                              "Duplicate values for a parameter detected.")
        return dict(pairs)


def form_pairs(body: str) -> list[tuple[str, str]]:
    """A form body, strictly `name=value&name=value`; an empty body has no parameters."""
    if not body:
        return []
    try:
        return list(strict_form_pairs(body))
    except ValueError as exc:
        raise malformed("body", "is not a well-formed form (name=value&name=value)") from exc


@lru_cache(maxsize=8)
def strict_form_pairs(body: str) -> tuple[tuple[str, str], ...]:
    """``body`` parsed as a strict form, or ``ValueError``. Cached: a request's body is
    read by the NUL screen, the signature check and its route, each a parse."""
    return tuple(parse_qsl(body, keep_blank_values=True, strict_parsing=True))


@dataclass(frozen=True)
class KeyOwner:
    """The caller of a SIGNED or USER_STREAM route: a user through one of their API keys,
    or through a web session (``key_id`` None)."""

    user_id: int
    key_id: int | None
    permissions: tuple[str, ...]


def session_owner(user_id: int, permission: str) -> KeyOwner:
    """The caller through the web app's session, if a session may do ``permission``."""
    if permission not in SESSION_PERMISSIONS:
        raise invalid_key()
    return KeyOwner(user_id, None, SESSION_PERMISSIONS)


def authenticate_session(user_id: int, request: SignedRequest, permission: str) -> KeyOwner:
    """The caller of a SIGNED request through the web app's session, whose token was
    checked: no signature and no timestamp needed; a timestamp or recvWindow sent anyway
    is checked as a signed request's is."""
    owner = session_owner(user_id, permission)
    params = request.params()
    if "timestamp" in params or "recvWindow" in params:
        check_timestamp(params, request.now_ms)
    return owner


def signing_key_id(owner: KeyOwner) -> int:
    """The id of the API key the caller signed with; a web session has none (-2015)."""
    if owner.key_id is None:
        raise invalid_key()
    return owner.key_id


@dataclass(frozen=True)
class ReadKey:
    """A live API key as read from the database, its secret unsealed."""

    row: repo.ApiKeyRow
    secret: bytes


def key_of(request: SignedRequest) -> str:
    """The request's API key, if well formed (else -2014)."""
    if not request.api_key or len(request.api_key) > 128 or not request.api_key.isalnum():
        raise ApiError(401, ErrorCode.BAD_API_KEY_FMT, "API-key format invalid.")
    return request.api_key


def read_key(conn: Conn, master: MasterKey, api_key: str) -> ReadKey | None:
    row = repo.api_key_by_value(conn, api_key)
    return None if row is None else ReadKey(row, unseal(master, row.secret_enc,
                                                        row.data_key_enc))


def authenticate_signed(conn: Conn, master: MasterKey, request: SignedRequest,
                        permission: str) -> KeyOwner:
    return authenticate_with(read_key(conn, master, key_of(request)), request, permission)


def authenticate_with(key: ReadKey | None, request: SignedRequest,
                      permission: str) -> KeyOwner:
    """The caller of a signed request whose API key (``None``: no live key) was read."""
    if key is None:
        raise invalid_key()
    params = request.params()
    check_timestamp(params, request.now_ms)
    check_signature(key.secret, request, params.get("signature", ""))
    row = key.row
    if permission not in row.permissions or not ip_allowed(request.client_ip, row.ip_allowlist):
        raise invalid_key()
    return KeyOwner(row.user_id, row.id, tuple(row.permissions))


def check_timestamp(params: dict[str, str], now_ms: int) -> None:
    if not params.get("timestamp"):
        raise bad_request(ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                          "Mandatory parameter 'timestamp' was not sent, was empty/null, "
                          "or malformed.")
    timestamp = parse_count(params["timestamp"], "timestamp")
    window = parse_count(params.get("recvWindow", str(DEFAULT_RECV_WINDOW_MS)), "recvWindow")
    if window > MAX_RECV_WINDOW_MS:
        raise bad_request(ErrorCode.INVALID_RECV_WINDOW,
                          f"recvWindow must be less than {MAX_RECV_WINDOW_MS}.")
    if timestamp > now_ms + MAX_CLOCK_AHEAD_MS:
        raise bad_request(ErrorCode.INVALID_TIMESTAMP,
                          "Timestamp for this request was 1000ms ahead of the server's time.")
    if now_ms - timestamp > window:
        raise bad_request(ErrorCode.INVALID_TIMESTAMP,
                          "Timestamp for this request is outside of the recvWindow.")


def canonical_signature(signature: str) -> str:
    """The one spelling of a signature (64 hex digits, lowercase), so that its case
    cannot make a known request look new to replay checks and idempotency keys."""
    if not SIGNATURE.fullmatch(signature):
        raise malformed("signature", "was not sent, was empty/null, or malformed; "
                                     "it is 64 hexadecimal characters")
    return signature.lower()


def check_signature(secret: bytes, request: SignedRequest, signature: str) -> None:
    given = canonical_signature(signature).encode()
    for payload in signed_payloads(request):
        expected = hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest().encode()
        if hmac.compare_digest(expected, given):
            return
    raise bad_request(ErrorCode.INVALID_SIGNATURE, "Signature for this request is not valid.")


# What clients leave unencoded in a query value (python-binance signs and sends values
# raw, e.g. `idList=1,2`). None of these separates pairs or names from values, so a
# request re-spelt with or without them still decodes to the very same parameters.
RAW_QUERY_CHARS = "!$'()*,/:;@[]~"


def signed_payloads(request: SignedRequest) -> list[str]:
    """What the client may have signed: the query string then the body, without the
    signature itself. API Gateway hands us decoded query parameters, not the raw
    string, so the query is re-encoded in the common styles ('+', '%20', and '%20'
    with the characters clients leave raw)."""
    pairs = [(k, v) for k, v in request.query_pairs if k != "signature"]
    body = without_signature(request.body)
    queries = {urlencode(pairs), urlencode(pairs, quote_via=quote),
               urlencode(pairs, quote_via=quote, safe=RAW_QUERY_CHARS)}
    return [query + body for query in queries]


def without_signature(body: str) -> str:
    if "signature=" not in body:
        return body
    return "&".join(part for part in body.split("&") if not part.startswith("signature="))


def refuse_respelt_replay(guard: ReplayGuard, key_id: int, params: dict[str, str]) -> None:
    """A verified signature seen again within its lifetime must come with the same
    canonical request (an idempotent repeat); the same signed text respelt into other
    parameters is refused. For money-moving routes, after `authenticate_signed`."""
    signature = canonical_signature(params.get("signature", ""))
    digest = canonical_digest(params)
    seen = guard.remember(key_id, signature, digest)
    if seen is not None and seen != digest:
        raise bad_request(ErrorCode.INVALID_SIGNATURE,
                          "Signature for this request was already used for another request.")


def canonical_digest(params: dict[str, str]) -> str:
    """The parameters a signature vouches for, independent of order and placement."""
    signed = sorted((name, value) for name, value in params.items() if name != "signature")
    return hashlib.sha256(json.dumps(signed).encode()).hexdigest()


def ip_allowed(client_ip: str, allowlist: Sequence[str]) -> bool:
    if not allowlist:
        return True
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net) for net in allowlist)
