"""Kafka topics of a test session: named with the session's tag, deleted after use.

Every topic a test creates is named from ``topic_name`` (``test-<tag>-<hex>``, and
names derived from it by a suffix) or ``session_topic_name`` (``orders-e2e-<tag>-<hex>``),
so the topics one session created can be told from another's sharing the broker. Each
test's topics are deleted when it ends; at the end of the session any topic still
carrying the tag was left behind by a fixture or test that bypassed this, and fails
the session (after it is deleted), so the broker does not grow by a few partitions per
run (one that served the suite had kept thousands).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException

from chalicelib.adapters.kafka import make_admin

SESSION_TAG = uuid.uuid4().hex[:6]
TIMEOUT_SECONDS = 30


class SessionTopics:
    """Whether this session named any topic (only then is the broker checked at its end)."""

    used = False


def session_topic_name(prefix: str) -> str:
    """A fresh topic name of this session: ``<prefix>-<session tag>-<8 hex>``."""
    SessionTopics.used = True
    return f"{prefix}-{SESSION_TAG}-{uuid.uuid4().hex[:8]}"


def topics_starting_with(bootstrap: str, prefix: str) -> list[str]:
    admin = make_admin(bootstrap)
    return sorted(n for n in admin.list_topics(timeout=TIMEOUT_SECONDS).topics
                  if n.startswith(prefix))


def delete_topics(bootstrap: str, names: Iterable[str]) -> None:
    """Delete ``names`` and wait for the broker to confirm; one already gone is fine."""
    names = list(names)
    if not names:
        return
    admin = make_admin(bootstrap)
    for future in admin.delete_topics(names, operation_timeout=TIMEOUT_SECONDS).values():
        try:
            future.result(timeout=TIMEOUT_SECONDS)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise


def delete_topics_named(bootstrap: str, name: str) -> None:
    """Delete topic ``name`` and every topic named from it by a suffix
    (``<name>-market``...)."""
    delete_topics(bootstrap, topics_starting_with(bootstrap, name))


def left_behind(bootstrap: str) -> list[str]:
    """This session's topics still on the broker."""
    return [n for n in topics_starting_with(bootstrap, "")
            if f"-{SESSION_TAG}-" in n]
