//! The C API: opaque handles, result codes, no panics across the boundary.
//!
//! The generated header `include/wsengine.h` carries these conventions
//! with every function; this is where they are stated once.
//!
//! - **Handles.** Each `wse_*` type is opaque. A handle comes from a `_new`,
//!   `_bind`, `_connect`, `_accept`, `_poll`, `_recv` or `_build` function and
//!   is released by exactly one matching `_free`, which accepts NULL. Using a
//!   handle after freeing it is undefined behaviour, as with `free(3)`.
//!   `wse_conn_close` starts the close handshake and never frees.
//! - **Threads.** A `const wse_x *` parameter means the call is safe
//!   concurrently from any thread: servers, connections and configs are
//!   used that way (send, receive and close on one connection from
//!   different threads at once is fine). Builders (`wse_x *`) need the
//!   caller's own serialisation. The library calls back into C in one
//!   place only: the upgrade callback (`wse_config_builder_set_upgrade_callback`),
//!   on the connection's thread, never under a library lock.
//! - **Results.** Fallible functions return `wse_result`; 0 is success.
//!   Out-parameters are written only on success (the one exception: a
//!   string copy that fails with `WSE_RESULT_BUFFER_TOO_SMALL` stores the
//!   size needed). `wse_last_error_message` gives the detail of the last
//!   failure on the calling thread. NULL pointers are errors, never crashes.
//! - **Timeouts** are `uint32_t` milliseconds, converted in one place
//!   (`millis`): `WSE_TIMEOUT_INFINITE` (`UINT32_MAX`) means no limit
//!   everywhere. A blocking call given `WSE_TIMEOUT_NONE` (0) tries once
//!   without waiting; a keepalive or idle setting given 0 or infinite is
//!   off; a handshake, connect or close timeout must be finite.
//! - **Panics** inside the library are caught at the boundary and become
//!   `WSE_RESULT_PANIC` (or NULL/0/false); they never unwind into C.
#![allow(non_camel_case_types)]

pub(crate) mod boundary;
pub mod client;
pub mod config;
pub mod conn;
pub mod event;
pub mod groups;
pub mod handler;
pub(crate) mod handles;
pub mod message;
pub mod reconnect;
pub mod result;
pub mod server;
pub mod tls;
pub mod upgrade;

use std::ffi::c_char;
use std::time::Duration;

/// A `uint32_t` millisecond timeout of the C API, the one conversion for
/// all of them: `None` for `WSE_TIMEOUT_INFINITE` (`UINT32_MAX`), else
/// that many milliseconds (0 included: its meaning, "try once" or "off",
/// is the caller's).
pub(crate) fn millis(ms: u32) -> Option<Duration> {
    (ms != u32::MAX).then(|| Duration::from_millis(u64::from(ms)))
}

/// How long a blocking call waits: [`millis`], with infinite as
/// `Duration::MAX` ("as long as it takes", which the engine understands).
pub(crate) fn timeout(ms: u32) -> Duration {
    millis(ms).unwrap_or(Duration::MAX)
}

/// The library's version as a static NUL-terminated string, e.g. "0.1.0".
/// Compare with the `WSE_VERSION_*` macros of the header you compiled with.
///
/// Ownership: static; never free it.
/// Thread safety: any thread.
/// Errors: none.
#[unsafe(no_mangle)]
pub extern "C" fn wse_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests;
