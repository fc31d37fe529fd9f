"""The caller's IP behind the web app's CloudFront: the viewer's address only with the
edge's secret, and only when it parses; everything else keeps the source IP."""

from __future__ import annotations

import pytest

from chalicelib.domain.client_address import client_ip, from_the_edge, viewer_ip

CLOUDFRONT = "130.176.1.10"
SECRET = "Edge0123456789abcdefSecret"


@pytest.mark.parametrize(("address", "ip"), [
    ("198.51.100.7", "198.51.100.7"),
    ("198.51.100.7:46532", "198.51.100.7"),
    ("1.2.3.4:443", "1.2.3.4"),
    ("[::1]:443", "::1"),
    ("[2001:DB8:0:0::7]:46532", "2001:db8::7"),
    ("2001:db8::7", "2001:db8::7"),
    (" 203.0.113.9 ", "203.0.113.9"),
])
def test_an_ip_with_or_without_its_port_is_the_viewers(address: str, ip: str) -> None:
    assert viewer_ip(address) == ip


@pytest.mark.parametrize("address", [
    "", "garbage", "evil.example.com", "1.2.3.4:", "1.2.3.4:http", "1.2.3.4:65536",
    "1.2.3.4:٤٤٣", "1.2.3.4:443:1", "999.1.1.1", "[::1]", "[::1]443", "[1.2.3.4]:443",
    "::1]:443", "1.2.3.4, 5.6.7.8", "[::1]:443x",
])
def test_anything_else_is_no_address(address: str) -> None:
    assert viewer_ip(address) is None


def test_with_the_edges_secret_the_viewers_address_is_the_callers() -> None:
    assert client_ip(CLOUDFRONT, "198.51.100.7:46532", SECRET, SECRET) == "198.51.100.7"
    assert client_ip(CLOUDFRONT, "[2001:db8::7]:443", SECRET, SECRET) == "2001:db8::7"


@pytest.mark.parametrize("sent", [None, "", "wrong", SECRET[:-1], SECRET + "x",
                                  SECRET.lower(), f" {SECRET}", "Edge0123456789abcdefSecrét"])
def test_without_the_edges_secret_a_forged_address_is_ignored(sent: str | None) -> None:
    assert client_ip(CLOUDFRONT, "198.51.100.7:46532", sent, SECRET) == CLOUDFRONT


def test_without_a_configured_secret_nothing_is_from_the_edge() -> None:
    assert not from_the_edge("", "")
    assert not from_the_edge(None, "")
    assert client_ip("127.0.0.1", "198.51.100.7", "", "") == "127.0.0.1"


def test_a_garbled_or_missing_address_keeps_the_source_ip() -> None:
    assert client_ip(CLOUDFRONT, "garbage", SECRET, SECRET) == CLOUDFRONT
    assert client_ip(CLOUDFRONT, None, SECRET, SECRET) == CLOUDFRONT
