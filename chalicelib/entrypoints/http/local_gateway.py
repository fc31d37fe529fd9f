"""`chalice local` routing greedy path variables (`/{proxy+}`) as API Gateway does.

API Gateway sends a request no other resource matches to a resource ending in a greedy
variable, whatever the number of segments left. Chalice's local gateway (1.34; greedy
support is aws/chalice#2012, unmerged) matches `{proxy+}` as one segment only and answers
anything deeper with its own 403 `Missing Authentication Token`. `chalice local`, the
tests' `chalice.test.Client` and every server built on `chalice.local.LocalGateway`
build their route matcher from `chalice.local.RouteMatcher` per request, so
``install`` swaps in one that knows greedy variables. Lambda bundles only Chalice's
runtime (no `chalice.local`): there API Gateway routes and nothing is installed.
"""

from __future__ import annotations

import importlib
import re
from typing import Any
from urllib.parse import parse_qs, urlparse

# A route's last segment naming a greedy variable, e.g. `/{proxy+}` -> "proxy".
GREEDY = re.compile(r"/\{(\w+)\+\}$")


def install() -> None:
    """Route greedy variables in this process's local gateway (a no-op in Lambda)."""
    try:
        local: Any = importlib.import_module("chalice.local")
    except ImportError:
        return
    if getattr(local.RouteMatcher, "greedy", False):
        return
    local.RouteMatcher = greedy_matcher(local.RouteMatcher, local.MatchResult)


def greedy_matcher(base: type[Any], match_result: type[Any]) -> type[Any]:
    """``base`` (Chalice's RouteMatcher), falling back to the greedy route with the
    longest prefix of the path when no other route matches, as API Gateway does."""

    class GreedyRouteMatcher(base):  # type: ignore[misc]
        greedy = True

        def match_route(self, url: str) -> Any:
            try:
                found = super().match_route(url)
            except ValueError:
                found = None
            if found is not None and not GREEDY.search(found.route):
                return found
            parsed = urlparse(url)
            path = parsed.path.rstrip("/") or "/"
            candidates = [(route, m) for route in self.route_urls
                          if (m := GREEDY.search(route)) is not None
                          and path.startswith(route[:m.start()] + "/")
                          and len(path) > m.start() + 1]
            if not candidates:
                raise ValueError(f"No matching route found for: {url}")
            route, matched = max(candidates, key=lambda pair: pair[1].start())
            return match_result(route, {matched.group(1): path[matched.start() + 1:]},
                                parse_qs(parsed.query, keep_blank_values=True))

    return GreedyRouteMatcher
