"""An API key's IP allow-list names networks no broader than an IPv4 /24 or an IPv6
/48: an allow-list of the whole internet would defeat the one WITHDRAW requires."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Caller


@pytest.mark.parametrize("allowlist", [
    ["0.0.0.0/0"], ["::/0"], ["0.0.0.0/0", "::/0"], ["127.0.0.1", "10.0.0.0/8"],
    ["192.168.0.0/23"], ["2001:db8::/47"], ["::ffff:0.0.0.0/96"],
])
@pytest.mark.parametrize("permissions", [["WITHDRAW"], ["READ"]])
def test_a_network_broader_than_the_minimum_is_refused(
    alice: Caller, allowlist: list[str], permissions: list[str],
) -> None:
    response = alice.post("/v1/api-keys", {"permissions": permissions,
                                           "ipAllowlist": allowlist})

    assert response.status_code == 400, response.body
    assert response.json_body["code"] == -1102
    assert "ipAllowlist" in response.json_body["msg"]
    assert alice.get("/v1/api-keys").json_body["apiKeys"] == []


@pytest.mark.parametrize(("entry", "stored"), [
    ("203.0.113.0/24", "203.0.113.0/24"), ("127.0.0.1", "127.0.0.1/32"),
    ("2001:db8:1::/48", "2001:db8:1::/48"), ("::ffff:203.0.113.0/120", "::ffff:cb00:7100/120"),
])
def test_a_network_at_or_under_the_minimum_is_kept(
    alice: Caller, entry: str, stored: str,
) -> None:
    response = alice.post("/v1/api-keys", {"permissions": ["WITHDRAW"], "ipAllowlist": [entry]})

    assert response.status_code == 201, response.body
    assert response.json_body["ipAllowlist"] == [stored]
