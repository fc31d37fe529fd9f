//! The Python objects the book reads and writes: enum members, event and command classes,
//! the domain's rule functions (asked only for the reason of a refusal, as Python does).

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::PyType;

// Order types the book keeps, as indexes into `Ctx::otypes`.
pub const LIMIT: u8 = 0;
pub const LIMIT_MAKER: u8 = 1;
pub const MARKET: u8 = 2;
pub const STOP_LOSS: u8 = 3;
pub const STOP_LOSS_LIMIT: u8 = 4;
pub const TAKE_PROFIT: u8 = 5;
// Time in force.
pub const GTC: u8 = 0;
pub const IOC: u8 = 1;
pub const FOK: u8 = 2;
// Self-trade prevention.
pub const STP_NONE: u8 = 0;
pub const EXPIRE_TAKER: u8 = 1;
pub const EXPIRE_MAKER: u8 = 2;
pub const EXPIRE_BOTH: u8 = 3;
// DoneReason.
pub const FILLED: usize = 0;
pub const CANCELED: usize = 1;
pub const EXPIRED_IOC: usize = 2;
pub const EXPIRED_FOK: usize = 3;
pub const EXPIRED_STP: usize = 4;
pub const REJECTED_POST_ONLY: usize = 5;
pub const EXPIRED_IN_LIST: usize = 6;
// CommandKind.
pub const PLACE: usize = 0;
pub const CANCEL: usize = 1;
pub const AMEND: usize = 2;
pub const CANCEL_REPLACE: usize = 3;

const OTYPES: [&str; 7] = [
    "LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
];
const TIFS: [&str; 3] = ["GTC", "IOC", "FOK"];
const STPS: [&str; 4] = ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"];
const DONE: [&str; 7] = [
    "FILLED", "CANCELED", "EXPIRED_IOC", "EXPIRED_FOK", "EXPIRED_STP", "REJECTED_POST_ONLY",
    "EXPIRED_IN_LIST",
];
const KINDS: [&str; 4] = ["PLACE", "CANCEL", "AMEND", "CANCEL_REPLACE"];

pub struct Ctx {
    pub side_type: Py<PyType>,
    pub otype_type: Py<PyType>,
    pub tif_type: Py<PyType>,
    pub stp_type: Py<PyType>,
    pub reject_reason: PyObject,
    pub sides: [PyObject; 2], // BUY, SELL
    pub otypes: [PyObject; 7],
    pub tifs: [PyObject; 3],
    pub stps: [PyObject; 4],
    pub done: [PyObject; 7],
    pub kinds: [PyObject; 4],
    pub accepted: Py<PyType>,
    pub trade: Py<PyType>,
    pub order_done: Py<PyType>,
    pub amended: Py<PyType>,
    pub rejected: Py<PyType>,
    pub prevented: Py<PyType>,
    pub triggered: Py<PyType>,
    pub stop_order: Py<PyType>,
    pub place: Py<PyType>,
    pub cancel: Py<PyType>,
    pub cancel_all: Py<PyType>,
    pub amend: Py<PyType>,
    pub replace: Py<PyType>,
    pub oco: Py<PyType>,
    pub oto: Py<PyType>,
    pub limit_problem: PyObject,
    pub lot_problem: PyObject,
    pub market_problem: PyObject,
    pub price_problem: PyObject,
    pub oco_shape_problem: PyObject,
    pub oco_prices_problem: PyObject,
    pub pending_order: PyObject,
    pub resting_order: PyObject,
    pub book_snapshot: PyObject,
    pub sha256: PyObject,
}

static CTX: GILOnceCell<Ctx> = GILOnceCell::new();

/// Where a frozen slotted dataclass keeps one field: reading the slot directly costs a
/// load instead of an attribute lookup. Only used on objects whose exact type was
/// checked, and only after `Slot::of` proved the offset on a sample instance.
#[derive(Clone, Copy)]
pub struct Slot {
    offset: isize,
}

impl Slot {
    fn of(cls: &Bound<'_, PyAny>, name: &str, sample: &Bound<'_, PyAny>) -> PyResult<Self> {
        let py = cls.py();
        let descr = cls.getattr("__dict__")?.get_item(name)?;
        let member_type = py.import_bound("types")?.getattr("MemberDescriptorType")?;
        if !descr.get_type().is(&member_type) {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!("{name}: not a slot")));
        }
        let offset = unsafe {
            let d = descr.as_ptr() as *mut ffi::PyMemberDescrObject;
            let member = (*d).d_member as *mut ffi::PyMemberDef;
            (*member).offset
        };
        let slot = Slot { offset };
        if !slot.read(sample)?.is(&sample.getattr(name)?) {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!("{name}: slot mismatch")));
        }
        Ok(slot)
    }

    /// The field of `o`, an instance of exactly the class this slot was taken from.
    pub fn read<'py>(&self, o: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        unsafe {
            let p = *((o.as_ptr() as *mut u8).offset(self.offset) as *mut *mut ffi::PyObject);
            if p.is_null() {
                return Err(pyo3::exceptions::PyAttributeError::new_err("unset field"));
            }
            Ok(Bound::from_borrowed_ptr(o.py(), p))
        }
    }
}

