"""Ending listenKeys' streams (with the subscriptions fake): a dead key's connections
get listenKeyExpired once and leave the user's channel unless another tag keeps them."""

from __future__ import annotations

import json

from chalicelib.service_layer.listen_key_expiry import end_dead_keys
from tests.support.fakes.subscriptions import FakeSubscriptions

USER = "user:7"


def test_a_dead_key_ends_its_streams_and_live_tags_stay() -> None:
    subs = FakeSubscriptions()
    for connection_id, tags in {"a": ["key:OLD"], "b": ["key:OLD", "sub:0"],
                                "c": ["key:NEW"], "d": ["sub:3"]}.items():
        subs.add(connection_id, [USER])
        for tag in tags:
            subs.tag(connection_id, USER, tag)

    live, notices = end_dead_keys(subs, USER, subs.tagged("abcd", USER), {"b"},
                                  lambda key: key == "NEW", 42)

    assert live == {"a": [], "b": ["sub:0"], "c": ["key:NEW"], "d": ["sub:3"]}
    assert {c: [json.loads(m) for m in sent] for c, sent in notices.items()} == {
        "a": [{"e": "listenKeyExpired", "E": 42, "listenKey": "OLD"}],
        "b": [{"stream": "OLD", "data": {"e": "listenKeyExpired", "E": 42,
                                         "listenKey": "OLD"}}]}
    assert subs.subscribers([USER]) == {USER: {"b", "c", "d"}}
    assert subs.tags_of("b") == {"sub:0": USER}
