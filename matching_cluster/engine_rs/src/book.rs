//! The book: price levels as intrusive queues over a slab of orders, the commands, the
//! queries and the snapshot. Each step mirrors `matching_cluster/engine` (same checks in
//! the same order, same events in the same order); the comments name the Python method.

use std::collections::BTreeMap;

use pyo3::exceptions::{
    PyAssertionError, PyOverflowError, PyTypeError, PyValueError,
};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};
use rustc_hash::FxHashMap;

use crate::py::*;

const NIL: u32 = u32::MAX;
// Why matching stopped (matching.py).
const STOP_BOOK: u8 = 0;
const STOP_STP: u8 = 1;
const STOP_QUOTE: u8 = 2;
// "No limit" for the base side of a MARKET order sized by quote amount.
const UNLIMITED: i128 = i128::MAX;
const FEE_RATE_SCALE: i128 = 1_000_000;

#[derive(Clone, Copy)]
struct Order {
    id: i64,
    user: i64,
    is_buy: bool,
    otype: u8,
    stp: u8,
    price: i64,
    qty: i64,
    remaining: i64,
    filled_quote: i128,
    arrival: u64,
    prev: u32,
    next: u32,
}

/// A stop order waiting for its stop price (snapshot.py `StopOrder`).
#[derive(Clone, Copy)]
struct Stop {
    id: i64,
    user: i64,
    is_buy: bool,
    otype: u8,
    stp: u8,
    tif: u8,
    price: i64,
    qty: i64,
    quote_qty: i128,
    spend_cap: i128,
    stop_price: i64,
}

impl Stop {
    /// It trades as a MARKET order once working (else as a LIMIT one).
    fn is_market(&self) -> bool {
        self.otype == STOP_LOSS || self.otype == TAKE_PROFIT
    }

    /// domain `stop_reached`: whether trades from `low` to `high` set it working.
    fn reached(&self, low: i128, high: i128) -> bool {
        let stop_loss = self.otype == STOP_LOSS || self.otype == STOP_LOSS_LIMIT;
        if stop_loss == self.is_buy {
            high >= self.stop_price as i128
        } else {
            low <= self.stop_price as i128
        }
    }
}

/// One price's queue: oldest at `head`.
#[derive(Clone, Copy)]
struct Level {
    head: u32,
    tail: u32,
    count: u32,
}

/// ceil(amount * rate / 1e6) without overflowing for any amount below 2^127.
fn ceil_fee(amount: i128, rate: i128) -> i128 {
    let whole = amount / FEE_RATE_SCALE;
    let part = amount % FEE_RATE_SCALE;
    whole * rate + (part * rate + FEE_RATE_SCALE - 1) / FEE_RATE_SCALE
}

fn reason(py: Python<'_>, c: &Ctx, name: &str) -> PyResult<PyObject> {
    c.reject_reason.getattr(py, name)
}

fn not_int(what: &str) -> PyErr {
    PyOverflowError::new_err(format!("{what}: the compiled book takes ints within int64"))
}

#[pyclass(unsendable, module = "matching_cluster_engine_rs")]
pub struct OrderBook {
    #[pyo3(get)]
    spec: PyObject,
    tick: i64,
    lot: i64,
    unit: i128,
    min_qty: i64,
    max_qty: i64,
    min_notional: i128,
    min_price_qty: i128,
    maker_ppm: i128,
    taker_ppm: i128,
    slab: Vec<Order>,
    free: Vec<u32>,
    ids: FxHashMap<i64, u32>,
    bids: BTreeMap<i64, Level>,
    asks: BTreeMap<i64, Level>,
    // Stop orders in arrival order, and where each is.
    stops: BTreeMap<u64, Stop>,
    stop_keys: FxHashMap<i64, u64>,
    // Trade prices since stops were last checked: none is (UNLIMITED, 0).
    low: i128,
    high: i128,
    follow_up: bool,
    // OCO legs: each leg's id to the other's; legs that traded, worked or ended.
    siblings: FxHashMap<i64, i64>,
    activated: Vec<i64>,
    // OTO lists in placing order: the working order's id and its pending PlaceOrders.
    pending: Vec<(i64, Vec<PyObject>)>,
    pending_of: FxHashMap<i64, i64>,
    last_price: i64,
    seq: i64,
    trade_id: i64,
    arrival: u64,
    out: Vec<PyObject>,
}

impl OrderBook {
    fn build(spec: &Bound<'_, PyAny>, next_seq: i64, next_trade_id: i64) -> PyResult<Self> {
        let py = spec.py();
        ctx(py)?;
        let field = |name: &str| -> PyResult<i128> { spec.getattr(name)?.extract::<i128>() };
        let small = |name: &str| -> PyResult<i64> { spec.getattr(name)?.extract::<i64>() };
        let unit = field("base_unit")?;
        let min_notional = field("min_notional")?;
        Ok(OrderBook {
            spec: spec.clone().unbind(),
            tick: small("tick_size")?,
            lot: small("lot_size")?,
            unit,
            min_qty: small("min_qty")?,
            max_qty: small("max_qty")?,
            min_notional,
            min_price_qty: (min_notional * unit).max(1),
            maker_ppm: field("maker_fee_ppm")?,
            taker_ppm: field("taker_fee_ppm")?,
            slab: Vec::new(),
            free: Vec::new(),
            ids: FxHashMap::default(),
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            stops: BTreeMap::new(),
            stop_keys: FxHashMap::default(),
            low: UNLIMITED,
            high: 0,
            follow_up: false,
            siblings: FxHashMap::default(),
            activated: Vec::new(),
            pending: Vec::new(),
            pending_of: FxHashMap::default(),
            last_price: 0,
            seq: next_seq,
            trade_id: next_trade_id,
            arrival: 0,
            out: Vec::new(),
        })
    }

    // ------------------------------------------------------------ book upkeep