/// The fields of the hot commands.
pub struct Fields {
    pub place: [Slot; 11],
    pub replace: [Slot; 5],
    pub cancel: [Slot; 2],
}

// PlaceOrder's fields, in `Fields::place` order.
pub const P_ORDER_ID: usize = 0;
pub const P_USER_ID: usize = 1;
pub const P_SIDE: usize = 2;
pub const P_ORDER_TYPE: usize = 3;
pub const P_PRICE: usize = 4;
pub const P_QTY: usize = 5;
pub const P_QUOTE_QTY: usize = 6;
pub const P_TIF: usize = 7;
pub const P_STP: usize = 8;
pub const P_SPEND_CAP: usize = 9;
pub const P_STOP_PRICE: usize = 10;
const PLACE_FIELDS: [&str; 11] = [
    "order_id", "user_id", "side", "order_type", "price", "qty", "quote_qty", "tif", "stp",
    "spend_cap", "stop_price",
];
// CancelReplace's fields.
pub const R_ORDER_ID: usize = 0;
pub const R_USER_ID: usize = 1;
pub const R_NEW_ORDER_ID: usize = 2;
pub const R_PRICE: usize = 3;
pub const R_QTY: usize = 4;
const REPLACE_FIELDS: [&str; 5] = ["order_id", "user_id", "new_order_id", "price", "qty"];

fn slots<const N: usize>(cls: &Bound<'_, PyAny>, names: [&str; N], sample: &Bound<'_, PyAny>)
    -> PyResult<[Slot; N]> {
    let mut out = [Slot { offset: 0 }; N];
    for (i, name) in names.iter().enumerate() {
        out[i] = Slot::of(cls, name, sample)?;
    }
    Ok(out)
}

static FIELDS: GILOnceCell<Fields> = GILOnceCell::new();

