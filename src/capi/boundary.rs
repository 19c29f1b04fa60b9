//! The panic boundary: no Rust panic ever unwinds into C.
//!
//! Every exported function body runs inside [`ffi_boundary!`], which turns a
//! panic into the function's "failed" value ([`PanicDefault`]):
//! `WSE_RESULT_PANIC` for functions returning a result, NULL, false or 0
//! otherwise, and records a message for `wse_last_error_message`. The macro
//! wraps only the body, so cbindgen sees each signature as plain Rust.

use super::result::{set_last_error, wse_result};

/// The value a function returns when its body panicked.
pub(crate) trait PanicDefault {
    fn panic_default() -> Self;
}

impl PanicDefault for wse_result {
    fn panic_default() -> Self {
        wse_result::Panic
    }
}

impl<T> PanicDefault for *mut T {
    fn panic_default() -> Self {
        std::ptr::null_mut()
    }
}

impl<T> PanicDefault for *const T {
    fn panic_default() -> Self {
        std::ptr::null()
    }
}

macro_rules! zero_default {
    ($($t:ty),*) => {
        $(impl PanicDefault for $t {
            fn panic_default() -> Self {
                Default::default()
            }
        })*
    };
}
zero_default!(bool, u16, u32, u64, usize, ());

/// Run an exported function's body, catching any panic.
macro_rules! ffi_boundary {
    ($($body:tt)*) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $($body)* })) {
            Ok(value) => value,
            Err(_) => {
                $crate::capi::boundary::panicked();
                $crate::capi::boundary::PanicDefault::panic_default()
            }
        }
    };
}
pub(crate) use ffi_boundary;

/// Record that a panic was caught (for `wse_last_error_message`).
pub(crate) fn panicked() {
    set_last_error(
        "internal error: a panic was caught at the C API boundary",
        0,
    );
}

impl PanicDefault for super::message::wse_message_kind {
    fn panic_default() -> Self {
        super::message::wse_message_kind::None
    }
}

impl PanicDefault for super::event::wse_event_kind {
    fn panic_default() -> Self {
        super::event::wse_event_kind::None
    }
}

impl PanicDefault for super::reconnect::wse_client_event_kind {
    fn panic_default() -> Self {
        super::reconnect::wse_client_event_kind::None
    }
}
