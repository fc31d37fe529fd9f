"""Redis-held state of the API: refresh sessions, request weights, guesses at secrets."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import redis

from chalicelib.domain.clock import SYSTEM_CLOCK, Clock
from chalicelib.domain.rate_limits import Counter
from chalicelib.settings import Settings

# Rotate a refresh token atomically, keeping the digests of the last few secrets it
# replaced. Presenting one of those (a replay: the token was stolen, or the thief already
# rotated it) ends the session; any other wrong secret is merely refused, since session
# ids are readable in access tokens and guessing must not let anyone end a session.
# KEYS: the session, its user's set of sessions.
# ARGV: presented digest, new digest, session id, TTL, how many retired digests to keep.
ROTATE_REFRESH = """
local stored = redis.call('HGET', KEYS[1], 'refresh')
if not stored then return -1 end
local retired = redis.call('HGET', KEYS[1], 'retired') or ''
if stored == ARGV[1] then
  local kept = {stored}
  for old in string.gmatch(retired, '%x+') do
    if #kept >= tonumber(ARGV[5]) then break end
    table.insert(kept, old)
  end
  redis.call('HSET', KEYS[1], 'refresh', ARGV[2], 'retired', table.concat(kept, ' '))
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return 1
end
if string.find(retired, ARGV[1], 1, true) then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[3])
  return 0
end
return -1
"""

# Step up a session that still exists (a session that ended must not come back as a stub).
MARK_STEP_UP = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'step_up_until', ARGV[1])
return 1
"""

# Admit a guess at a secret only while every counter is under its limit, and count it
# before the secret is checked, in one step: concurrent guesses cannot overshoot a limit.
# KEYS: the counters; ARGV[1]: their lifetime (the lockout); ARGV[1 + i]: KEYS[i]'s limit.
# Returns 0 when admitted, else the seconds until the last full counter expires.
ADMIT_GUESS = """
local wait = 0
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i + 1]) then
    wait = math.max(wait, redis.call('TTL', key), 1)
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, ARGV[1]) end
end
return 0
"""

# A guess that proved right gives back what it counted (never creating a counter).
REFUND_GUESS = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0
"""


def redis_client(settings: Settings, **options: Any) -> redis.Redis:
    """The client every process uses: REDIS_URL, with the AUTH password (in AWS from
    REDIS_AUTH_SECRET_ARN) given apart from the URL so that it never shows in one."""
    password = settings.redis_password.get_secret_value() or None
    return redis.Redis.from_url(settings.redis_url, password=password, **options)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    session_id: str
    user_id: int


class SessionStore:
    RETIRED_SECRETS_KEPT = 10

    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self.redis = client
        self.ttl = ttl_seconds
        self.rotate_script = client.register_script(ROTATE_REFRESH)
        self.step_up_script = client.register_script(MARK_STEP_UP)

    def create(self, user_id: int) -> tuple[str, str]:
        """Start a session; returns (session id, refresh secret)."""
        session_id, refresh = secrets.token_urlsafe(18), secrets.token_urlsafe(32)
        pipe = self.redis.pipeline()
        pipe.hset(f"session:{session_id}", mapping={"user": user_id, "refresh": digest(refresh)})
        pipe.expire(f"session:{session_id}", self.ttl)
        pipe.sadd(f"user-sessions:{user_id}", session_id)
        pipe.execute()
        return session_id, refresh

    def user_of(self, session_id: str) -> int | None:
        user = self.redis.hget(f"session:{session_id}", "user")
        return int(user) if user is not None else None

    def rotate(self, session_id: str, refresh: str) -> tuple[int, str] | None:
        """Swap the refresh secret for a new one: (user id, new secret); None if the
        session is gone or the secret is wrong (a replayed old one ends the session)."""
        user_id = self.user_of(session_id)
        if user_id is None:
            return None
        new_refresh = secrets.token_urlsafe(32)
        result = self.rotate_script(
            keys=[f"session:{session_id}", f"user-sessions:{user_id}"],
            args=[digest(refresh), digest(new_refresh), session_id, self.ttl,
                  self.RETIRED_SECRETS_KEPT])
        return (user_id, new_refresh) if result == 1 else None

    def mark_stepped_up(self, session_id: str, until_s: int) -> bool:
        """Record a TOTP step-up in the session itself, so that ending the session ends
        it; False if the session is gone."""
        return bool(self.step_up_script(keys=[f"session:{session_id}"], args=[until_s]))

    def stepped_up_until(self, session_id: str, user_id: int) -> int:
        """Until when (epoch seconds) the user's session is stepped up; 0 if never."""
        user, until = self.redis.hmget(f"session:{session_id}", ["user", "step_up_until"])
        if user is None or until is None or int(user) != user_id:
            return 0
        return int(until)

    def revoke(self, session_id: str) -> None:
        user_id = self.user_of(session_id)
        self.redis.delete(f"session:{session_id}")
        if user_id is not None:
            self.redis.srem(f"user-sessions:{user_id}", session_id)

    def revoke_all(self, user_id: int) -> None:
        key = f"user-sessions:{user_id}"
        session_ids = [s.decode() for s in self.redis.smembers(key)]  # type: ignore[union-attr]
        if session_ids:
            self.redis.delete(*[f"session:{s}" for s in session_ids])
        self.redis.delete(key)


