"""Whose address a request comes from, when CloudFront stands between the caller and the API.

Behind the web app's distribution API Gateway's source IP is CloudFront's, shared by
every viewer of one edge location. CloudFront sends the viewer's address in a header and
authenticates itself with a secret header it adds to every request to the API; anyone
can send either header straight to API Gateway, so the address is believed only with the
secret, compared in constant time. Anything else keeps the source IP.
"""

from __future__ import annotations

import hmac
import ipaddress


def client_ip(source_ip: str, viewer_address: str | None, edge_secret_sent: str | None,
              edge_secret: str) -> str:
    """The caller's IP: the viewer's address when the edge's secret came with it and
    parses, otherwise the connection's source IP."""
    if viewer_address is None or not from_the_edge(edge_secret_sent, edge_secret):
        return source_ip
    return viewer_ip(viewer_address) or source_ip


def from_the_edge(edge_secret_sent: str | None, edge_secret: str) -> bool:
    """Whether the request carries the edge's secret. Without a configured secret (locally,
    or before the keys stack has one) nothing is from the edge."""
    if not edge_secret or edge_secret_sent is None:
        return False
    return hmac.compare_digest(edge_secret_sent.encode("utf-8", "replace"),
                               edge_secret.encode("utf-8", "replace"))


def viewer_ip(address: str) -> str | None:
    """The IP of an address written as an IP ("198.51.100.7", "2001:db8::7"), IPv4 with
    a port ("198.51.100.7:443") or bracketed IPv6 with a port ("[2001:db8::7]:443");
    None for anything else."""
    text = address.strip()
    if text.startswith("["):
        host, bracket, port = text[1:].partition("]:")
        return canonical(host, version=6) if bracket and is_port(port) else None
    host, colon, port = text.partition(":")
    if colon and ":" not in port:
        return canonical(host, version=4) if is_port(port) else None
    return canonical(text)


def canonical(host: str, version: int | None = None) -> str | None:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    return str(ip) if version in (None, ip.version) else None


def is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and int(text) <= 65535
