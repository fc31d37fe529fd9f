"""Password hashing with Argon2id at OWASP's recommended minimum (m=19 MiB, t=2, p=1)."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32,
                        salt_len=16, type=Type.ID)


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return HASHER.check_needs_rehash(password_hash)


@lru_cache(maxsize=1)
def decoy_hash() -> str:
    """A hash to verify against when the email is unknown, so that a login for an
    unknown email takes as long as one for a known email."""
    return HASHER.hash("decoy password for unknown accounts")