# Charge counters in order, stopping after the first one over its limit (what it refuses
# must not charge the others). KEYS: the counters; ARGV[1]: for each key, its amount,
# lifetime in seconds and limit (-1: none, never stops), space-separated (one argument,
# not three per key: encoding each argument is most of a call's client CPU). Returns the
# counts charged, in KEYS' order.
CHARGE_COUNTERS = """
local spec = {}
for number in string.gmatch(ARGV[1], '%S+') do spec[#spec + 1] = tonumber(number) end
local counts = {}
for i, key in ipairs(KEYS) do
  local amount, limit = spec[3 * i - 2], spec[3 * i]
  local used = redis.call('INCRBY', key, amount)
  if used == amount then redis.call('EXPIRE', key, spec[3 * i - 1]) end
  counts[i] = used
  if limit >= 0 and used > limit then break end
end
return counts
"""


class Counters:
    """Charges several counters in one round trip."""

    def __init__(self, client: redis.Redis) -> None:
        self.charge_script = client.register_script(CHARGE_COUNTERS)

    def charge(self, counters: list[Counter]) -> list[int]:
        """Each counter's count once charged, up to the first over its limit."""
        spec = " ".join(f"{c.amount} {c.lifetime_s} {-1 if c.limit is None else c.limit}"
                        for c in counters)
        counts = self.charge_script(keys=[counter.key for counter in counters], args=[spec])
        return [int(count) for count in counts]


class WeightMeter:
    """Request weight used per bucket (an IP, an API key) in the current clock minute."""

    WINDOW_SECONDS = 60

    def __init__(self, client: redis.Redis, clock: Clock = SYSTEM_CLOCK) -> None:
        self.counters = Counters(client)
        self.clock = clock

    def counter(self, bucket: str, weight: int, limit: int | None = None) -> Counter:
        """The bucket's counter in the current minute, to charge with others."""
        window = self.clock.now_ms() // 1000 // self.WINDOW_SECONDS
        return Counter(f"weight:{bucket}:{window}", weight, self.WINDOW_SECONDS + 1, limit)

    def seconds_left(self) -> int:
        """Until the current minute's counters give way to the next minute's."""
        return self.WINDOW_SECONDS - self.clock.now_ms() // 1000 % self.WINDOW_SECONDS


