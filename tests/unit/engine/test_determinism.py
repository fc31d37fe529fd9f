"""Determinism: same stream, same events; snapshot + restore mid-stream changes nothing."""

from __future__ import annotations

import json
import random

import pytest

from chalicelib.domain.orders import DoneReason, OrderType, SelfTradePrevention, Side, TimeInForce
from matching_cluster.engine import (
    AmendOrder,
    BookSnapshot,
    CancelAll,
    CancelOrder,
    CancelReplace,
    Command,
    OrderDone,
    PlaceOco,
    PlaceOrder,
    PlaceOto,
    PreventedMatch,
    Trade,
    Triggered,
    encode_events,
    stream_digest,
)

from .support import book_class, new_book

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("each_engine")]


def seeded_stream(seed: int, length: int) -> list[Command]:
    """A mixed command stream: every command type and order type (stops, OCO and OTO
    lists included), STP modes, some invalid input."""
    rng = random.Random(seed)
    users = range(1, 6)
    ids: list[tuple[int, int]] = []  # (order id, user) of every placed order
    cmds: list[Command] = []
    for n in range(1, length + 1):
        roll = rng.random()
        user = rng.choice(users)
        price = rng.randint(16, 24) * 5 if rng.random() > 0.02 else 101
        qty = rng.randint(1, 20) * 10 if rng.random() > 0.02 else 15
        if roll < 0.02 and ids:
            side = rng.choice(list(Side))
            near = rng.randint(18, 22) * 5
            gap = rng.randint(1, 3) * 5
            take = PlaceOrder(n, user, side, OrderType.LIMIT_MAKER, price=near + gap
                              if side is Side.SELL else near - gap, qty=qty)
            stop_type = OrderType.STOP_LOSS_LIMIT if rng.random() < 0.5 else OrderType.STOP_LOSS
            loss_at = near - gap if side is Side.SELL else near + gap
            loss = PlaceOrder(length + n, user, side, stop_type, qty=qty, stop_price=loss_at,
                              price=loss_at if stop_type is OrderType.STOP_LOSS_LIMIT else 0)
            above, below = (take, loss) if side is Side.SELL else (loss, take)
            cmds.append(PlaceOco(above, below))
            ids += [(n, user), (length + n, user)]
        elif roll < 0.035 and ids:  # an OTO: buy (or sell), then take profit 2 ticks away
            side = rng.choice(list(Side))
            then, gap = (Side.SELL, 10) if side is Side.BUY else (Side.BUY, -10)
            cmds.append(PlaceOto(PlaceOrder(n, user, side, price=price, qty=qty), (
                PlaceOrder(2 * length + n, user, then, OrderType.LIMIT_MAKER,
                           price=price + gap, qty=qty),)))
            ids += [(n, user), (2 * length + n, user)]
        elif roll < 0.05 and ids:
            stop_type = rng.choice([t for t in OrderType if t.is_conditional])
            stop_price = rng.randint(16, 24) * 5
            sizes = ({"price": price, "qty": qty} if stop_type.working_type is OrderType.LIMIT
                     else {"qty": qty})
            cmds.append(PlaceOrder(n, user, rng.choice(list(Side)), stop_type,
                                   stop_price=stop_price, **sizes))  # type: ignore[arg-type]
            ids.append((n, user))
        elif roll < 0.45 or not ids:
            tif = rng.choice([TimeInForce.GTC] * 6 + [TimeInForce.IOC, TimeInForce.FOK])
            order_type = OrderType.LIMIT_MAKER if rng.random() < 0.1 else OrderType.LIMIT
            cmds.append(PlaceOrder(n, user, rng.choice(list(Side)), order_type, price=price,
                                   qty=qty, tif=tif, stp=rng.choice(list(SelfTradePrevention))))
            ids.append((n, user))
        elif roll < 0.52:
            by_quote = rng.random() < 0.5
            cmds.append(PlaceOrder(n, user, rng.choice(list(Side)), OrderType.MARKET,
                                   qty=0 if by_quote else qty,
                                   quote_qty=rng.randint(50, 3_000) if by_quote else 0,
                                   stp=rng.choice(list(SelfTradePrevention))))
        elif roll < 0.62:
            order_id, owner = rng.choice(ids)
            cmds.append(CancelOrder(order_id, owner))
        elif roll < 0.64:
            cmds.append(CancelAll(user))
        elif roll < 0.72:
            order_id, owner = rng.choice(ids)
            cmds.append(AmendOrder(order_id, owner, rng.randint(1, 15) * 10))
        else:
            order_id, owner = rng.choice(ids)
            cmds.append(CancelReplace(order_id, owner, n, price, qty))
            ids.append((n, owner))
    return cmds


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_stream_twice_gives_identical_events(seed: int) -> None:
    stream = seeded_stream(seed, 4_000)
    first, second = new_book(), new_book()
    events_a = [e for cmd in stream for e in first.apply(cmd)]
    events_b = second.apply_batch(stream)
    assert encode_events(events_a) == encode_events(events_b)
    assert stream_digest(events_a) == stream_digest(events_b)
    assert first.state_hash() == second.state_hash()
    assert sum(isinstance(e, Trade) for e in events_a) > 200  # the stream really trades
    assert sum(isinstance(e, Triggered) for e in events_a) > 20  # and sets stops off
    assert sum(isinstance(e, PreventedMatch) for e in events_a) > 20  # and prevents some
    expired_legs = [e for e in events_a
                    if isinstance(e, OrderDone) and e.reason is DoneReason.EXPIRED_IN_LIST]
    assert len(expired_legs) > 5  # and OCO lists end
    assert [e.seq for e in events_a] == list(range(1, len(events_a) + 1))


@pytest.mark.parametrize("seed", [4, 5, 6, 7])
def test_snapshot_restore_mid_stream_gives_the_same_result(seed: int) -> None:
    stream = seeded_stream(seed, 3_000)
    cut = random.Random(seed).randrange(1, len(stream))
    whole = new_book()
    uninterrupted = whole.apply_batch(stream)

    first_half = new_book()
    events = first_half.apply_batch(stream[:cut])
    stored = json.dumps(first_half.snapshot().to_dict())  # as an adapter would persist it
    resumed = book_class().restore(BookSnapshot.from_dict(json.loads(stored)))
    events += resumed.apply_batch(stream[cut:])

    assert resumed.state_hash() == whole.state_hash()
    assert encode_events(events) == encode_events(uninterrupted)


def test_different_streams_give_different_hashes() -> None:
    a, b = new_book(), new_book()
    a.apply_batch(seeded_stream(1, 500))
    b.apply_batch(seeded_stream(2, 500))
    assert a.state_hash() != b.state_hash()
