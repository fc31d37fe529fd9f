"""Envelope encryption for API secrets and TOTP seeds.

Each secret is sealed with AES-256-GCM under its own data key; only the data key
encrypted by the master key is stored beside it. In AWS the master key is a KMS
key (GenerateDataKey / Decrypt); locally it is a 32-byte key file of the project.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class MasterKey(Protocol):
    def new_data_key(self) -> tuple[bytes, bytes]:
        """A fresh data key: (plaintext, encrypted under the master key)."""
        ...

    def decrypt_data_key(self, encrypted: bytes) -> bytes: ...


class KmsMasterKey:
    CACHE_LIMIT = 4096

    def __init__(self, kms_client: Any, key_id: str) -> None:
        self.kms = kms_client
        self.key_id = key_id
        # Every signed request needs its key's secret: cache decrypted data keys
        # so that only the first request per key costs a KMS call.
        self.cache: dict[bytes, bytes] = {}

    def new_data_key(self) -> tuple[bytes, bytes]:
        response = self.kms.generate_data_key(KeyId=self.key_id, KeySpec="AES_256")
        return bytes(response["Plaintext"]), bytes(response["CiphertextBlob"])

    def decrypt_data_key(self, encrypted: bytes) -> bytes:
        plaintext = self.cache.get(encrypted)
        if plaintext is None:
            response = self.kms.decrypt(CiphertextBlob=encrypted, KeyId=self.key_id)
            plaintext = bytes(response["Plaintext"])
            if len(self.cache) < self.CACHE_LIMIT:
                self.cache[encrypted] = plaintext
        return plaintext


class LocalMasterKey:
    def __init__(self, key_file: Path) -> None:
        self.aead = AESGCM(load_or_create_key_file(key_file))

    def new_data_key(self) -> tuple[bytes, bytes]:
        plaintext = AESGCM.generate_key(bit_length=256)
        return plaintext, encrypt(self.aead, plaintext)

    def decrypt_data_key(self, encrypted: bytes) -> bytes:
        return decrypt(self.aead, encrypted)


def load_or_create_key_file(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as key_file:
            key_file.write(AESGCM.generate_key(bit_length=256))
    key = path.read_bytes()
    if len(key) != 32:
        raise ValueError(f"{path} must hold exactly 32 bytes; delete it to generate a new one")
    return key


def encrypt(aead: AESGCM, plaintext: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + aead.encrypt(nonce, plaintext, None)


def decrypt(aead: AESGCM, sealed: bytes) -> bytes:
    return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], None)


def seal(master: MasterKey, plaintext: bytes) -> tuple[bytes, bytes]:
    """Encrypt under a new data key: (ciphertext, encrypted data key)."""
    data_key, data_key_enc = master.new_data_key()
    return encrypt(AESGCM(data_key), plaintext), data_key_enc


def unseal(master: MasterKey, ciphertext: bytes, data_key_enc: bytes) -> bytes:
    return decrypt(AESGCM(master.decrypt_data_key(data_key_enc)), ciphertext)


def seal_blob(master: MasterKey, plaintext: bytes) -> bytes:
    """Seal into one value (for a single column): data key length, data key, ciphertext."""
    ciphertext, data_key_enc = seal(master, plaintext)
    return len(data_key_enc).to_bytes(2, "big") + data_key_enc + ciphertext


def unseal_blob(master: MasterKey, blob: bytes) -> bytes:
    size = int.from_bytes(blob[:2], "big")
    return unseal(master, blob[2 + size:], blob[2:2 + size])
