//! `wsengine._wsengine`: the native half of the `wsengine` Python package.
//!
//! Frozen classes around `Arc`s of the engine's types, so every method takes
//! `&self` and any Python thread may call any method at any time. Blocking
//! calls release the interpreter in short slices and check for signals in
//! between, so Ctrl-C interrupts a blocked `recv`, `accept`, `send` (on a
//! full queue) or `close` promptly; `connect` and `shutdown` run on a helper
//! thread for the same reason ([`aside`]).
//! Errors become the exception classes of `wsengine.exceptions` (`errors.rs`).
//!
//! Layout: `errors` (exceptions), `blocking` (GIL-free waits and Ctrl-C),
//! `options` (keyword options to a `Config`), `connection` (`Connection`,
//! `Request`, `connect`), `server` (`ServerHandle`, `Event`), `groups`
//! (broadcasts), `upgrade` (`process_request`, upgrade events), `client`
//! (`ClientHandle`, `ClientEvent`: reconnecting clients). This file
//! only registers them.

mod blocking;
mod client;
mod connection;
mod errors;
mod groups;
mod options;
mod server;
mod upgrade;

use pyo3::prelude::*;

/// The native module behind the `wsengine` package.
#[pymodule(gil_used = false)]
fn _wsengine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<connection::Connection>()?;
    m.add_class::<server::ServerHandle>()?;
    m.add_class::<server::Event>()?;
    m.add_class::<connection::Request>()?;
    m.add_class::<groups::BroadcastReport>()?;
    m.add_class::<upgrade::Upgrade>()?;
    m.add_function(wrap_pyfunction!(connection::connect, m)?)?;
    m.add_class::<client::ClientHandle>()?;
    m.add_class::<client::ClientEvent>()?;
    m.add_function(wrap_pyfunction!(client::start_client, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
