"""PromQL building blocks for the dashboards' panels, so that every panel spells a rate,
a quantile or a market filter the same way.

Expressions use Grafana's variables: ``$__rate_interval`` (a window that holds at least
four scrapes whatever the zoom) and ``$market`` (a regex: the market variable allows
several values and "All" is ``.*``).
"""

from __future__ import annotations

RATE_WINDOW = "$__rate_interval"
MARKET = 'market=~"$market"'


def rate(selector: str) -> str:
    return f"rate({selector}[{RATE_WINDOW}])"


def per_second(selector: str, by: str = "") -> str:
    """Events per second summed over instances, optionally kept apart by labels."""
    grouping = f" by ({by}) " if by else ""
    return f"sum{grouping}({rate(selector)})"


def quantile(q: float, histogram: str, by: str = "", matchers: str = "") -> str:
    """The q-quantile of a histogram's observations over the rate window."""
    labels = f"{by}, le" if by else "le"
    selector = f"{histogram}_bucket{{{matchers}}}" if matchers else f"{histogram}_bucket"
    return f"histogram_quantile({q}, sum by ({labels}) ({rate(selector)}))"


def mean(histogram: str) -> str:
    """The mean observation over the rate window (NaN while nothing was observed)."""
    return f"sum({rate(histogram + '_sum')}) / sum({rate(histogram + '_count')})"


def zero_while(expr: str, alive: str) -> str:
    """`expr`, or 0 while `alive` has data.

    A labelled counter has no series until its first event (prometheus-client cannot
    know its label values before): a panel of failures would read "No data" on a healthy
    exchange, the same as one whose exporter is gone. With this it reads 0 while the
    exporter answers (`alive`) and "No data" only when nothing is scraped.
    """
    return f"{expr} or on() (0 * {alive})"


def of_processes_exporting(metric: str, selector: str) -> str:
    """`selector`'s series restricted to the scraped processes that export `metric`:
    the process_* metrics of one role, whatever the scrape job is called."""
    return f"{selector} and on(job, instance) {metric}"