class OrderCounter:
    """New orders per bucket (an account) in fixed clock windows of given lengths."""

    def __init__(self, client: redis.Redis, clock: Clock = SYSTEM_CLOCK) -> None:
        self.redis = client
        self.clock = clock

    def _keys(self, bucket: str, windows_s: tuple[int, ...]) -> list[str]:
        now_s = self.clock.now_ms() // 1000
        return [f"orders:{bucket}:{length}:{now_s // length}" for length in windows_s]

    def counters(self, bucket: str, windows_s: tuple[int, ...], orders: int = 1
                 ) -> list[Counter]:
        """The bucket's counters in its current windows, to charge with others: all of
        them are counted, whichever is over its limit."""
        return [Counter(key, orders, length + 1)
                for key, length in zip(self._keys(bucket, windows_s), windows_s, strict=True)]

    def peek(self, bucket: str, windows_s: tuple[int, ...]) -> list[int]:
        """The bucket's count in each current window, counting nothing."""
        return [int(c or 0) for c in self.redis.mget(self._keys(bucket, windows_s))]


class LoginFailures:
    """Password guesses per (email, IP), per IP and per email, whether or not the email
    exists. The (email, IP) limit is the low one, so one IP guessing at an email locks
    itself out without locking out the owner elsewhere; the per-email limit is higher,
    for guessing spread over many IPs."""

    def __init__(self, client: redis.Redis, per_email_ip: int, per_ip: int, per_email: int,
                 lockout_seconds: int) -> None:
        self.counters = GuessCounters(client, lockout_seconds)
        self.limits = (per_email_ip, per_ip, per_email)

    @staticmethod
    def keys(email: str, ip: str) -> list[str]:
        email = email.lower()
        return [f"login-failures:email-ip:{digest(f'{email} {ip}')}",
                f"login-failures:ip:{digest(ip)}", f"login-failures:email:{digest(email)}"]

    def admit(self, email: str, ip: str) -> int:
        """Count a guess before its check; 0 if admitted, else seconds to wait."""
        return self.counters.admit(dict(zip(self.keys(email, ip), self.limits, strict=True)))

    def succeeded(self, email: str, ip: str) -> None:
        """The right password clears its (email, IP) count and gives back its own count
        to the shared ones: an IP's users logging in do not lock it out, and an attacker
        logging into an account of their own does not wipe their failures."""
        pair, *shared = self.keys(email, ip)
        self.counters.clear([pair])
        self.counters.refund(shared)


class GuessCounters:
    """Counters of guesses at a secret, each with a limit, all living `lockout` seconds
    from their first guess."""

    def __init__(self, client: redis.Redis, lockout_seconds: int) -> None:
        self.redis = client
        self.lockout = lockout_seconds
        self.admit_script = client.register_script(ADMIT_GUESS)
        self.refund_script = client.register_script(REFUND_GUESS)

    def admit(self, limits: dict[str, int]) -> int:
        """Count a guess against every counter; 0 if admitted, else seconds to wait."""
        return int(self.admit_script(keys=list(limits),
                                     args=[self.lockout, *limits.values()]))

    def refund(self, keys: list[str]) -> None:
        self.refund_script(keys=keys)

    def clear(self, keys: list[str]) -> None:
        self.redis.delete(*keys)


class TotpFailures:
    """Two-factor code guesses per user, wherever a code is asked for."""

    def __init__(self, client: redis.Redis, max_failures: int, lockout_seconds: int) -> None:
        self.counters = GuessCounters(client, lockout_seconds)
        self.max_failures = max_failures

    def admit(self, user_id: int) -> int:
        """0 if a code may be checked now, else the seconds until one may."""
        return self.counters.admit({f"totp-failures:{user_id}": self.max_failures})

    def succeeded(self, user_id: int) -> None:
        self.counters.clear([f"totp-failures:{user_id}"])


class UsedTotpCodes:
    """A TOTP code works once: a code seen again within its validity is refused."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def claim(self, user_id: int, code: str) -> bool:
        return bool(self.redis.set(f"totp-used:{user_id}:{code}", 1, nx=True, ex=120))
