"""What a dashboard is made of, before it is Grafana JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PanelKind = Literal["timeseries", "stat"]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    # A Grafana unit id: ops (per second), s, bytes, short, percentunit, none, dtdurations.
    unit: str = "short"
    kind: PanelKind = "timeseries"
    width: int = 12


@dataclass(frozen=True)
class Dashboard:
    uid: str
    # The file under iac/observability/dashboards: <name>.json.
    name: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    # Whether the dashboard offers the market variable (its panels filter on $market).
    by_market: bool = False


def panel(title: str, description: str, *queries: Query | str, unit: str = "short",
          kind: PanelKind = "timeseries", width: int = 12) -> Panel:
    """A panel; a bare string is a query without a legend."""
    built = tuple(q if isinstance(q, Query) else Query(q) for q in queries)
    return Panel(title, description, built, unit, kind, width)


def stat(title: str, description: str, *queries: Query | str, unit: str = "short") -> Panel:
    return panel(title, description, *queries, unit=unit, kind="stat", width=6)
