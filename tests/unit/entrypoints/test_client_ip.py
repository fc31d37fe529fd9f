"""The caller's IP as the API reads it from API Gateway's event: CloudFront's viewer
header counts only beside the edge's secret; a request straight to API Gateway keeps
its source IP whatever headers it forges."""

from __future__ import annotations

from typing import Any

from chalice.app import Request

from chalicelib.entrypoints.http.requests import (
    EDGE_SECRET_HEADER,
    VIEWER_IP_HEADER,
    request_client_ip,
)

CLOUDFRONT = "130.176.1.10"
SECRET = "Edge0123456789abcdefSecret"


def api_gateway_event(headers: dict[str, str], source_ip: str = CLOUDFRONT) -> Request:
    """A REST API proxy event, as API Gateway hands it to the Lambda."""
    event: dict[str, Any] = {
        "multiValueQueryStringParameters": None, "headers": headers, "pathParameters": None,
        "stageVariables": None, "body": None, "isBase64Encoded": False,
        "requestContext": {"httpMethod": "GET", "resourcePath": "/api/v3/account",
                           "identity": {"sourceIp": source_ip}}}
    return Request(event)


def test_through_cloudfront_the_viewers_ip_is_the_callers() -> None:
    request = api_gateway_event({"x-exchange-edge": SECRET,
                                 "x-exchange-viewer-ip": "198.51.100.7"})

    assert request_client_ip(request, SECRET) == "198.51.100.7"


def test_header_names_are_matched_whatever_their_case() -> None:
    request = api_gateway_event({EDGE_SECRET_HEADER.upper(): SECRET,
                                 VIEWER_IP_HEADER.upper(): "2001:db8::7"})

    assert request_client_ip(request, SECRET) == "2001:db8::7"


def test_straight_to_api_gateway_a_forged_viewer_ip_is_ignored() -> None:
    for headers in ({VIEWER_IP_HEADER: "198.51.100.7"},
                    {VIEWER_IP_HEADER: "198.51.100.7", EDGE_SECRET_HEADER: "guess"},
                    {VIEWER_IP_HEADER: "198.51.100.7", EDGE_SECRET_HEADER: ""}):
        request = api_gateway_event(headers, source_ip="203.0.113.50")

        assert request_client_ip(request, SECRET) == "203.0.113.50"


def test_locally_without_a_secret_the_source_ip_is_the_callers() -> None:
    request = api_gateway_event({VIEWER_IP_HEADER: "198.51.100.7", EDGE_SECRET_HEADER: ""},
                                source_ip="127.0.0.1")

    assert request_client_ip(request, "") == "127.0.0.1"


def test_a_garbled_viewer_ip_keeps_the_source_ip() -> None:
    request = api_gateway_event({EDGE_SECRET_HEADER: SECRET, VIEWER_IP_HEADER: "nonsense"})

    assert request_client_ip(request, SECRET) == CLOUDFRONT