    /// Put an order at the back of its level (state.py `_rest`).
    fn rest(&mut self, mut o: Order) {
        o.arrival = self.arrival;
        self.arrival += 1;
        o.next = NIL;
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slab.push(o);
                (self.slab.len() - 1) as u32
            }
        };
        let side = if o.is_buy { &mut self.bids } else { &mut self.asks };
        match side.get_mut(&o.price) {
            Some(level) => {
                o.prev = level.tail;
                self.slab[level.tail as usize].next = slot;
                level.tail = slot;
                level.count += 1;
            }
            None => {
                o.prev = NIL;
                side.insert(o.price, Level { head: slot, tail: slot, count: 1 });
            }
        }
        self.slab[slot as usize] = o;
        self.ids.insert(o.id, slot);
    }

    /// Take a resting order out of the book (state.py `_remove`); its fields as they were.
    fn remove(&mut self, slot: u32) -> Order {
        let o = self.slab[slot as usize];
        let side = if o.is_buy { &mut self.bids } else { &mut self.asks };
        let level = side.get_mut(&o.price).expect("a resting order's level exists");
        if o.prev != NIL {
            self.slab[o.prev as usize].next = o.next;
        } else {
            level.head = o.next;
        }
        if o.next != NIL {
            self.slab[o.next as usize].prev = o.prev;
        } else {
            level.tail = o.prev;
        }
        level.count -= 1;
        if level.count == 0 {
            side.remove(&o.price);
        }
        self.ids.remove(&o.id);
        self.free.push(slot);
        o
    }

    /// Open orders in arrival order (the Python book's `_orders` order).
    fn slots_in_arrival_order(&self, user: Option<i64>) -> Vec<u32> {
        let mut slots: Vec<u32> = self
            .ids
            .values()
            .copied()
            .filter(|s| user.map_or(true, |u| self.slab[*s as usize].user == u))
            .collect();
        slots.sort_unstable_by_key(|s| self.slab[*s as usize].arrival);
        slots
    }

    /// Whether an order of this id is open: resting or waiting for its stop price.
    fn is_open(&self, id: i64) -> bool {
        self.ids.contains_key(&id) || self.stop_keys.contains_key(&id)
    }

    fn add_stop(&mut self, stop: Stop) {
        let key = self.arrival;
        self.arrival += 1;
        self.stops.insert(key, stop);
        self.stop_keys.insert(stop.id, key);
    }

    fn take_stop(&mut self, id: i64) -> Option<Stop> {
        let key = self.stop_keys.remove(&id)?;
        self.stops.remove(&key)
    }

    fn best_opposite(&self, is_buy: bool) -> Option<i64> {
        if is_buy {
            self.asks.first_key_value().map(|(p, _)| *p)
        } else {
            self.bids.last_key_value().map(|(p, _)| *p)
        }
    }

    // ------------------------------------------------------------------- events

    fn next_seq(&mut self) -> i64 {
        let seq = self.seq;
        self.seq = seq + 1;
        seq
    }

    fn push(&mut self, py: Python<'_>, cls: &Py<PyType>, items: &[Item]) -> PyResult<()> {
        let event = new_event(py, cls, items)?;
        self.out.push(event);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn emit_accepted(
        &mut self, py: Python<'_>, c: &Ctx, id: i64, user: i64, is_buy: bool, otype: u8,
        tif: u8, price: i64, qty: i128, quote_qty: i128,
    ) -> PyResult<()> {
        let seq = self.next_seq();
        self.push(py, &c.accepted, &[
            int(seq), int(id), int(user), obj(&c.sides[!is_buy as usize]),
            obj(&c.otypes[otype as usize]), obj(&c.tifs[tif as usize]), int(price), wide(py, qty),
            wide(py, quote_qty),
        ])
    }

    #[allow(clippy::too_many_arguments)]
    fn emit_done(
        &mut self, py: Python<'_>, c: &Ctx, id: i64, user: i64, is_buy: bool, why: usize,
        filled: i128, filled_quote: i128, remaining: i128,
    ) -> PyResult<()> {
        let seq = self.next_seq();
        self.push(py, &c.order_done, &[
            int(seq), int(id), int(user), obj(&c.sides[!is_buy as usize]), obj(&c.done[why]),
            wide(py, filled), wide(py, filled_quote), wide(py, remaining),
        ])
    }

    /// state.py `_emit_done`: what `o` has not traded never will.
    fn emit_order_done(&mut self, py: Python<'_>, c: &Ctx, o: &Order, why: usize) -> PyResult<()> {
        self.emit_done(py, c, o.id, o.user, o.is_buy, why, (o.qty - o.remaining) as i128,
                       o.filled_quote, o.remaining as i128)
    }

    fn reject(
        &mut self, py: Python<'_>, c: &Ctx, kind: usize, order_id: &Bound<'_, PyAny>,
        user_id: &Bound<'_, PyAny>, why: PyObject,
    ) -> PyResult<()> {
        let seq = self.next_seq();
        let items = [int(seq), obj(&c.kinds[kind]), obj(&order_id.clone().unbind()),
                     obj(&user_id.clone().unbind()), why.into_ptr()];
        self.push(py, &c.rejected, &items)
    }

    // ---------------------------------------------------------------- validation

    /// The inline fast check of a limit price and quantity (book.py `_place`).
    fn fast_limit(&self, price: &Bound<'_, PyAny>, qty: &Bound<'_, PyAny>) -> Option<(i64, i64)> {
        let (p, q) = (exact_i64(price)?, exact_i64(qty)?);
        let ok = p.rem_euclid(self.tick) == 0 && q.rem_euclid(self.lot) == 0
            && self.min_qty <= q && q <= self.max_qty
            && (p as i128) * (q as i128) >= self.min_price_qty;
        ok.then_some((p, q))
    }

    /// Why a price/quantity pair failed the fast check (state.py `_limit_problem`).
    fn limit_reason(
        &self, py: Python<'_>, c: &Ctx, price: &Bound<'_, PyAny>, qty: &Bound<'_, PyAny>,
    ) -> PyResult<PyObject> {
        let why = c.limit_problem.call1(py, (self.spec.clone_ref(py), price, qty))?;
        if why.is_none(py) {
            return Err(PyAssertionError::new_err("unreachable: the fast check passed"));
        }
        // The Python book's fast check lets a notional above MAX_UNITS through (only
        // possible beyond int64): refuse loudly rather than differ.
        if why.bind(py).eq(reason(py, c, "NOTIONAL_TOO_LARGE")?)? {
            return Err(not_int("price/qty"));
        }
        Ok(why)
    }

    /// `_valid_enums`: side, tif and stp members; (is_buy, tif, stp) when they are.
    fn enums(c: &Ctx, f: &Fields, cmd: &Bound<'_, PyAny>) -> PyResult<Option<(bool, u8, u8)>> {
        let side = f.place[P_SIDE].read(cmd)?;
        let tif = f.place[P_TIF].read(cmd)?;
        let stp = f.place[P_STP].read(cmd)?;
        if !(side.get_type().is(&c.side_type) && tif.get_type().is(&c.tif_type)
             && stp.get_type().is(&c.stp_type)) {
            return Ok(None);
        }
        let is_buy = side.as_ptr() == c.sides[0].as_ptr();
        match (member_index(&tif, &c.tifs), member_index(&stp, &c.stps)) {
            (Some(t), Some(s)) => Ok(Some((is_buy, t, s))),
            _ => Ok(None),
        }
    }

    // ----------------------------------------------------------------- matching

    /// matching.py `_submit_limit`: accept (unless replacing), match, then rest or finish.
    fn submit_limit(
        &mut self, py: Python<'_>, c: &Ctx, mut o: Order, tif: u8, accept: bool,
    ) -> PyResult<()> {
        if accept {
            self.emit_accepted(py, c, o.id, o.user, o.is_buy, o.otype, tif, o.price,
                               o.qty as i128, 0)?;
        }
        let crosses = match self.best_opposite(o.is_buy) {
            Some(best) => if o.is_buy { best <= o.price } else { best >= o.price },
            None => false,
        };
        if crosses {
            if o.otype == LIMIT_MAKER {
                return self.emit_order_done(py, c, &o, REJECTED_POST_ONLY);
            }
            if tif == FOK && !self.fok_fillable(o.is_buy, o.price, o.qty, o.user, o.stp) {
                return self.emit_order_done(py, c, &o, EXPIRED_FOK);
            }
            let (left, filled_quote, stop) = self.match_taker(
                py, c, Some(o.price), o.id, o.user, o.is_buy, o.stp, o.qty as i128, -1)?;
            o.remaining = left as i64;
            o.filled_quote = filled_quote;
            if o.remaining == 0 {
                return self.emit_order_done(py, c, &o, FILLED);
            }
            if stop == STOP_STP {
                return self.emit_order_done(py, c, &o, EXPIRED_STP);
            }
        }
        if tif != GTC {
            return self.emit_order_done(py, c, &o, if tif == IOC { EXPIRED_IOC } else { EXPIRED_FOK });
        }
        self.rest(o);
        Ok(())
    }

    /// matching.py `_fok_fillable`: would matching fill `qty` completely?
    fn fok_fillable(&self, is_buy: bool, price: i64, qty: i64, user: i64, stp: u8) -> bool {
        let mut need = qty as i128;
        let levels: Box<dyn Iterator<Item = &Level>> = if is_buy {
            Box::new(self.asks.range(..=price).map(|(_, l)| l))
        } else {
            Box::new(self.bids.range(price..).rev().map(|(_, l)| l))
        };
        for level in levels {
            let mut cur = level.head;
            while cur != NIL {
                let m = &self.slab[cur as usize];
                cur = m.next;
                if m.user == user && stp != STP_NONE {
                    if stp == EXPIRE_MAKER {
                        continue;
                    }
                    return false;
                }
                need -= m.remaining as i128;
                if need <= 0 {
                    return true;
                }
            }
        }
        false
    }

    /// matching.py `_match`: trade the taker against the opposite side while prices cross
    /// `limit` (None: all). Returns (base left, quote traded, why it stopped).
    #[allow(clippy::too_many_arguments)]
    fn match_taker(
        &mut self, py: Python<'_>, c: &Ctx, limit: Option<i64>, taker_id: i64, taker_user: i64,
        taker_is_buy: bool, stp: u8, mut base_left: i128, quote_cap: i128,
    ) -> PyResult<(i128, i128, u8)> {
        let check_self = stp != STP_NONE;
        let capped = quote_cap >= 0;
        let mut filled_quote: i128 = 0;
        let mut stop = STOP_BOOK;
        let mut first_price = 0;
        let mut last_price = 0;
        loop {
            let best = if taker_is_buy {
                self.asks.first_key_value()
            } else {
                self.bids.last_key_value()
            };
            let Some((&price, &level)) = best else { break };
            if let Some(lim) = limit {
                if (taker_is_buy && price > lim) || (!taker_is_buy && price < lim) {
                    break;
                }
            }
            let mut level = level;
            let mut cur = level.head;
            while cur != NIL {
                let m = self.slab[cur as usize];
                let mrem = m.remaining as i128;
                if check_self && m.user == taker_user {
                    let seq = self.next_seq();
                    self.push(py, &c.prevented, &[
                        int(seq), int(taker_id), int(m.id), int(taker_user),
                        obj(&c.stps[stp as usize]), int(price), wide(py, mrem),
                    ])?;
                    if stp == EXPIRE_TAKER {
                        stop = STOP_STP;
                        break;
                    }
                    // EXPIRE_MAKER / EXPIRE_BOTH: the resting order goes.
                    if !self.siblings.is_empty() && self.siblings.contains_key(&m.id) {
                        self.activated.push(m.id);
                    }
                    self.emit_done(py, c, m.id, m.user, m.is_buy, EXPIRED_STP,
                                   m.qty as i128 - mrem, m.filled_quote, mrem)?;
                    cur = self.pop_head(&mut level, cur, m);
                    if stp == EXPIRE_BOTH {
                        stop = STOP_STP;
                        break;
                    }
                    continue;
                }
                let mut q = base_left.min(mrem);
                if capped {
                    let budget = (quote_cap - filled_quote)
                        .checked_mul(self.unit)
                        .ok_or_else(|| not_int("quote budget"))?;
                    let affordable = budget / price as i128 / self.lot as i128 * self.lot as i128;
                    if affordable < q {
                        q = affordable;
                        if q == 0 {
                            stop = STOP_QUOTE;
                            break;
                        }
                    }
                }
                let quote = price as i128 * q / self.unit;
                let (maker_fee, taker_fee) = if taker_is_buy {
                    (ceil_fee(quote, self.maker_ppm), ceil_fee(q, self.taker_ppm))
                } else {
                    (ceil_fee(q, self.maker_ppm), ceil_fee(quote, self.taker_ppm))
                };
                let seq = self.next_seq();
                let trade_id = self.trade_id;
                self.trade_id += 1;
                self.push(py, &c.trade, &[
                    int(seq), int(trade_id), int(m.id), int(m.user), int(taker_id),
                    int(taker_user), boolean(!taker_is_buy), int(price), wide(py, q),
                    wide(py, quote), wide(py, maker_fee), wide(py, taker_fee),
                ])?;
                if first_price == 0 {
                    first_price = price;
                }
                if !self.siblings.is_empty() && self.siblings.contains_key(&m.id) {
                    self.activated.push(m.id);
                }
                last_price = price;
                filled_quote += quote;
                base_left -= q;
                let maker_quote = m.filled_quote + quote;
                self.slab[cur as usize].filled_quote = maker_quote;
                if q == mrem {
                    self.emit_done(py, c, m.id, m.user, m.is_buy, FILLED, m.qty as i128,
                                   maker_quote, 0)?;
                    cur = self.pop_head(&mut level, cur, m);
                } else {
                    self.slab[cur as usize].remaining = (mrem - q) as i64;
                    if base_left != 0 {
                        stop = STOP_QUOTE; // the budget ran out part way through this maker
                    }
                    break;
                }
                if base_left == 0 {
                    break;
                }
            }
            let side = if taker_is_buy { &mut self.asks } else { &mut self.bids };
            if level.count == 0 {
                side.remove(&price);
            } else if let Some(kept) = side.get_mut(&price) {
                *kept = level;
            }
            if stop != STOP_BOOK || base_left == 0 {
                break;
            }
        }
        if last_price != 0 {
            self.last_price = last_price;
            if !self.stops.is_empty() {
                // Monotonic within a match: its first and last prices bound it.
                let (low, high) = (first_price.min(last_price) as i128,
                                   first_price.max(last_price) as i128);
                self.low = self.low.min(low);
                self.high = self.high.max(high);
                self.follow_up = true;
            }
        }
        if !self.activated.is_empty() {
            self.follow_up = true;
        }
        Ok((base_left, filled_quote, stop))
    }

    /// Drop the finished maker at the front of `level`; the next one's slot.
    fn pop_head(&mut self, level: &mut Level, slot: u32, m: Order) -> u32 {
        let next = m.next;
        level.head = next;
        level.count -= 1;
        if next != NIL {
            self.slab[next as usize].prev = NIL;
        } else {
            level.tail = NIL;
        }
        self.ids.remove(&m.id);
        self.free.push(slot);
        next
    }

    /// matching.py `_work_market`: match an accepted MARKET order, then finish it.
    #[allow(clippy::too_many_arguments)]
    fn work_market(
        &mut self, py: Python<'_>, c: &Ctx, id: i64, user: i64, is_buy: bool, stp: u8,
        qty: i128, quote_qty: i128, cap: i128,
    ) -> PyResult<()> {
        let (base, quote_cap) = if qty != 0 {
            (qty, if is_buy && cap != 0 { cap } else { -1 })
        } else {
            (if cap != 0 && !is_buy { cap } else { UNLIMITED }, quote_qty)
        };
        let (mut left, mut filled_quote, mut stop) = (base, 0, STOP_BOOK);
        if self.best_opposite(is_buy).is_some() {
            (left, filled_quote, stop) =
                self.match_taker(py, c, None, id, user, is_buy, stp, base, quote_cap)?;
        }
        let filled = base - left;
        let done = if qty != 0 {
            if left == 0 { FILLED } else if stop == STOP_STP { EXPIRED_STP } else { EXPIRED_IOC }
        } else if filled != 0 && (stop == STOP_QUOTE || filled_quote == quote_qty) {
            FILLED
        } else if stop == STOP_STP {
            EXPIRED_STP
        } else {
            EXPIRED_IOC
        };
        self.emit_done(py, c, id, user, is_buy, done, filled, filled_quote,
                       if qty != 0 { left } else { 0 })
    }

    // ------------------------------------------------------------------ commands

    fn dispatch(&mut self, py: Python<'_>, c: &Ctx, cmd: &Bound<'_, PyAny>) -> PyResult<()> {
        let t = cmd.get_type_ptr();
        let f = fields(py)?;
        if t == c.replace.as_ptr() as *mut pyo3::ffi::PyTypeObject {
            self.cancel_replace(py, c, f, cmd)
        } else if t == c.place.as_ptr() as *mut pyo3::ffi::PyTypeObject {
            self.place(py, c, f, cmd)
        } else if t == c.cancel.as_ptr() as *mut pyo3::ffi::PyTypeObject {
            self.cancel(py, c, f, cmd)
        } else {
            self.dispatch_rare(py, c, cmd)
        }
    }

    fn dispatch_rare(&mut self, py: Python<'_>, c: &Ctx, cmd: &Bound<'_, PyAny>) -> PyResult<()> {
        let t = cmd.get_type();
        if t.is(&c.amend) {
            self.amend(py, c, cmd)
        } else if t.is(&c.cancel_all) {
            self.cancel_all(py, c, cmd)
        } else if t.is(&c.oco) {
            self.place_oco(py, c, fields(py)?, cmd)
        } else if t.is(&c.oto) {
            self.place_oto(py, c, fields(py)?, cmd)
        } else {
            Err(PyTypeError::new_err(format!("not an engine command: {}", cmd.repr()?)))
        }
    }

    /// book.py `_place`.
    fn place(&mut self, py: Python<'_>, c: &Ctx, f: &Fields, cmd: &Bound<'_, PyAny>)
        -> PyResult<()> {
        let field = |i: usize| f.place[i].read(cmd);
        let otype_obj = field(P_ORDER_TYPE)?;
        let otype = member_index(&otype_obj, &c.otypes);
        if otype == Some(MARKET) {
            return self.place_market(py, c, f, cmd);
        }
        if otype.is_some_and(|t| t > MARKET) {
            return self.place_stop(py, c, f, cmd);
        }
        let price_obj = field(P_PRICE)?;
        let qty_obj = field(P_QTY)?;
        let id_obj = field(P_ORDER_ID)?;
        let user_obj = field(P_USER_ID)?;
        let why = match self.fast_limit(&price_obj, &qty_obj) {
            None => Some(self.limit_reason(py, c, &price_obj, &qty_obj)?),
            Some((price, qty)) => {
                let id = id_obj.extract::<i64>().ok();
                if id.is_some_and(|i| self.is_open(i)) {
                    Some(reason(py, c, "DUPLICATE_ORDER_ID")?)
                } else {
                    let enums = if otype == Some(LIMIT) || otype == Some(LIMIT_MAKER) {
                        let extras = field(P_QUOTE_QTY)?.is_truthy()?
                            || field(P_SPEND_CAP)?.is_truthy()?
                            || field(P_STOP_PRICE)?.is_truthy()?;
                        if extras { None } else { Self::enums(c, f, cmd)? }
                    } else {
                        None
                    };
                    match enums {
                        None => Some(reason(py, c, "INVALID_ORDER")?),
                        Some((is_buy, tif, stp)) => {
                            let otype = otype.unwrap_or(LIMIT);
                            let o = Order {
                                id: id.ok_or_else(|| not_int("order_id"))?,
                                user: user_obj.extract::<i64>().map_err(|_| not_int("user_id"))?,
                                is_buy, otype, stp, price, qty, remaining: qty, filled_quote: 0,
                                arrival: 0, prev: NIL, next: NIL,
                            };
                            return self.submit_limit(py, c, o, if otype == LIMIT { tif } else { GTC },
                                                     true);
                        }
                    }
                }
            }
        };
        match why {
            Some(why) => self.reject(py, c, PLACE, &id_obj, &user_obj, why),
            None => Ok(()),
        }
    }

    /// book.py `_place_market` with state.py `_market_problem` and market_rules.
    /// state.py `_market_problem`: what is wrong with a MARKET order (`stop_price`: the
    /// one it must carry, 0 for a plain one).
    fn market_problem(
        &self, py: Python<'_>, c: &Ctx, f: &Fields, cmd: &Bound<'_, PyAny>,
        stop_price: &Bound<'_, PyAny>,
    ) -> PyResult<Option<PyObject>> {
        let field = |i: usize| f.place[i].read(cmd);
        let id = field(P_ORDER_ID)?.extract::<i64>().ok();
        let sizes = [field(P_QTY)?, field(P_QUOTE_QTY)?, field(P_SPEND_CAP)?];
        let enums = Self::enums(c, f, cmd)?;
        let why: Option<&str> = if id.is_some_and(|i| self.is_open(i)) {
            Some("DUPLICATE_ORDER_ID")
        } else if enums.is_none() {
            Some("INVALID_ORDER")
        } else if sizes.iter().any(|v| {
            let exact = unsafe { pyo3::ffi::PyLong_CheckExact(v.as_ptr()) != 0 };
            !exact || v.lt(0i64).unwrap_or(true)
        }) {
            Some("INVALID_QUANTITY")
        } else if field(P_PRICE)?.is_truthy()?
            || field(P_STOP_PRICE)?.ne(stop_price)?
            || (sizes[0].is_truthy()? && sizes[1].is_truthy()?)
        {
            Some("INVALID_ORDER")
        } else if sizes.iter().any(|v| exact_i64(v).is_none()) {
            // Beyond int64: the domain rule says why; one it accepts is not supported.
            let why = c.market_problem.call1(py, (self.spec.clone_ref(py), &sizes[0], &sizes[1]))?;
            if why.is_none(py) {
                return Err(not_int("market size"));
            }
            return Ok(Some(why));
        } else {
            let qty = exact_i64(&sizes[0]).unwrap_or(0) as i128;
            let quote_qty = exact_i64(&sizes[1]).unwrap_or(0) as i128;
            if qty != 0 {
                if qty % self.lot as i128 != 0 {
                    Some("QTY_OFF_LOT")
                } else if qty < self.min_qty as i128 {
                    Some("QTY_TOO_SMALL")
                } else if qty > self.max_qty as i128 {
                    Some("QTY_TOO_LARGE")
                } else {
                    None
                }
            } else if quote_qty <= 0 {
                Some("INVALID_QUANTITY")
            } else if quote_qty < self.min_notional {
                Some("NOTIONAL_TOO_SMALL")
            } else {
                None
            }
        };
        why.map(|name| reason(py, c, name)).transpose()
    }

    /// book.py `_place_market`.
    fn place_market(&mut self, py: Python<'_>, c: &Ctx, f: &Fields, cmd: &Bound<'_, PyAny>)
        -> PyResult<()> {
        let field = |i: usize| f.place[i].read(cmd);
        let id_obj = field(P_ORDER_ID)?;
        let user_obj = field(P_USER_ID)?;
        let zero = 0i64.into_py(py).into_bound(py);
        if let Some(why) = self.market_problem(py, c, f, cmd, &zero)? {
            return self.reject(py, c, PLACE, &id_obj, &user_obj, why);
        }
        let sizes = [field(P_QTY)?, field(P_QUOTE_QTY)?, field(P_SPEND_CAP)?];
        let (is_buy, tif, stp) = Self::enums(c, f, cmd)?.expect("validated");
        let id = id_obj.extract::<i64>().map_err(|_| not_int("order_id"))?;
        let user = user_obj.extract::<i64>().map_err(|_| not_int("user_id"))?;
        let qty = sizes[0].extract::<i128>()?;
        let quote_qty = sizes[1].extract::<i128>()?;
        let cap = sizes[2].extract::<i128>()?;
        self.emit_accepted(py, c, id, user, is_buy, MARKET, tif, 0, qty, quote_qty)?;
        self.work_market(py, c, id, user, is_buy, stp, qty, quote_qty, cap)
    }

    /// stops.py `_place_stop`.
    fn place_stop(&mut self, py: Python<'_>, c: &Ctx, f: &Fields, cmd: &Bound<'_, PyAny>)
        -> PyResult<()> {
        if let Some(why) = self.stop_problem(py, c, f, cmd, true)? {
            let (id_obj, user_obj) = (f.place[P_ORDER_ID].read(cmd)?, f.place[P_USER_ID].read(cmd)?);
            return self.reject(py, c, PLACE, &id_obj, &user_obj, why);
        }
        self.accept_stop(py, c, f, cmd)
    }

    /// stops.py `_stop_problem`: as the order it stands for, then its stop price, then
    /// (`check_trigger`) whether the last trade price already reached it.
    fn stop_problem(
        &self, py: Python<'_>, c: &Ctx, f: &Fields, cmd: &Bound<'_, PyAny>, check_trigger: bool,
    ) -> PyResult<Option<PyObject>> {
        let field = |i: usize| f.place[i].read(cmd);
        let otype = member_index(&field(P_ORDER_TYPE)?, &c.otypes).unwrap_or(LIMIT);
        let stop_price = field(P_STOP_PRICE)?;
        let spec = self.spec.clone_ref(py);
        let mut why = if otype == STOP_LOSS || otype == TAKE_PROFIT {
            self.market_problem(py, c, f, cmd, &stop_price)?
        } else {
            let why = c.limit_problem.call1(py, (spec.clone_ref(py), field(P_PRICE)?, field(P_QTY)?))?;
            if !why.is_none(py) {
                Some(why)
            } else if field(P_ORDER_ID)?.extract::<i64>().is_ok_and(|i| self.is_open(i)) {
                Some(reason(py, c, "DUPLICATE_ORDER_ID")?)
            } else if field(P_QUOTE_QTY)?.is_truthy()? || field(P_SPEND_CAP)?.is_truthy()?
                || Self::enums(c, f, cmd)?.is_none()
            {
                Some(reason(py, c, "INVALID_ORDER")?)
            } else {
                None
            }
        };
        if why.is_none() {
            let problem = c.price_problem.call1(py, (spec, &stop_price))?;
            why = (!problem.is_none(py)).then_some(problem);
        }
        if why.is_none() && check_trigger && self.last_price != 0
            && self.stop_of(c, f, cmd)?.reached(self.last_price as i128, self.last_price as i128)
        {
            why = Some(reason(py, c, "WOULD_TRIGGER_IMMEDIATELY")?);
        }
        Ok(why)
    }

    /// stops.py `_stop_of`: the waiting form of a validated stop order.
    fn stop_of(&self, c: &Ctx, f: &Fields, cmd: &Bound<'_, PyAny>) -> PyResult<Stop> {
        let field = |i: usize| f.place[i].read(cmd);
        let (is_buy, tif, stp) = Self::enums(c, f, cmd)?.expect("validated");
        let otype = member_index(&field(P_ORDER_TYPE)?, &c.otypes).expect("validated");
        let small = |i: usize, what: &str| field(i)?.extract::<i64>().map_err(|_| not_int(what));
        let wide = |i: usize, what: &str| field(i)?.extract::<i128>().map_err(|_| not_int(what));
        let mut stop = Stop {
            id: small(P_ORDER_ID, "order_id")?, user: small(P_USER_ID, "user_id")?, is_buy,
            otype, stp, tif, price: small(P_PRICE, "price")?, qty: small(P_QTY, "qty")?,
            quote_qty: wide(P_QUOTE_QTY, "quote_qty")?, spend_cap: wide(P_SPEND_CAP, "spend_cap")?,
            stop_price: small(P_STOP_PRICE, "stop_price")?,
        };
        if stop.is_market() {
            stop.tif = GTC;
        }
        Ok(stop)
    }

    /// stops.py `_accept_stop`: accepted, it waits for its stop price.
    fn accept_stop(&mut self, py: Python<'_>, c: &Ctx, f: &Fields, cmd: &Bound<'_, PyAny>)
        -> PyResult<()> {
        let stop = self.stop_of(c, f, cmd)?;
        self.emit_accepted(py, c, stop.id, stop.user, stop.is_buy, stop.otype, stop.tif,
                           stop.price, stop.qty as i128, stop.quote_qty)?;
        self.add_stop(stop);
        Ok(())
    }

    /// stops.py `_amend_stop`: lower a waiting stop's quantity; it keeps its place.
    fn amend_stop(&mut self, py: Python<'_>, c: &Ctx, id: i64, new_obj: &Bound<'_, PyAny>)
        -> PyResult<()> {
        let key = self.stop_keys[&id];
        let stop = self.stops[&key];
        let listed = self.siblings.contains_key(&id);
        match exact_i64(new_obj).filter(|_| !listed) {
            Some(q) if 0 < q && q < stop.qty && q.rem_euclid(self.lot) == 0 => {
                if let Some(kept) = self.stops.get_mut(&key) {
                    kept.qty = q;
                }
                let seq = self.next_seq();
                self.push(py, &c.amended, &[
                    int(seq), int(stop.id), int(stop.user), obj(&c.sides[!stop.is_buy as usize]),
                    int(stop.price), int(stop.qty), int(q), int(q),
                ])
            }
            _ => {
                let why = if listed {
                    reason(py, c, "IN_ORDER_LIST")?
                } else {
                    let why = c.lot_problem.call1(py, (self.spec.clone_ref(py), new_obj))?;
                    if why.is_none(py) { reason(py, c, "AMEND_NOT_REDUCING")? } else { why }
                };
                let (id_obj, user_obj) = (stop.id.into_py(py), stop.user.into_py(py));
                self.reject(py, c, AMEND, id_obj.bind(py), user_obj.bind(py), why)
            }
        }
    }

    /// book.py `_follow_up_command`: what a command set off.
    fn follow_up_command(&mut self, py: Python<'_>, c: &Ctx) -> PyResult<()> {
        loop {
            if !self.activated.is_empty() {
                self.expire_siblings(py, c)?;
            }
            if self.high != 0 {
                self.trigger_stops(py, c)?;
            }
            if !(!self.pending.is_empty() && self.release_pending(py, c)?) {
                break;
            }
        }
        self.follow_up = false;
        Ok(())
    }

    /// order_lists.py `_unlink`: take an OCO leg's link out; the other leg's id.
    fn unlink(&mut self, leg: i64) -> Option<i64> {
        let sibling = self.siblings.remove(&leg)?;
        self.siblings.remove(&sibling);
        Some(sibling)
    }

    /// order_lists.py `_expire_siblings`.
    fn expire_siblings(&mut self, py: Python<'_>, c: &Ctx) -> PyResult<()> {
        for leg in std::mem::take(&mut self.activated) {
            if let Some(sibling) = self.unlink(leg) {
                self.end_leg(py, c, sibling, EXPIRED_IN_LIST)?;
            }
        }
        Ok(())
    }

    /// order_lists.py `_end_leg`: take an open order out and say why it is done.
    fn end_leg(&mut self, py: Python<'_>, c: &Ctx, id: i64, why: usize) -> PyResult<()> {
        if let Some(&slot) = self.ids.get(&id) {
            let o = self.remove(slot);
            return self.emit_order_done(py, c, &o, why);
        }
        let stop = self.take_stop(id).expect("an OCO leg is open");
        self.emit_done(py, c, stop.id, stop.user, stop.is_buy, why, 0, 0, stop.qty as i128)
    }

    /// order_lists.py `_release_pending`: place the pending orders of every OTO list whose
    /// working order filled, end those of lists whose working order ended otherwise.
    fn release_pending(&mut self, py: Python<'_>, c: &Ctx) -> PyResult<bool> {
        let f = fields(py)?;
        let ended: Vec<i64> = self.pending.iter().map(|(w, _)| *w)
            .filter(|w| !self.ids.contains_key(w)).collect();
        for working in &ended {
            let at = self.pending.iter().position(|(w, _)| w == working).expect("listed");
            let (_, orders) = self.pending.remove(at);
            for p in &orders {
                let id: i64 = f.place[P_ORDER_ID].read(p.bind(py))?.extract()?;
                self.pending_of.remove(&id);
            }
            let why = self.end_reason(py, c, *working)?;
            if why == FILLED {
                if orders.len() == 1 {
                    self.place(py, c, f, orders[0].bind(py))?;
                } else {
                    self.place_oco_legs(py, c, f, orders[0].bind(py), orders[1].bind(py))?;
                }
                continue;
            }
            let end = if why == CANCELED { CANCELED } else { EXPIRED_IN_LIST };
            for p in &orders {
                let p = p.bind(py);
                let seq = self.next_seq();
                let field = |i: usize| f.place[i].read(p).map(|v| v.unbind());
                self.push(py, &c.order_done, &[
                    int(seq), obj(&field(P_ORDER_ID)?), obj(&field(P_USER_ID)?),
                    obj(&field(P_SIDE)?), obj(&c.done[end]), int(0), int(0), obj(&field(P_QTY)?),
                ])?;
            }
        }
        Ok(!ended.is_empty())
    }

    /// order_lists.py `_end_reason`: why an order this command took off the book ended.
    fn end_reason(&self, py: Python<'_>, c: &Ctx, id: i64) -> PyResult<usize> {
        for event in self.out.iter().rev() {
            let event = event.bind(py);
            if event.get_type().is(&c.order_done)
                && event.get_item(1)?.extract::<i64>().is_ok_and(|i| i == id)
            {
                let why = event.get_item(4)?;
                return Ok(c.done.iter().position(|d| d.as_ptr() == why.as_ptr()).unwrap_or(FILLED));
            }
        }
        Err(PyAssertionError::new_err(format!("order {id} left the book without an OrderDone")))
    }

    /// A leg or pending order of a list: exactly a PlaceOrder (its fields are read from
    /// their slots).
    fn check_place(c: &Ctx, o: &Bound<'_, PyAny>) -> PyResult<()> {
        if o.get_type().is(&c.place) {
            Ok(())
        } else {
            Err(PyTypeError::new_err(format!("not a PlaceOrder in an order list: {}", o.repr()?)))
        }
    }

    /// book.py `_place_oco`.
    fn place_oco(&mut self, py: Python<'_>, c: &Ctx, f: &Fields, cmd: &Bound<'_, PyAny>)
        -> PyResult<()> {
        let above = cmd.getattr(intern!(py, "above"))?;
        let below = cmd.getattr(intern!(py, "below"))?;
        Self::check_place(c, &above)?;
        Self::check_place(c, &below)?;
        if let Some(why) = self.oco_problem(py, c, f, cmd, &above, &below)? {
            for leg in [&above, &below] {
                let (id_obj, user_obj) = (f.place[P_ORDER_ID].read(leg)?, f.place[P_USER_ID].read(leg)?);
                self.reject(py, c, PLACE, &id_obj, &user_obj, why.clone_ref(py))?;
            }
            return Ok(());
        }
        self.place_oco_accepted(py, c, f, &above, &below)
    }

    /// A pending OCO pair being placed: as `_place_oco` with `PlaceOco(above, below)`.
    fn place_oco_legs(
        &mut self, py: Python<'_>, c: &Ctx, f: &Fields, above: &Bound<'_, PyAny>,
        below: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let pair = c.oco.bind(py).call1((above, below))?;
        self.place_oco(py, c, f, &pair)
    }

    fn place_oco_accepted(
        &mut self, py: Python<'_>, c: &Ctx, f: &Fields, above: &Bound<'_, PyAny>,
        below: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        for leg in [above, below] {
            let otype = member_index(&f.place[P_ORDER_TYPE].read(leg)?, &c.otypes);
            if otype == Some(LIMIT_MAKER) {
                let (is_buy, _, stp) = Self::enums(c, f, leg)?.expect("validated");
                let small = |i: usize, what: &str| {
                    f.place[i].read(leg)?.extract::<i64>().map_err(|_| not_int(what))
                };
                let qty = small(P_QTY, "qty")?;
                let o = Order {
                    id: small(P_ORDER_ID, "order_id")?, user: small(P_USER_ID, "user_id")?,
                    is_buy, otype: LIMIT_MAKER, stp, price: small(P_PRICE, "price")?, qty,
                    remaining: qty, filled_quote: 0, arrival: 0, prev: NIL, next: NIL,
                };
                self.submit_limit(py, c, o, GTC, true)?;
            } else {
                self.accept_stop(py, c, f, leg)?;
            }
        }
        let a: i64 = f.place[P_ORDER_ID].read(above)?.extract()?;
        let b: i64 = f.place[P_ORDER_ID].read(below)?.extract()?;
        self.siblings.insert(a, b);
        self.siblings.insert(b, a);
        Ok(())
    }

    /// order_lists.py `_oco_problem`.
    fn oco_problem(
        &self, py: Python<'_>, c: &Ctx, f: &Fields, cmd: &Bound<'_, PyAny>,
        above: &Bound<'_, PyAny>, below: &Bound<'_, PyAny>,
    ) -> PyResult<Option<PyObject>> {
        let shape = c.oco_shape_problem.call1(py, (cmd,))?;
        let mut why = (!shape.is_none(py)).then_some(shape);
        for leg in [above, below] {
            if why.is_none() {
                why = self.leg_problem(py, c, f, leg)?;
            }
        }
        if why.is_none() {
            let prices = c.oco_prices_problem.call1(py, (cmd, self.last_price))?;
            why = (!prices.is_none(py)).then_some(prices);
        }
        if why.is_none() {
            for leg in [above, below] {
                let otype = member_index(&f.place[P_ORDER_TYPE].read(leg)?, &c.otypes);
                if otype == Some(LIMIT_MAKER) && self.crosses(c, f, leg)? {
                    return Ok(Some(reason(py, c, "WOULD_MATCH_IMMEDIATELY")?));
                }
            }
        }
        Ok(why)
    }

    /// order_lists.py `_leg_problem`.
    fn leg_problem(&self, py: Python<'_>, c: &Ctx, f: &Fields, leg: &Bound<'_, PyAny>)
        -> PyResult<Option<PyObject>> {
        let field = |i: usize| f.place[i].read(leg);
        if member_index(&field(P_ORDER_TYPE)?, &c.otypes) != Some(LIMIT_MAKER) {
            return self.stop_problem(py, c, f, leg, false);
        }
        let why = c.limit_problem.call1(py, (self.spec.clone_ref(py), field(P_PRICE)?, field(P_QTY)?))?;
        if !why.is_none(py) {
            return Ok(Some(why));
        }
        if field(P_ORDER_ID)?.extract::<i64>().is_ok_and(|i| self.is_open(i)) {
            return Ok(Some(reason(py, c, "DUPLICATE_ORDER_ID")?));
        }
        if field(P_QUOTE_QTY)?.is_truthy()? || field(P_SPEND_CAP)?.is_truthy()?
            || field(P_STOP_PRICE)?.is_truthy()? || Self::enums(c, f, leg)?.is_none()
        {
            return Ok(Some(reason(py, c, "INVALID_ORDER")?));
        }
        Ok(None)
    }

    /// order_lists.py `_resting_problem`: a LIMIT / LIMIT_MAKER order, as `_place` checks it.
    fn resting_problem(&self, py: Python<'_>, c: &Ctx, f: &Fields, o: &Bound<'_, PyAny>)
        -> PyResult<Option<PyObject>> {
        let field = |i: usize| f.place[i].read(o);
        let why = c.limit_problem.call1(py, (self.spec.clone_ref(py), field(P_PRICE)?, field(P_QTY)?))?;
        if !why.is_none(py) {
            return Ok(Some(why));
        }
        if field(P_QUOTE_QTY)?.is_truthy()? || field(P_SPEND_CAP)?.is_truthy()?
            || field(P_STOP_PRICE)?.is_truthy()? || Self::enums(c, f, o)?.is_none()
        {
            return Ok(Some(reason(py, c, "INVALID_ORDER")?));
        }
        Ok(None)
    }

    /// order_lists.py `_crosses`: would a limit order at the leg's price meet the book?
    fn crosses(&self, c: &Ctx, f: &Fields, leg: &Bound<'_, PyAny>) -> PyResult<bool> {
        let price = f.place[P_PRICE].read(leg)?;
        let is_buy = f.place[P_SIDE].read(leg)?.as_ptr() == c.sides[0].as_ptr();
        let best = if is_buy { self.best_ask() } else { self.best_bid() };
        match best {
            None => Ok(false),
            Some(best) if is_buy => price.ge(best),
            Some(best) => price.le(best),
        }
    }

    /// book.py `_place_oto`.
    fn place_oto(&mut self, py: Python<'_>, c: &Ctx, f: &Fields, cmd: &Bound<'_, PyAny>)
        -> PyResult<()> {
        let working = cmd.getattr(intern!(py, "working"))?;
        let pending = cmd.getattr(intern!(py, "pending"))?;
        Self::check_place(c, &working)?;
        let listed: Vec<Bound<'_, PyAny>> = pending.iter()?.collect::<PyResult<_>>()?;
        for p in &listed {
            Self::check_place(c, p)?;
        }
        if let Some(why) = self.oto_problem(py, c, f, &working, &pending, &listed)? {
            for o in std::iter::once(&working).chain(listed.iter()) {
                let (id_obj, user_obj) = (f.place[P_ORDER_ID].read(o)?, f.place[P_USER_ID].read(o)?);
                self.reject(py, c, PLACE, &id_obj, &user_obj, why.clone_ref(py))?;
            }
            return Ok(());
        }
        let working_id: i64 = f.place[P_ORDER_ID].read(&working)?.extract()
            .map_err(|_| not_int("order_id"))?;
        for p in &listed {
            let id: i64 = f.place[P_ORDER_ID].read(p)?.extract().map_err(|_| not_int("order_id"))?;
            self.pending_of.insert(id, working_id);
        }
        self.pending.push((working_id, listed.iter().map(|p| p.clone().unbind()).collect()));
        self.place(py, c, f, &working)
    }

    /// order_lists.py `_oto_problem`.
    fn oto_problem<'py>(
        &self, py: Python<'py>, c: &Ctx, f: &Fields, working: &Bound<'py, PyAny>,
        pending: &Bound<'py, PyAny>, listed: &[Bound<'py, PyAny>],
    ) -> PyResult<Option<PyObject>> {
        let field = |o: &Bound<'py, PyAny>, i: usize| f.place[i].read(o);
        let invalid = || reason(py, c, "INVALID_ORDER").map(Some);
        let mut ids = vec![field(working, P_ORDER_ID)?];
        for p in listed {
            ids.push(field(p, P_ORDER_ID)?);
        }
        let distinct = pyo3::types::PySet::new_bound(py, &ids)?.len() == ids.len();
        let user = field(working, P_USER_ID)?;
        let mut other_user = false;
        for p in listed {
            other_user = other_user || field(p, P_USER_ID)?.ne(&user)?;
        }
        let wtype = member_index(&field(working, P_ORDER_TYPE)?, &c.otypes);
        if !pending.get_type().is(&py.get_type_bound::<PyTuple>()) || !(1..=2).contains(&listed.len())
            || !distinct || other_user || !(wtype == Some(LIMIT) || wtype == Some(LIMIT_MAKER))
        {
            return invalid();
        }
        let open = |o: &Bound<'_, PyAny>| -> bool {
            o.extract::<i64>().is_ok_and(|i| self.is_open(i) || self.pending_of.contains_key(&i))
        };
        if ids.iter().any(open) {
            return Ok(Some(reason(py, c, "DUPLICATE_ORDER_ID")?));
        }
        let why = self.resting_problem(py, c, f, working)?;
        if listed.len() == 2 {
            if why.is_some() {
                return Ok(why);
            }
            let pair = c.oco.bind(py).call1((&listed[0], &listed[1]))?;
            let shape = c.oco_shape_problem.call1(py, (pair,))?;
            if !shape.is_none(py) {
                return Ok(Some(shape));
            }
            for leg in listed {
                if let Some(why) = self.leg_problem(py, c, f, leg)? {
                    return Ok(Some(why));
                }
            }
            return Ok(None);
        }
        let single = &listed[0];
        let stype = member_index(&field(single, P_ORDER_TYPE)?, &c.otypes);
        if why.is_some() {
            return Ok(why);
        }
        match stype {
            None => invalid(),
            Some(LIMIT) | Some(LIMIT_MAKER) => self.resting_problem(py, c, f, single),
            Some(MARKET) => {
                if field(single, P_QUOTE_QTY)?.is_truthy()? {
                    invalid()
                } else {
                    self.market_problem(py, c, f, single, &0i64.into_py(py).into_bound(py))
                }
            }
            Some(_) => self.stop_problem(py, c, f, single, false),
        }
    }

    /// stops.py `_trigger_stops`: set working, oldest first, every stop the prices traded
    /// since the last check reached, including those its predecessors' trades reach.
    fn trigger_stops(&mut self, py: Python<'_>, c: &Ctx) -> PyResult<()> {
        while !self.stops.is_empty() {
            let (low, high) = (self.low, self.high);
            let Some(fired) = self.stops.values().find(|s| s.reached(low, high)).copied() else {
                break;
            };
            self.take_stop(fired.id);
            let seq = self.next_seq();
            self.push(py, &c.triggered, &[
                int(seq), int(fired.id), int(fired.user), obj(&c.sides[!fired.is_buy as usize]),
                obj(&c.otypes[fired.otype as usize]), int(fired.stop_price), int(self.last_price),
            ])?;
            if self.siblings.contains_key(&fired.id) {
                self.activated.push(fired.id);
                self.expire_siblings(py, c)?;
            }
            if fired.is_market() {
                self.work_market(py, c, fired.id, fired.user, fired.is_buy, fired.stp,
                                 fired.qty as i128, fired.quote_qty, fired.spend_cap)?;
            } else {
                let o = Order {
                    id: fired.id, user: fired.user, is_buy: fired.is_buy, otype: fired.otype,
                    stp: fired.stp, price: fired.price, qty: fired.qty, remaining: fired.qty,
                    filled_quote: 0, arrival: 0, prev: NIL, next: NIL,
                };
                self.submit_limit(py, c, o, fired.tif, false)?;
            }
            if !self.activated.is_empty() {
                self.expire_siblings(py, c)?;
            }
        }
        self.low = UNLIMITED;
        self.high = 0;
        Ok(())
    }

    fn stop_tuple(&self, py: Python<'_>, c: &Ctx, s: &Stop) -> PyResult<PyObject> {
        new_event(py, &c.stop_order, &[
            int(s.id), int(s.user), obj(&c.sides[!s.is_buy as usize]),
            obj(&c.otypes[s.otype as usize]), obj(&c.stps[s.stp as usize]),
            obj(&c.tifs[s.tif as usize]), int(s.price), int(s.qty), wide(py, s.quote_qty),
            wide(py, s.spend_cap), int(s.stop_price),
        ])
    }

    /// The resting order `order_id` of `user_id` (None: unknown, or someone else's).
    fn own_slot(&self, order_id: &Bound<'_, PyAny>, user_id: &Bound<'_, PyAny>) -> Option<u32> {
        let id = order_id.extract::<i64>().ok()?;
        let user = user_id.extract::<i64>().ok()?;
        let slot = *self.ids.get(&id)?;
        (self.slab[slot as usize].user == user).then_some(slot)
    }

    /// The waiting stop order `order_id` of `user_id` (None: unknown, or someone else's).
    fn own_stop(&self, order_id: &Bound<'_, PyAny>, user_id: &Bound<'_, PyAny>) -> Option<i64> {
        let id = order_id.extract::<i64>().ok()?;
        let user = user_id.extract::<i64>().ok()?;
        let key = self.stop_keys.get(&id)?;
        (self.stops[key].user == user).then_some(id)
    }

    /// book.py `_cancel`.
    fn cancel(&mut self, py: Python<'_>, c: &Ctx, f: &Fields, cmd: &Bound<'_, PyAny>)
        -> PyResult<()> {
        let id_obj = f.cancel[0].read(cmd)?;
        let user_obj = f.cancel[1].read(cmd)?;
        self.cancel_order(py, c, &id_obj, &user_obj)
    }

    fn cancel_order(
        &mut self, py: Python<'_>, c: &Ctx, id_obj: &Bound<'_, PyAny>, user_obj: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let id = if let Some(slot) = self.own_slot(id_obj, user_obj) {
            let o = self.remove(slot);
            self.emit_order_done(py, c, &o, CANCELED)?;
            o.id
        } else if let Some(id) = self.own_stop(id_obj, user_obj) {
            let stop = self.take_stop(id).expect("the stop is open");
            self.emit_done(py, c, stop.id, stop.user, stop.is_buy, CANCELED, 0, 0,
                           stop.qty as i128)?;
            id
        } else {
            // A pending order of an OTO list: cancelling it cancels the working order.
            let working = id_obj.extract::<i64>().ok().and_then(|i| self.pending_of.get(&i).copied());
            if let Some(working) = working {
                let owner = self.slab[self.ids[&working] as usize].user;
                if user_obj.extract::<i64>().is_ok_and(|u| u == owner) {
                    let working_obj = working.into_py(py);
                    return self.cancel_order(py, c, working_obj.bind(py), user_obj);
                }
            }
            return self.reject(py, c, CANCEL, id_obj, user_obj, reason(py, c, "UNKNOWN_ORDER")?);
        };
        if !self.siblings.is_empty() {
            if let Some(sibling) = self.unlink(id) {
                self.end_leg(py, c, sibling, CANCELED)?;
            }
        }
        Ok(())
    }

    /// book.py `_cancel_all`: the user's orders oldest first; no events if none.
    fn cancel_all(&mut self, py: Python<'_>, c: &Ctx, cmd: &Bound<'_, PyAny>) -> PyResult<()> {
        let Ok(user) = cmd.getattr(intern!(py, "user_id"))?.extract::<i64>() else {
            return Ok(());
        };
        let user_obj = user.into_py(py).into_bound(py);
        let resting: Vec<i64> = self.slots_in_arrival_order(Some(user)).iter()
            .map(|s| self.slab[*s as usize].id).collect();
        for id in resting {
            if self.ids.contains_key(&id) {  // not cancelled already as a sibling
                self.cancel_order(py, c, &id.into_py(py).into_bound(py), &user_obj)?;
            }
        }
        let waiting: Vec<i64> =
            self.stops.values().filter(|s| s.user == user).map(|s| s.id).collect();
        for id in waiting {
            if self.stop_keys.contains_key(&id) {
                self.cancel_order(py, c, &id.into_py(py).into_bound(py), &user_obj)?;
            }
        }
        Ok(())
    }

    /// book.py `_amend` / `_amend_down`.
    fn amend(&mut self, py: Python<'_>, c: &Ctx, cmd: &Bound<'_, PyAny>) -> PyResult<()> {
        let id_obj = cmd.getattr(intern!(py, "order_id"))?;
        let user_obj = cmd.getattr(intern!(py, "user_id"))?;
        let new_obj = cmd.getattr(intern!(py, "new_qty"))?;
        let Some(slot) = self.own_slot(&id_obj, &user_obj) else {
            let resting = id_obj.extract::<i64>().is_ok_and(|i| self.ids.contains_key(&i));
            if !resting {
                if let Some(id) = self.own_stop(&id_obj, &user_obj) {
                    return self.amend_stop(py, c, id, &new_obj);
                }
            }
            return self.reject(py, c, AMEND, &id_obj, &user_obj, reason(py, c, "UNKNOWN_ORDER")?);
        };
        let o = self.slab[slot as usize];
        if self.siblings.contains_key(&o.id) || self.pending.iter().any(|(w, _)| *w == o.id) {
            return self.reject(py, c, AMEND, &id_obj, &user_obj, reason(py, c, "IN_ORDER_LIST")?);
        }
        let new_qty = match exact_i64(&new_obj) {
            Some(q) if 0 < q && q < o.qty && q.rem_euclid(self.lot) == 0 => q,
            _ => {
                let why = c.lot_problem.call1(py, (self.spec.clone_ref(py), &new_obj))?;
                let why = if why.is_none(py) { reason(py, c, "AMEND_NOT_REDUCING")? } else { why };
                return self.reject(py, c, AMEND, &id_obj, &user_obj, why);
            }
        };
        let old_qty = o.qty;
        let filled = old_qty - o.remaining;
        let seq = self.seq;
        let side = obj(&c.sides[!o.is_buy as usize]);
        if new_qty <= filled {
            // Nothing left to trade: the order is complete with what it already got.
            let mut o = self.remove(slot);
            o.qty = filled;
            o.remaining = 0;
            self.seq += 1;
            self.push(py, &c.amended, &[
                int(seq), int(o.id), int(o.user), side, int(o.price), int(old_qty), int(filled),
                int(0),
            ])?;
            return self.emit_order_done(py, c, &o, FILLED);
        }
        let kept = &mut self.slab[slot as usize];
        kept.qty = new_qty;
        kept.remaining -= old_qty - new_qty;
        let remaining = kept.remaining;
        self.seq += 1;
        self.push(py, &c.amended, &[
            int(seq), int(o.id), int(o.user), side, int(o.price), int(old_qty), int(new_qty),
            int(remaining),
        ])
    }

    /// book.py `_cancel_replace` / `_reject_replace`.
    fn cancel_replace(&mut self, py: Python<'_>, c: &Ctx, f: &Fields, cmd: &Bound<'_, PyAny>)
        -> PyResult<()> {
        let field = |i: usize| f.replace[i].read(cmd);
        let id_obj = field(R_ORDER_ID)?;
        let user_obj = field(R_USER_ID)?;
        let new_obj = field(R_NEW_ORDER_ID)?;
        let price_obj = field(R_PRICE)?;
        let qty_obj = field(R_QTY)?;
        let slot = self.own_slot(&id_obj, &user_obj);
        let new_id = new_obj.extract::<i64>().ok();
        let duplicate = new_id.is_some_and(|i| self.is_open(i));
        let fast = self.fast_limit(&price_obj, &qty_obj);
        let listed = slot.is_some_and(|s| {
            let id = self.slab[s as usize].id;
            (!self.siblings.is_empty() && self.siblings.contains_key(&id))
                || (!self.pending.is_empty() && self.pending.iter().any(|(w, _)| *w == id))
        });
        let (Some(slot), false, false, Some((price, qty))) = (slot, duplicate, listed, fast) else {
            let why = if slot.is_none() {
                reason(py, c, "UNKNOWN_ORDER")?
            } else if duplicate {
                reason(py, c, "DUPLICATE_ORDER_ID")?
            } else if listed {
                reason(py, c, "IN_ORDER_LIST")?
            } else {
                self.limit_reason(py, c, &price_obj, &qty_obj)?
            };
            return self.reject(py, c, CANCEL_REPLACE, &new_obj, &user_obj, why);
        };
        let new_id = new_id.ok_or_else(|| not_int("new_order_id"))?;
        let old = self.remove(slot);
        self.emit_order_done(py, c, &old, CANCELED)?;
        self.emit_accepted(py, c, new_id, old.user, old.is_buy, old.otype, GTC, price,
                           qty as i128, 0)?;
        let o = Order { id: new_id, price, qty, remaining: qty, filled_quote: 0, ..old };
        self.submit_limit(py, c, o, GTC, false)
    }

    fn resting(&self, py: Python<'_>, c: &Ctx, o: &Order) -> PyResult<PyObject> {
        let cls = c.resting_order.bind(py).downcast::<PyType>()?.clone().unbind();
        new_event(py, &cls, &[
            int(o.id), int(o.user), obj(&c.sides[!o.is_buy as usize]),
            obj(&c.otypes[o.otype as usize]), obj(&c.stps[o.stp as usize]), int(o.price),
            int(o.qty), int(o.remaining), wide(py, o.filled_quote),
        ])
    }

    fn side_depth(&self, is_buy: bool, limit: usize) -> Vec<(i64, i128)> {
        let total = |level: &Level| {
            let mut sum: i128 = 0;
            let mut cur = level.head;
            while cur != NIL {
                let o = &self.slab[cur as usize];
                sum += o.remaining as i128;
                cur = o.next;
            }
            sum
        };
        let take = if limit == 0 { usize::MAX } else { limit };
        if is_buy {
            self.bids.iter().rev().take(take).map(|(p, l)| (*p, total(l))).collect()
        } else {
            self.asks.iter().take(take).map(|(p, l)| (*p, total(l))).collect()
        }
    }
}

