"""Login lockouts through the API: an IP that guesses is locked out, not its victim."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.local import LambdaEventConverter
from chalice.test import Client

from tests.e2e.conftest import PASSWORD, Caller, post_json

ATTACKER, VICTIM_HOME = "203.0.113.66", "198.51.100.20"


def login_from(client: Client, monkeypatch: pytest.MonkeyPatch, ip: str, email: str,
               password: str) -> Any:
    """A login as API Gateway would pass it on from `ip` (its identity.sourceIp)."""
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", ip)
    return post_json(client, "/v1/auth/login", {"email": email, "password": password})


def assert_locked_out(response: Any) -> None:
    assert response.status_code == 429, response.body
    assert response.json_body["code"] == -1003
    assert 0 < int(response.headers["Retry-After"]) <= 900


def test_guessing_at_an_email_locks_out_the_guessers_ip_not_the_victim(
    client: Client, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(5):
        wrong = login_from(client, monkeypatch, ATTACKER, alice.email, "wrong" * 3)
        assert wrong.status_code == 401

    assert_locked_out(login_from(client, monkeypatch, ATTACKER, alice.email, PASSWORD))
    victim = login_from(client, monkeypatch, VICTIM_HOME, alice.email, PASSWORD)
    assert victim.status_code == 200, victim.body


def test_an_ip_guessing_across_many_emails_is_locked_out(
    client: Client, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(20):
        wrong = login_from(client, monkeypatch, ATTACKER, f"user{n}@example.com", "wrong" * 3)
        assert wrong.status_code == 401

    assert_locked_out(login_from(client, monkeypatch, ATTACKER, alice.email, PASSWORD))
    assert login_from(client, monkeypatch, VICTIM_HOME, alice.email, PASSWORD).status_code == 200


def test_an_email_guessed_at_from_many_ips_is_locked_out_everywhere(
    client: Client, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(50):
        ip = f"192.0.2.{n // 5}"
        assert login_from(client, monkeypatch, ip, alice.email, "wrong" * 3).status_code == 401

    assert_locked_out(login_from(client, monkeypatch, VICTIM_HOME, alice.email, PASSWORD))


def test_successful_logins_do_not_lock_out_a_shared_ip(
    client: Client, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(25):
        ok = login_from(client, monkeypatch, VICTIM_HOME, alice.email, PASSWORD)
        assert ok.status_code == 200
