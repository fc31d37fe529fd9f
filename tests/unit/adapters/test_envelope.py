"""Envelope encryption of API secrets: KMS data keys in AWS (moto), a key file locally."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag
from moto import mock_aws

from chalicelib.adapters.envelope import (
    KmsMasterKey,
    LocalMasterKey,
    seal,
    seal_blob,
    unseal,
    unseal_blob,
)

SECRET = b"9f2c4e0d1b7a4c3e8f6a5b4c3d2e1f0a9f2c4e0d1b7a4c3e8f6a5b4c3d2e1f0a"


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("kms", region_name="eu-west-1")


def test_kms_sealed_secrets_round_trip_and_hide_the_plaintext(kms: Any) -> None:
    key_id = kms.create_key(Description="api secrets")["KeyMetadata"]["KeyId"]
    master = KmsMasterKey(kms, key_id)

    ciphertext, data_key_enc = seal(master, SECRET)

    assert SECRET not in ciphertext
    assert unseal(KmsMasterKey(kms, key_id), ciphertext, data_key_enc) == SECRET


def test_each_secret_gets_its_own_data_key(kms: Any) -> None:
    master = KmsMasterKey(kms, kms.create_key()["KeyMetadata"]["KeyId"])

    first, second = seal(master, SECRET), seal(master, SECRET)

    assert first[1] != second[1]
    assert first[0] != second[0]


def test_a_secret_sealed_under_another_kms_key_cannot_be_opened(kms: Any) -> None:
    ours = KmsMasterKey(kms, kms.create_key()["KeyMetadata"]["KeyId"])
    theirs = KmsMasterKey(kms, kms.create_key()["KeyMetadata"]["KeyId"])
    ciphertext, data_key_enc = seal(theirs, SECRET)

    with pytest.raises(ClientError):
        unseal(ours, ciphertext, data_key_enc)


def test_local_master_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "secrets" / "api.key"

    blob = seal_blob(LocalMasterKey(key_file), SECRET)

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert SECRET not in blob
    assert unseal_blob(LocalMasterKey(key_file), blob) == SECRET


def test_tampered_ciphertext_is_detected(tmp_path: Path) -> None:
    master = LocalMasterKey(tmp_path / "api.key")
    blob = bytearray(seal_blob(master, SECRET))
    blob[-1] ^= 1

    with pytest.raises(InvalidTag):
        unseal_blob(master, bytes(blob))