#[pymethods]
impl OrderBook {
    #[new]
    #[pyo3(signature = (spec, *, next_seq = 1, next_trade_id = 1))]
    fn new(spec: &Bound<'_, PyAny>, next_seq: i64, next_trade_id: i64) -> PyResult<Self> {
        Self::build(spec, next_seq, next_trade_id)
    }

    /// Apply one command; the events it caused, in sequence order.
    fn apply(&mut self, py: Python<'_>, cmd: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        let c = ctx(py)?;
        self.out.clear();
        let mut done = self.dispatch(py, c, cmd);
        if done.is_ok() && (self.follow_up || !self.pending.is_empty()) {
            done = self.follow_up_command(py, c);
        }
        let events = std::mem::take(&mut self.out);
        done?;
        into_list(py, events)
    }

    /// Apply commands in order; all their events, as `apply` would.
    fn apply_batch(&mut self, py: Python<'_>, cmds: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        let c = ctx(py)?;
        self.out.clear();
        for cmd in cmds.iter()? {
            let mut done = self.dispatch(py, c, &cmd?);
            if done.is_ok() && (self.follow_up || !self.pending.is_empty()) {
                done = self.follow_up_command(py, c);
            }
            if let Err(e) = done {
                self.out.clear();
                return Err(e);
            }
        }
        let events = std::mem::take(&mut self.out);
        into_list(py, events)
    }

