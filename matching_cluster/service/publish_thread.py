"""The publishing thread: committed batches' updates sent in commit order, off the
matcher's loop, each once the durability barrier (if any) has confirmed its batch."""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.domain.stream_events import TimeMarkEvent

from .durability import DurabilityBarrier, Offsets
from .publishing import MarketUpdate, Publisher, Queued

log = logging.getLogger(__name__)

# At most this many market updates go out in one send when batches queue up.
MAX_SEND = 256
# How long the delivery thread waits for the broker's reports in one go.
DELIVERY_POLL_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class Committed:
    """What one commit leaves to publish, and where the commit stands in its partitions
    (time marks: none)."""

    updates: list[Queued]
    offsets: Offsets = ()


class PublishThread:
    """Sends committed batches' updates from a thread of its own, in commit order.

    The matcher's loop only copies what it must out of its books (``market_updates``)
    and goes back to consuming; the Redis round trip and the event encoding overlap the
    next batch. With a ``durability`` barrier, whatever is sent waits for it (see
    ``durability``); a batch it does not confirm is not sent. A second thread handles the
    broker's delivery reports as they come (failures, publish lag). ``close`` sends what
    is queued before returning.
    """

    def __init__(self, publisher: Publisher, durability: DurabilityBarrier | None = None,
                 max_pending: int = 1000) -> None:
        self._publisher = publisher
        self._durability = durability
        self._queue: queue.Queue[Committed | None] = queue.Queue(max_pending)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._thread.start()
        self._deliveries = threading.Thread(target=self._serve_deliveries,
                                            name="deliveries", daemon=True)
        self._deliveries.start()

    def publish(self, updates: Sequence[Queued], offsets: Offsets) -> None:
        """A batch's ``settled_updates``, queued once it has committed: the publish lag
        runs from now."""
        if updates:
            committed_at = time.monotonic()
            self._queue.put(Committed([
                dataclasses.replace(u, committed_at=committed_at)
                if isinstance(u, MarketUpdate) else u for u in updates], offsets))

    def publish_marks(self, marks: list[TimeMarkEvent]) -> None:
        self._queue.put(Committed([*marks]))

    def close(self, timeout: float) -> None:
        self._queue.put(None)
        self._thread.join(timeout)
        # Also ends a barrier still waiting for the database.
        self._closed.set()
        self._deliveries.join(timeout)
        self._publisher.flush(timeout)
        if self._durability is not None and not self._thread.is_alive():
            self._durability.close()

    def _serve_deliveries(self) -> None:
        while not self._closed.is_set():
            self._publisher.serve_deliveries(DELIVERY_POLL_SECONDS)

    def _run(self) -> None:
        closing = False
        while not closing:
            first = self._queue.get()
            if first is None:
                break
            # Whatever queued up meanwhile goes out together (Redis once per market).
            batches, count = [first], len(first.updates)
            while not self._queue.empty() and count < MAX_SEND:
                more = self._queue.get_nowait()
                if more is None:
                    closing = True
                    break
                batches.append(more)
                count += len(more.updates)
            try:
                self._publisher.send([u for b in self._confirmed(batches) for u in b.updates])
            except Exception:  # never let one bad batch stop every later update
                log.exception("publishing a batch failed")

    def _confirmed(self, batches: list[Committed]) -> list[Committed]:
        if self._durability is None:
            return batches
        kept = self._durability.confirm([b.offsets for b in batches], self._closed)
        return [batch for batch, keep in zip(batches, kept, strict=True) if keep]
