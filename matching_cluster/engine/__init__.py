"""Pure matching engine: one ``OrderBook`` per market, commands in, events out.

No I/O, no clock, no randomness; imports only the standard library and
``chalicelib.domain``. Adapters (Kafka consumer, settlement) live elsewhere.
"""

from .book import OrderBook
from .commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelReplace,
    Command,
    PlaceOco,
    PlaceOrder,
    PlaceOto,
)
from .events import (
    Accepted,
    Amended,
    Event,
    OrderDone,
    PreventedMatch,
    Rejected,
    Trade,
    Triggered,
    encode_events,
    event_to_tuple,
    stream_digest,
)
from .snapshot import BookSnapshot, PendingOrder, RestingOrder, StopOrder

__all__ = [
    "Accepted",
    "AmendOrder",
    "Amended",
    "BookSnapshot",
    "CancelAll",
    "CancelOrder",
    "CancelReplace",
    "Command",
    "Event",
    "OrderBook",
    "OrderDone",
    "PendingOrder",
    "PlaceOco",
    "PlaceOrder",
    "PlaceOto",
    "PreventedMatch",
    "Rejected",
    "RestingOrder",
    "StopOrder",
    "Trade",
    "Triggered",
    "encode_events",
    "event_to_tuple",
    "stream_digest",
]