    #[getter(next_seq)]
    fn get_next_seq(&self) -> i64 {
        self.seq
    }

    #[getter]
    fn next_trade_id(&self) -> i64 {
        self.trade_id
    }

    #[getter]
    fn last_price(&self) -> i64 {
        self.last_price
    }

    fn __len__(&self) -> usize {
        self.ids.len()
    }

    fn best_bid(&self) -> Option<i64> {
        self.bids.last_key_value().map(|(p, _)| *p)
    }

    fn best_ask(&self) -> Option<i64> {
        self.asks.first_key_value().map(|(p, _)| *p)
    }

    fn level_counts(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    #[pyo3(signature = (limit = 0))]
    fn depth(&self, limit: usize) -> (Vec<(i64, i128)>, Vec<(i64, i128)>) {
        (self.side_depth(true, limit), self.side_depth(false, limit))
    }

    fn order(&self, py: Python<'_>, order_id: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        let slot = order_id.extract::<i64>().ok().and_then(|i| self.ids.get(&i).copied());
        match slot {
            Some(s) => self.resting(py, ctx(py)?, &self.slab[s as usize]),
            None => Ok(py.None()),
        }
    }

    #[pyo3(signature = (user_id = None))]
    fn open_orders(&self, py: Python<'_>, user_id: Option<&Bound<'_, PyAny>>) -> PyResult<PyObject> {
        let c = ctx(py)?;
        let user = match user_id {
            None => None,
            Some(u) => match u.extract::<i64>() {
                Ok(u) => Some(u),
                Err(_) => return into_list(py, Vec::new()),
            },
        };
        let mut out = Vec::new();
        for s in self.slots_in_arrival_order(user) {
            out.push(self.resting(py, c, &self.slab[s as usize])?);
        }
        into_list(py, out)
    }

    fn level_orders(&self, py: Python<'_>, side: &Bound<'_, PyAny>, price: i64) -> PyResult<PyObject> {
        let c = ctx(py)?;
        let book = if side.as_ptr() == c.sides[0].as_ptr() { &self.bids } else { &self.asks };
        let mut out = Vec::new();
        if let Some(level) = book.get(&price) {
            let mut cur = level.head;
            while cur != NIL {
                let o = &self.slab[cur as usize];
                out.push(self.resting(py, c, o)?);
                cur = o.next;
            }
        }
        into_list(py, out)
    }

    #[pyo3(signature = (user_id = None))]
    fn stop_orders(&self, py: Python<'_>, user_id: Option<&Bound<'_, PyAny>>) -> PyResult<PyObject> {
        let c = ctx(py)?;
        let user = match user_id {
            None => None,
            Some(u) => match u.extract::<i64>() {
                Ok(u) => Some(u),
                Err(_) => return into_list(py, Vec::new()),
            },
        };
        let mut out = Vec::new();
        for s in self.stops.values().filter(|s| user.map_or(true, |u| s.user == u)) {
            out.push(self.stop_tuple(py, c, s)?);
        }
        into_list(py, out)
    }

    /// The (lower id, higher id) legs of every OCO list still linked, sorted.
    fn oco_pairs(&self) -> Vec<(i64, i64)> {
        let mut pairs: Vec<(i64, i64)> =
            self.siblings.iter().filter(|(a, b)| a < b).map(|(a, b)| (*a, *b)).collect();
        pairs.sort_unstable();
        pairs
    }

    /// Everything needed to rebuild this book exactly (a `BookSnapshot`).
    fn snapshot(&self, py: Python<'_>) -> PyResult<PyObject> {
        let c = ctx(py)?;
        let mut orders = Vec::new();
        for s in self.slots_in_arrival_order(None) {
            orders.push(self.resting(py, c, &self.slab[s as usize])?);
        }
        let orders = PyTuple::new_bound(py, orders);
        let mut stops = Vec::new();
        for s in self.stops.values() {
            stops.push(self.stop_tuple(py, c, s)?);
        }
        let stops = PyTuple::new_bound(py, stops);
        let pairs = PyTuple::new_bound(py, self.oco_pairs().into_iter().map(|p| -> PyObject { p.into_py(py) }));
        let f = fields(py)?;
        let mut pending = Vec::new();
        for (working, orders) in &self.pending {
            for p in orders {
                let p = p.bind(py);
                let mut args = vec![working.into_py(py)];
                for i in [P_ORDER_ID, P_USER_ID, P_SIDE, P_ORDER_TYPE, P_STP, P_TIF, P_PRICE, P_QTY,
                          P_QUOTE_QTY, P_SPEND_CAP, P_STOP_PRICE] {
                    args.push(f.place[i].read(p)?.unbind());
                }
                pending.push(c.pending_order.call1(py, PyTuple::new_bound(py, args))?);
            }
        }
        let pending = PyTuple::new_bound(py, pending);
        c.book_snapshot.call1(py, (
            self.spec.clone_ref(py), self.seq, self.trade_id, orders, stops,
            self.last_price, pairs, pending,
        ))
    }

    /// A book equivalent to the one `snapshot` was taken from.
    #[classmethod]
    fn restore(_cls: &Bound<'_, PyType>, snapshot: &Bound<'_, PyAny>) -> PyResult<Self> {
        let py = snapshot.py();
        let c = ctx(py)?;
        let mut book = Self::build(
            &snapshot.getattr("spec")?, snapshot.getattr("next_seq")?.extract()?,
            snapshot.getattr("next_trade_id")?.extract()?)?;
        for r in snapshot.getattr("orders")?.iter()? {
            let r = r?;
            let get = |name: &str| r.getattr(name);
            let (id, qty, remaining): (i64, i64, i64) =
                (get("order_id")?.extract()?, get("qty")?.extract()?, get("remaining")?.extract()?);
            if !(0 < remaining && remaining <= qty) || book.ids.contains_key(&id) {
                return Err(PyValueError::new_err(format!("inconsistent snapshot order {}", r.repr()?)));
            }
            let side = c.side_type.bind(py).call1((get("side")?,))?;
            let otype = c.otype_type.bind(py).call1((get("order_type")?,))?;
            let stp = c.stp_type.bind(py).call1((get("stp")?,))?;
            let otype = member_index(&otype, &c.otypes)
                .ok_or_else(|| PyValueError::new_err("resting order type"))?;
            book.rest(Order {
                id, user: get("user_id")?.extract()?, is_buy: side.as_ptr() == c.sides[0].as_ptr(),
                otype, stp: member_index(&stp, &c.stps).unwrap_or(STP_NONE),
                price: get("price")?.extract()?, qty, remaining,
                filled_quote: get("filled_quote")?.extract()?, arrival: 0, prev: NIL, next: NIL,
            });
        }
        if let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) {
            if bid >= ask {
                return Err(PyValueError::new_err("snapshot book is crossed"));
            }
        }
        book.last_price = snapshot.getattr("last_price")?.extract()?;
        for s in snapshot.getattr("stops")?.iter()? {
            let s = s?;
            let get = |name: &str| s.getattr(name);
            let id: i64 = get("order_id")?.extract()?;
            if book.is_open(id) {
                return Err(PyValueError::new_err(format!(
                    "inconsistent snapshot stop order {}", s.repr()?)));
            }
            let member = |cls: &Py<PyType>, name: &str, members: &[PyObject]| -> PyResult<u8> {
                let m = cls.bind(py).call1((get(name)?,))?;
                member_index(&m, members).ok_or_else(|| PyValueError::new_err(name.to_owned()))
            };
            let side = member(&c.side_type, "side", &c.sides)?;
            book.add_stop(Stop {
                id, user: get("user_id")?.extract()?, is_buy: side == 0,
                otype: member(&c.otype_type, "order_type", &c.otypes)?,
                stp: member(&c.stp_type, "stp", &c.stps)?,
                tif: member(&c.tif_type, "tif", &c.tifs)?,
                price: get("price")?.extract()?, qty: get("qty")?.extract()?,
                quote_qty: get("quote_qty")?.extract()?, spend_cap: get("spend_cap")?.extract()?,
                stop_price: get("stop_price")?.extract()?,
            });
        }
        for pair in snapshot.getattr("oco_pairs")?.iter()? {
            let (a, b): (i64, i64) = pair?.extract()?;
            if a == b || !book.is_open(a) || !book.is_open(b) || book.siblings.contains_key(&a)
                || book.siblings.contains_key(&b)
            {
                return Err(PyValueError::new_err(format!(
                    "inconsistent snapshot OCO legs ({a}, {b})")));
            }
            book.siblings.insert(a, b);
            book.siblings.insert(b, a);
        }
        for p in snapshot.getattr("pending")?.iter()? {
            let p = p?;
            let get = |name: &str| p.getattr(name);
            let working: i64 = get("working_id")?.extract()?;
            let id: i64 = get("order_id")?.extract()?;
            if !book.ids.contains_key(&working) || book.pending_of.contains_key(&id) {
                return Err(PyValueError::new_err(format!(
                    "inconsistent snapshot pending order {}", p.repr()?)));
            }
            let order = c.place.bind(py).call1((
                get("order_id")?, get("user_id")?, c.side_type.bind(py).call1((get("side")?,))?,
                c.otype_type.bind(py).call1((get("order_type")?,))?, get("price")?, get("qty")?,
                get("quote_qty")?, c.tif_type.bind(py).call1((get("tif")?,))?,
                c.stp_type.bind(py).call1((get("stp")?,))?, get("spend_cap")?,
                get("stop_price")?,
            ))?.unbind();
            match book.pending.iter_mut().find(|(w, _)| *w == working) {
                Some((_, orders)) => orders.push(order),
                None => book.pending.push((working, vec![order])),
            }
            book.pending_of.insert(id, working);
        }
        Ok(book)
    }

    /// sha256 hex of the canonical snapshot: equal hashes mean equal books.
    fn state_hash(&self, py: Python<'_>) -> PyResult<PyObject> {
        let c = ctx(py)?;
        let canonical = self.snapshot(py)?.call_method0(py, "canonical_bytes")?;
        c.sha256.call1(py, (canonical,))?.call_method0(py, "hexdigest")
    }

    fn __repr__(&self) -> String {
        format!("<compiled OrderBook: {} orders, next_seq {}>", self.ids.len(), self.seq)
    }
}
