"""Signed requests' parameters, timestamps, signatures and allow-lists, refused as the
API refuses bad input: an ApiError with a 400 and Binance's code, never another error."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chalicelib.domain.errors import ApiError
from chalicelib.service_layer.api_keys import (
    SignedRequest,
    canonical_digest,
    canonical_signature,
    check_timestamp,
    signed_payloads,
    validate_allowlist,
)

NOW_MS = 1_700_000_000_000
SIGNATURE = "ab" * 32


def request(query: list[tuple[str, str]], body: str = "") -> SignedRequest:
    return SignedRequest(api_key="k", query_pairs=query, body=body, client_ip="127.0.0.1",
                         now_ms=NOW_MS)


def refusal(call: Callable[..., object], *args: object) -> tuple[int, int]:
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value.status, int(caught.value.code)


def test_query_and_body_parameters_with_distinct_names_are_read_together() -> None:
    signed = request([("symbol", "BTCUSDT")], "side=BUY&timestamp=1&signature=x")

    assert signed.params() == {"symbol": "BTCUSDT", "side": "BUY", "timestamp": "1",
                               "signature": "x"}


@pytest.mark.parametrize(("query", "body"), [
    ([("a", "1"), ("a", "1")], ""), ([], "a=1&a=2"), ([("a", "1")], "a=1"),
    ([("signature", SIGNATURE)], f"signature={SIGNATURE}"),
])
def test_a_name_sent_twice_is_refused(query: list[tuple[str, str]], body: str) -> None:
    assert refusal(request(query, body).params) == (400, -1101)


@pytest.mark.parametrize("body", ["345&timestamp=1", "a=1&&b=2", "a=1&", "&a=1", "=1", "a"])
def test_a_body_that_is_not_a_well_formed_form_is_refused(body: str) -> None:
    assert refusal(request([], body).params) == (400, -1102)


def test_a_nameless_query_parameter_is_refused() -> None:
    assert refusal(request([("", "1")]).params) == (400, -1102)


@pytest.mark.parametrize("params", [
    {"timestamp": "²"}, {"timestamp": "٣"}, {"timestamp": "1" * 20},
    {"timestamp": str(NOW_MS), "recvWindow": "²"}, {"timestamp": str(NOW_MS), "recvWindow": "-1"},
])
def test_time_parameters_other_than_ascii_digits_are_refused(params: dict[str, str]) -> None:
    assert refusal(check_timestamp, params, NOW_MS) == (400, -1100)


def test_a_timestamp_in_ascii_digits_within_the_window_passes() -> None:
    check_timestamp({"timestamp": str(NOW_MS - 4000), "recvWindow": "5000"}, NOW_MS)


def test_a_signature_has_one_spelling() -> None:
    assert canonical_signature(SIGNATURE.upper()) == SIGNATURE


@pytest.mark.parametrize("signature", ["", SIGNATURE[:63], SIGNATURE + "a", "g" * 64,
                                       "٣" * 64, SIGNATURE[:62] + "\n"])
def test_a_signature_other_than_64_hex_digits_is_refused(signature: str) -> None:
    assert refusal(canonical_signature, signature) == (400, -1102)


def test_a_query_signed_with_its_values_raw_or_encoded_is_recognised() -> None:
    payloads = signed_payloads(request([("idList", "1,2"), ("coin", "a b&c=d"),
                                        ("signature", SIGNATURE)]))

    assert set(payloads) == {"idList=1%2C2&coin=a+b%26c%3Dd", "idList=1%2C2&coin=a%20b%26c%3Dd",
                             "idList=1,2&coin=a%20b%26c%3Dd"}


def test_the_digest_ignores_order_and_the_signature_but_not_values() -> None:
    digest = canonical_digest({"a": "1", "b": "2", "signature": "x"})

    assert canonical_digest({"b": "2", "a": "1", "signature": "y"}) == digest
    assert canonical_digest({"a": "1", "b": "2c=3"}) != digest


@pytest.mark.parametrize("entry", ["0.0.0.0/0", "10.0.0.0/8", "192.168.0.0/23", "::/0",
                                   "2001:db8::/47", "::ffff:0:0/96", "::ffff:0:0/95"])
def test_networks_broader_than_the_minimum_prefix_are_refused(entry: str) -> None:
    assert refusal(validate_allowlist, [entry]) == (400, -1102)


def test_addresses_and_narrow_networks_are_kept() -> None:
    assert validate_allowlist(["192.0.2.7", "198.51.100.0/24", "2001:db8:5::/48"]) == [
        "192.0.2.7/32", "198.51.100.0/24", "2001:db8:5::/48"]
