"""Matching: a validated order against the opposite side, price-time priority.

The hot path (``_submit_limit`` -> ``_match`` -> ``_rest``) is kept flat, with locals
and module-level aliases; ``Matching`` is a part of ``OrderBook`` (a base class), so
calling these methods costs no more than before they moved here.
"""

from __future__ import annotations

from chalicelib.domain.orders import FEE_RATE_SCALE, SelfTradePrevention, Side, TimeInForce

from .events import Accepted, OrderDone, PreventedMatch, Trade
from .levels import (
    _BUY,
    _EXPIRE_BOTH,
    _EXPIRE_MAKER,
    _EXPIRE_TAKER,
    _EXPIRED_FOK,
    _EXPIRED_IOC,
    _EXPIRED_STP,
    _FILLED,
    _FOK,
    _GTC,
    _IOC,
    _LIMIT_MAKER,
    _REJECTED_POST_ONLY,
    _STP_NONE,
    _UNLIMITED,
    _BookSide,
    _new,
    _Order,
)
from .state import BookState

# Why matching stopped.
_STOP_BOOK = 0  # taker filled, or no crossing liquidity left
_STOP_STP = 1  # self-trade prevention expired the taker
_STOP_QUOTE = 2  # the quote budget cannot buy one more lot at the current price