pub fn fields(py: Python<'_>) -> PyResult<&'static Fields> {
    FIELDS.get_or_try_init(py, || {
        let commands = py.import_bound("matching_cluster.engine.commands")?;
        let orders = py.import_bound("chalicelib.domain.orders")?;
        let place = commands.getattr("PlaceOrder")?;
        // Distinct values everywhere, so that a wrong offset cannot read the right one.
        let sample = place.call1((
            1001, 1002, orders.getattr("Side")?.getattr("SELL")?,
            orders.getattr("OrderType")?.getattr("LIMIT_MAKER")?, 1003, 1004, 1005,
            orders.getattr("TimeInForce")?.getattr("IOC")?,
            orders.getattr("SelfTradePrevention")?.getattr("EXPIRE_BOTH")?, 1006, 1007,
        ))?;
        let replace = commands.getattr("CancelReplace")?;
        let replace_sample = replace.call1((2001, 2002, 2003, 2004, 2005))?;
        let cancel = commands.getattr("CancelOrder")?;
        let cancel_sample = cancel.call1((3001, 3002))?;
        Ok(Fields {
            place: slots(&place, PLACE_FIELDS, &sample)?,
            replace: slots(&replace, REPLACE_FIELDS, &replace_sample)?,
            cancel: slots(&cancel, ["order_id", "user_id"], &cancel_sample)?,
        })
    })
}

fn members<const N: usize>(cls: &Bound<'_, PyAny>, names: [&str; N]) -> PyResult<[PyObject; N]> {
    let mut out: Vec<PyObject> = Vec::with_capacity(N);
    for name in names {
        out.push(cls.getattr(name)?.unbind());
    }
    Ok(out.try_into().unwrap_or_else(|_| unreachable!()))
}

fn class(module: &Bound<'_, PyModule>, name: &str) -> PyResult<Py<PyType>> {
    Ok(module.getattr(name)?.downcast_into::<PyType>()?.unbind())
}

pub fn ctx(py: Python<'_>) -> PyResult<&'static Ctx> {
    CTX.get_or_try_init(py, || {
        let orders = py.import_bound("chalicelib.domain.orders")?;
        let rules = py.import_bound("chalicelib.domain.market_rules")?;
        let events = py.import_bound("matching_cluster.engine.events")?;
        let commands = py.import_bound("matching_cluster.engine.commands")?;
        let snapshot = py.import_bound("matching_cluster.engine.snapshot")?;
        let hashlib = py.import_bound("hashlib")?;
        let lists = py.import_bound("matching_cluster.engine.order_lists")?;
        let side = orders.getattr("Side")?;
        let otype = orders.getattr("OrderType")?;
        let tif = orders.getattr("TimeInForce")?;
        let stp = orders.getattr("SelfTradePrevention")?;
        Ok(Ctx {
            sides: members(&side, ["BUY", "SELL"])?,
            otypes: members(&otype, OTYPES)?,
            tifs: members(&tif, TIFS)?,
            stps: members(&stp, STPS)?,
            done: members(&orders.getattr("DoneReason")?, DONE)?,
            kinds: members(&orders.getattr("CommandKind")?, KINDS)?,
            side_type: side.downcast_into::<PyType>()?.unbind(),
            otype_type: otype.downcast_into::<PyType>()?.unbind(),
            tif_type: tif.downcast_into::<PyType>()?.unbind(),
            stp_type: stp.downcast_into::<PyType>()?.unbind(),
            reject_reason: orders.getattr("RejectReason")?.unbind(),
            accepted: class(&events, "Accepted")?,
            trade: class(&events, "Trade")?,
            order_done: class(&events, "OrderDone")?,
            amended: class(&events, "Amended")?,
            rejected: class(&events, "Rejected")?,
            prevented: class(&events, "PreventedMatch")?,
            triggered: class(&events, "Triggered")?,
            stop_order: class(&snapshot, "StopOrder")?,
            place: class(&commands, "PlaceOrder")?,
            cancel: class(&commands, "CancelOrder")?,
            cancel_all: class(&commands, "CancelAll")?,
            amend: class(&commands, "AmendOrder")?,
            replace: class(&commands, "CancelReplace")?,
            oco: class(&commands, "PlaceOco")?,
            oto: class(&commands, "PlaceOto")?,
            limit_problem: rules.getattr("limit_problem")?.unbind(),
            lot_problem: rules.getattr("lot_problem")?.unbind(),
            market_problem: rules.getattr("market_problem")?.unbind(),
            price_problem: rules.getattr("price_problem")?.unbind(),
            oco_shape_problem: lists.getattr("oco_shape_problem")?.unbind(),
            oco_prices_problem: lists.getattr("oco_prices_problem")?.unbind(),
            pending_order: snapshot.getattr("PendingOrder")?.unbind(),
            resting_order: snapshot.getattr("RestingOrder")?.unbind(),
            book_snapshot: snapshot.getattr("BookSnapshot")?.unbind(),
            sha256: hashlib.getattr("sha256")?.unbind(),
        })
    })
}

/// A field value for `new_event`: a new reference.
pub type Item = *mut ffi::PyObject;

pub fn int(v: i64) -> Item {
    unsafe { ffi::PyLong_FromLongLong(v) }
}

pub fn wide(py: Python<'_>, v: i128) -> Item {
    match i64::try_from(v) {
        Ok(small) => int(small),
        Err(_) => v.into_py(py).into_ptr(),
    }
}

pub fn obj(o: &PyObject) -> Item {
    let p = o.as_ptr();
    unsafe { ffi::Py_INCREF(p) };
    p
}

pub fn boolean(v: bool) -> Item {
    let p = unsafe { if v { ffi::Py_True() } else { ffi::Py_False() } };
    unsafe { ffi::Py_INCREF(p) };
    p
}

/// An instance of a NamedTuple event class holding `items`, built as `tuple.__new__` does
/// for a tuple subclass, without a Python-level call.
pub fn new_event(py: Python<'_>, cls: &Py<PyType>, items: &[Item]) -> PyResult<PyObject> {
    unsafe {
        for item in items {
            if item.is_null() {
                for other in items {
                    if !other.is_null() {
                        ffi::Py_DECREF(*other);
                    }
                }
                return Err(PyErr::fetch(py));
            }
        }
        let t = cls.as_ptr() as *mut ffi::PyTypeObject;
        let alloc = (*t).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc);
        let o = alloc(t, items.len() as ffi::Py_ssize_t);
        if o.is_null() {
            for item in items {
                ffi::Py_DECREF(*item);
            }
            return Err(PyErr::fetch(py));
        }
        for (i, item) in items.iter().enumerate() {
            ffi::PyTuple_SET_ITEM(o, i as ffi::Py_ssize_t, *item);
        }
        Ok(PyObject::from_owned_ptr(py, o))
    }
}

/// A list owning `items`.
pub fn into_list(py: Python<'_>, items: Vec<PyObject>) -> PyResult<PyObject> {
    unsafe {
        let list = ffi::PyList_New(items.len() as ffi::Py_ssize_t);
        if list.is_null() {
            return Err(PyErr::fetch(py));
        }
        for (i, item) in items.into_iter().enumerate() {
            ffi::PyList_SET_ITEM(list, i as ffi::Py_ssize_t, item.into_ptr());
        }
        Ok(PyObject::from_owned_ptr(py, list))
    }
}

/// An exact `int` that fits in i64 (None otherwise: the caller takes the slow path).
pub fn exact_i64(o: &Bound<'_, PyAny>) -> Option<i64> {
    if unsafe { ffi::PyLong_CheckExact(o.as_ptr()) } == 0 {
        return None;
    }
    o.extract::<i64>().ok()
}

/// The index of `o` among `members` by identity.
pub fn member_index(o: &Bound<'_, PyAny>, members: &[PyObject]) -> Option<u8> {
    let p = o.as_ptr();
    members.iter().position(|m| m.as_ptr() == p).map(|i| i as u8)
}
