"""Redis state of Binance's listenKeys (user data streams opened over REST).

* ``listenkey:{key}``: the user id the key streams, expiring 60 minutes after it was
  opened or last kept alive;
* ``listenkey:user:{user id}``: that user's key (Binance hands out the same key while
  it is valid), with the same expiry.
"""

from __future__ import annotations

import redis

LISTEN_KEY_TTL_SECONDS = 3600


def _key(listen_key: str) -> str:
    return f"listenkey:{listen_key}"


def _user_key(user_id: int) -> str:
    return f"listenkey:user:{user_id}"


class ListenKeyStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def open(self, user_id: int, fresh_key: str) -> str:
        """The user's valid key, its validity extended; else ``fresh_key``, now theirs."""
        held = self.redis.get(_user_key(user_id))
        if isinstance(held, bytes) and self.keep_alive(held.decode(), user_id):
            return held.decode()
        pipe = self.redis.pipeline()
        pipe.set(_key(fresh_key), user_id, ex=LISTEN_KEY_TTL_SECONDS)
        pipe.set(_user_key(user_id), fresh_key, ex=LISTEN_KEY_TTL_SECONDS)
        pipe.execute()
        return fresh_key

    def user_of(self, listen_key: str) -> int | None:
        owner = self.redis.get(_key(listen_key))
        return int(owner) if isinstance(owner, bytes) else None

    def keep_alive(self, listen_key: str, user_id: int) -> bool:
        """Another 60 minutes for the user's key; False if it is not theirs (or gone)."""
        if self.user_of(listen_key) != user_id:
            return False
        pipe = self.redis.pipeline()
        pipe.expire(_key(listen_key), LISTEN_KEY_TTL_SECONDS)
        pipe.expire(_user_key(user_id), LISTEN_KEY_TTL_SECONDS)
        pipe.execute()
        return True

    def close(self, listen_key: str, user_id: int) -> bool:
        if self.user_of(listen_key) != user_id:
            return False
        self.redis.delete(_key(listen_key), _user_key(user_id))
        return True