class Matching(BookState):
    """Trading an incoming LIMIT / LIMIT_MAKER / MARKET order against the book."""

    def _submit_limit(self, o: _Order, tif: TimeInForce, *, accept: bool = True) -> None:
        """A validated LIMIT / LIMIT_MAKER order: accept (unless it was accepted before,
        as a stop order), match, then rest or finish."""
        if accept:
            seq = self._seq
            self._out.append(_new(Accepted, (seq, o.order_id, o.user_id, o.side, o.order_type,
                                             tif, o.price, o.qty, 0)))
            self._seq = seq + 1
        price = o.price
        if o.is_buy:
            opp = self._asks
            limit_key = -price
        else:
            opp = self._bids
            limit_key = price
        keys = opp.keys
        if keys and keys[-1] >= limit_key:  # crosses the opposite best price
            if o.order_type is _LIMIT_MAKER:
                self._emit_done(o, _REJECTED_POST_ONLY)
                return
            if tif is _FOK and not self._fok_fillable(opp, limit_key, o.qty, o.user_id, o.stp):
                self._emit_done(o, _EXPIRED_FOK)
                return
            o.remaining, o.filled_quote, stop = self._match(
                opp, limit_key, o.order_id, o.user_id, o.is_buy, o.stp, o.qty, -1)
            if not o.remaining:
                self._emit_done(o, _FILLED)
                return
            if stop == _STOP_STP:
                self._emit_done(o, _EXPIRED_STP)
                return
        if tif is not _GTC:
            self._emit_done(o, _EXPIRED_IOC if tif is _IOC else _EXPIRED_FOK)
            return
        self._rest(o)

    def _work_market(self, order_id: int, user_id: int, side: Side, stp: SelfTradePrevention,
                     qty: int, quote_qty: int, cap: int) -> None:
        """Match an accepted MARKET order as far as it goes, then finish it."""
        is_buy = side is _BUY
        if qty:  # by base quantity; a buy may be capped in quote
            base = qty
            quote_cap = cap if is_buy and cap else -1
        else:  # by quote amount; a sell may be capped in base
            base = cap if cap and not is_buy else _UNLIMITED
            quote_cap = quote_qty
        opp = self._asks if is_buy else self._bids
        left, filled_quote, stop = base, 0, _STOP_BOOK
        if opp.keys:
            left, filled_quote, stop = self._match(
                opp, opp.keys[0], order_id, user_id, is_buy, stp, base, quote_cap)
        filled = base - left
        if qty:
            done = _FILLED if not left else _EXPIRED_STP if stop == _STOP_STP else _EXPIRED_IOC
        elif filled and (stop == _STOP_QUOTE or filled_quote == quote_qty):
            done = _FILLED
        else:
            done = _EXPIRED_STP if stop == _STOP_STP else _EXPIRED_IOC
        self._emit_done_new(order_id, user_id, side, done, filled, filled_quote,
                            left if qty else 0)

    def _fok_fillable(
        self, opp: _BookSide, limit_key: int, qty: int, user_id: int, stp: SelfTradePrevention,
    ) -> bool:
        """Would matching fill ``qty`` completely? Mirrors ``_match``'s STP handling."""
        need = qty
        levels, sign = opp.levels, opp.sign
        for key in reversed(opp.keys):
            if key < limit_key:
                return False
            for o in levels[key * sign].values():
                if o.user_id == user_id and stp is not _STP_NONE:
                    if stp is _EXPIRE_MAKER:
                        continue  # that maker would expire; matching goes on behind it
                    return False  # the taker would expire first
                need -= o.remaining
                if need <= 0:
                    return True
        return False

    def _match(
        self, opp: _BookSide, limit_key: int, taker_id: int, taker_user: int, taker_is_buy: bool,
        stp: SelfTradePrevention, base_left: int, quote_cap: int,
    ) -> tuple[int, int, int]:
        """Trade the taker against ``opp`` while prices cross ``limit_key``.

        ``quote_cap`` < 0 means no quote budget. Returns (base left, quote traded, why
        it stopped). Kept as one flat loop with locals: it is the hot path.
        """
        out = self._out
        orders_by_id = self._orders
        levels, keys, sign = opp.levels, opp.keys, opp.sign
        unit, lot = self._unit, self._lot
        maker_ppm, taker_ppm = self._maker_ppm, self._taker_ppm
        seq, trade_id = self._seq, self._trade_id
        buyer_is_maker = not taker_is_buy
        check_self = stp is not _STP_NONE
        capped = quote_cap >= 0
        filled_quote = 0
        stop = _STOP_BOOK
        first_price = last_price = 0
        linked = self._siblings
        activated = self._activated
        while keys:
            key = keys[-1]
            if key < limit_key:
                break
            price = key * sign
            level = levels[price]
            gone: list[int] = []  # makers at the front of the queue that are done
            for maker in level.values():
                maker_id = maker.order_id
                maker_user = maker.user_id
                mrem = maker.remaining
                if check_self and maker_user == taker_user:
                    out.append(_new(PreventedMatch, (
                        seq, taker_id, maker_id, taker_user, stp, price, mrem)))
                    seq += 1
                    if stp is _EXPIRE_TAKER:
                        stop = _STOP_STP
                        break
                    # EXPIRE_MAKER / EXPIRE_BOTH: the resting order goes.
                    gone.append(maker_id)
                    if linked and maker_id in linked:
                        activated.append(maker_id)
                    out.append(_new(OrderDone, (
                        seq, maker_id, maker_user, maker.side, _EXPIRED_STP, maker.qty - mrem,
                        maker.filled_quote, mrem)))
                    seq += 1
                    if stp is _EXPIRE_BOTH:
                        stop = _STOP_STP
                        break
                    continue
                q = base_left if base_left < mrem else mrem
                if capped:
                    affordable = (quote_cap - filled_quote) * unit // price // lot * lot
                    if affordable < q:
                        q = affordable
                        if not q:
                            stop = _STOP_QUOTE
                            break
                quote = price * q // unit
                if taker_is_buy:
                    taker_fee = -(-q * taker_ppm // FEE_RATE_SCALE)
                    maker_fee = -(-quote * maker_ppm // FEE_RATE_SCALE)
                else:
                    taker_fee = -(-quote * taker_ppm // FEE_RATE_SCALE)
                    maker_fee = -(-q * maker_ppm // FEE_RATE_SCALE)
                out.append(_new(Trade, (
                    seq, trade_id, maker_id, maker_user, taker_id, taker_user, buyer_is_maker,
                    price, q, quote, maker_fee, taker_fee)))
                seq += 1
                trade_id += 1
                if not first_price:
                    first_price = price
                last_price = price
                if linked and maker_id in linked:
                    activated.append(maker_id)
                filled_quote += quote
                base_left -= q
                maker.filled_quote += quote
                if q == mrem:
                    gone.append(maker_id)
                    out.append(_new(OrderDone, (
                        seq, maker_id, maker_user, maker.side, _FILLED, maker.qty,
                        maker.filled_quote, 0)))
                    seq += 1
                else:
                    maker.remaining = mrem - q
                    if base_left:
                        stop = _STOP_QUOTE  # the budget ran out part way through this maker
                    break
                if not base_left:
                    break
            # Drop finished makers only now: a dict must not change size while iterated.
            if len(gone) == len(level):
                del levels[price]
                keys.pop()
            else:
                for maker_id in gone:
                    del level[maker_id]
            for maker_id in gone:
                del orders_by_id.pop(maker_id).own[maker_id]  # type: ignore[union-attr]
            if stop != _STOP_BOOK or not base_left:
                break
        self._seq = seq
        self._trade_id = trade_id
        if last_price:
            self._last_price = last_price
            if self._stops:
                self._note_traded(first_price, last_price)
        if activated:
            self._follow_up = True
        return base_left, filled_quote, stop

    def _note_traded(self, first_price: int, last_price: int) -> None:
        """Note one match's trade prices for the stops (monotonic within a match, so its
        first and last bound them)."""
        low, high = sorted((first_price, last_price))
        if low < self._low:
            self._low = low
        if high > self._high:
            self._high = high
        self._follow_up = True
