//! A compiled order book with the interface of `matching_cluster.engine.OrderBook`.
//!
//! It builds the very event classes of `matching_cluster/engine/events.py`, field for field,
//! so `encode_events` and `state_hash` are byte-equal with the Python book, which stays the
//! reference (see STATUS.md for which commands are covered).

mod book;
mod py;

use pyo3::prelude::*;

#[pymodule]
fn matching_cluster_engine_rs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<book::OrderBook>()?;
    Ok(())
}
