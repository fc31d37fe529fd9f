"""Errors a client can act on: an HTTP status and a `{"code", "msg"}` body.

Codes are Binance's where Binance has one, so existing clients understand them;
the web app's own failures (accounts, sessions, admin) use the -5xxx range.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ErrorCode(IntEnum):
    UNKNOWN = -1000
    DISCONNECTED = -1001
    BACKEND_TIMEOUT = -1007
    UNAUTHORIZED = -1002
    TOO_MANY_REQUESTS = -1003
    TOO_MANY_ORDERS = -1015
    FILTER_FAILURE = -1013
    INVALID_TIMESTAMP = -1021
    INVALID_SIGNATURE = -1022
    START_TIME_GREATER_THAN_END_TIME = -1023
    ILLEGAL_CHARS = -1100
    TOO_MANY_PARAMETERS = -1101
    MANDATORY_PARAM_EMPTY_OR_MALFORMED = -1102
    UNKNOWN_PARAM = -1103
    UNSUPPORTED_OPERATION = -1020
    PARAM_EMPTY = -1105
    INVALID_TIME_IN_FORCE = -1115
    INVALID_ORDER_TYPE = -1116
    BAD_INTERVAL = -1120
    INVALID_SIDE = -1117
    PARAM_NOT_REQUIRED = -1106
    BAD_PRECISION = -1111
    INVALID_RECV_WINDOW = -1131
    TIME_SPAN_TOO_LONG = -1127
    INVALID_PARAM_COMBINATION = -1128
    BAD_SYMBOL = -1121
    INVALID_SYMBOL_STATUS = -1122
    INVALID_LISTEN_KEY = -1125
    OCO_ORDER_TYPE_REJECTED = -1158
    NEW_ORDER_REJECTED = -2010
    CANCEL_REJECTED = -2011
    NO_SUCH_ORDER = -2013
    CANCEL_REPLACE_PARTIALLY_FAILED = -2021
    CANCEL_REPLACE_FAILED = -2022
    BAD_API_KEY_FMT = -2014
    REJECTED_MBX_KEY = -2015
    # The web app's own (/v1) codes.
    EMAIL_TAKEN = -5001
    INVALID_CREDENTIALS = -5002
    TOTP_REQUIRED = -5003
    INVALID_TOTP = -5004
    FORBIDDEN = -5005
    NOT_FOUND = -5006
    INVALID_TOKEN = -5007
    CONFLICT = -5008
    INSUFFICIENT_BALANCE = -5009
    WITHDRAWALS_HALTED = -5010


@dataclass(eq=False)  # not frozen: raising sets __traceback__ on the instance
class ApiError(Exception):
    status: int
    code: ErrorCode
    msg: str
    retry_after: int | None = None

    def body(self) -> dict[str, object]:
        return {"code": int(self.code), "msg": self.msg}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


def bad_request(code: ErrorCode, msg: str) -> ApiError:
    return ApiError(400, code, msg)


def malformed(param: str, detail: str = "was empty or malformed") -> ApiError:
    return ApiError(400, ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                    f"Parameter '{param}' {detail}.")


def unauthorized(code: ErrorCode, msg: str) -> ApiError:
    return ApiError(401, code, msg)


def forbidden(msg: str = "You are not allowed to do this.") -> ApiError:
    return ApiError(403, ErrorCode.FORBIDDEN, msg)


def not_found(msg: str) -> ApiError:
    return ApiError(404, ErrorCode.NOT_FOUND, msg)


def conflict(msg: str) -> ApiError:
    return ApiError(409, ErrorCode.CONFLICT, msg)


def too_many_requests(msg: str, retry_after: int) -> ApiError:
    return ApiError(429, ErrorCode.TOO_MANY_REQUESTS, msg, retry_after)


# Seconds a client is told to wait before retrying while a backend is unavailable: a
# lost connection or a failover is over in seconds.
BACKEND_RETRY_AFTER_SECONDS = 2


class BackendUnavailableError(Exception):
    """PostgreSQL, Redis or Kafka cannot serve the request now: refused, lost, read-only
    (no writer), or silent past the deadline. Adapters raise it in place of their
    drivers' errors, so the layers above handle outages without importing a driver.

    ``retryable``: the unit of work's transaction certainly did not commit, so running
    it whole again is safe. False when the connection was lost while committing: the
    outcome is unknown, and only the client's retry (deduplicated by its client order
    id) can settle it.
    """

    def __init__(self, backend: str, detail: str, *, timed_out: bool = False,
                 retryable: bool = False) -> None:
        super().__init__(f"{backend} unavailable: {detail}")
        self.backend = backend
        self.timed_out = timed_out
        self.retryable = retryable


def unavailable(outage: BackendUnavailableError) -> ApiError:
    """A 503 in Binance's words: -1007 when a backend timed out or a commit's outcome
    is unknown (the request may have been executed), -1001 when it surely was not."""
    if outage.timed_out or not outage.retryable:
        return ApiError(503, ErrorCode.BACKEND_TIMEOUT,
                        "Timeout waiting for response from backend server. Send status"
                        " unknown; execution status unknown.", BACKEND_RETRY_AFTER_SECONDS)
    return ApiError(503, ErrorCode.DISCONNECTED,
                    "Internal error; unable to process your request. Please try again.",
                    BACKEND_RETRY_AFTER_SECONDS)
