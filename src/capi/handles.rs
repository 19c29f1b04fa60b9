//! Converting between C handles and Rust values. All of the C API's
//! pointer `unsafe` lives here, in a few small helpers.
//!
//! Every C handle type is an empty struct (`wse_conn`, ...) standing for a
//! Rust type. Handles that may be used from several threads at once and
//! shared between owners (`wse_conn`, `wse_config`) are `Arc`s turned into
//! raw pointers; exclusively owned ones (`wse_config_builder`, `wse_server`,
//! `wse_message`, `wse_event`) are `Box`es. Either way the pointer points
//! at the Rust value itself, so a borrowed pointer (into an event, say) and
//! an owned one are used the same way.
//!
//! The safety of these helpers rests on the contract the header states for
//! every function: a handle passed in is NULL or was returned by this
//! library and not yet freed, and buffers are valid for their lengths.
//! NULL is checked here and reported as an error, never dereferenced.

use std::ffi::{CStr, c_char};
use std::sync::Arc;

use super::result::{set_last_error, wse_result};

/// How C holds a handle's value: the ownership kind of a [`Handle`]
/// (rustls-ffi's `Castable::Ownership`). The helpers below take only the
/// kind they are sound for, so freeing a `Box` handle as an `Arc` (or the
/// reverse) does not compile.
pub(crate) trait Ownership {}

/// Shared: `Arc::into_raw`; every reference is released with its own free
/// (`wse_conn`, `wse_config`).
pub(crate) enum Shared {}
impl Ownership for Shared {}

/// Exclusive: `Box::into_raw`; freed exactly once (`wse_server`,
/// `wse_config_builder`, `wse_message`, `wse_event`).
pub(crate) enum Owned {}
impl Ownership for Owned {}

/// A C handle type, the Rust type it stands for, and how C holds it.
pub(crate) trait Handle {
    type Rust;
    type Ownership: Ownership;
}

/// The value of a `Result<T, wse_result>`, or return the `wse_result`
/// from the calling function: the C API's `?`.
macro_rules! try_rc {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(rc) => return rc,
        }
    };
}
pub(crate) use try_rc;

/// Borrow the value behind a handle. `None` for NULL.
pub(crate) fn borrow<'a, H: Handle>(ptr: *const H) -> Option<&'a H::Rust> {
    // SAFETY: a non-null handle came from `into_arc`/`into_box` (or points
    // into a value owned by another live handle) and is not freed yet: the
    // header's ownership rules, which the caller follows, guarantee it.
    unsafe { ptr.cast::<H::Rust>().as_ref() }
}

/// A copy of a plain C struct the caller passed by pointer (not a handle:
/// callbacks, options). `None` for NULL.
pub(crate) fn copy_in<T: Copy>(ptr: *const T) -> Option<T> {
    // SAFETY: the header's contract for the argument: NULL or a pointer to
    // a valid `T` for the call. It is read once, by copy.
    unsafe { ptr.as_ref().copied() }
}

/// Give an `Arc` to C.
pub(crate) fn into_arc<H: Handle<Ownership = Shared>>(value: Arc<H::Rust>) -> *const H {
    Arc::into_raw(value).cast()
}

/// Another owned reference to the value behind an `Arc` handle. `None` for NULL.
pub(crate) fn clone_arc<H: Handle<Ownership = Shared>>(ptr: *const H) -> Option<Arc<H::Rust>> {
    if ptr.is_null() {
        return None;
    }
    let ptr = ptr.cast::<H::Rust>();
    // SAFETY: as in `borrow`, and the handle is an `Arc` handle (its
    // `Ownership` is `Shared`, checked by the compiler): raising the strong count and taking
    // that new reference back as an `Arc` leaves the caller's own intact.
    unsafe {
        Arc::increment_strong_count(ptr);
        Some(Arc::from_raw(ptr))
    }
}

/// Take back an `Arc` handle given out by `into_arc` (or `clone_arc`).
pub(crate) fn free_arc<H: Handle<Ownership = Shared>>(ptr: *const H) {
    if !ptr.is_null() {
        // SAFETY: the handle came from `Arc::into_raw` and the caller gives
        // up this reference ("must not be used after free").
        drop(unsafe { Arc::from_raw(ptr.cast::<H::Rust>()) });
    }
}

/// Give a `Box` to C.
pub(crate) fn into_box<H: Handle<Ownership = Owned>>(value: H::Rust) -> *mut H {
    Box::into_raw(Box::new(value)).cast()
}

/// Borrow a `Box` handle mutably. `None` for NULL.
pub(crate) fn borrow_mut<'a, H: Handle<Ownership = Owned>>(ptr: *mut H) -> Option<&'a mut H::Rust> {
    // SAFETY: as in `borrow`; non-const handles are not shared between
    // threads without the caller's own synchronisation (header rule).
    unsafe { ptr.cast::<H::Rust>().as_mut() }
}

/// Take back a `Box` handle. `None` for NULL.
pub(crate) fn take_box<H: Handle<Ownership = Owned>>(ptr: *mut H) -> Option<H::Rust> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the handle came from `into_box` and the caller gives it up.
    Some(*unsafe { Box::from_raw(ptr.cast::<H::Rust>()) })
}

/// Store `value` through an out-pointer. Callers check for NULL first.
pub(crate) fn write_out<T>(out: *mut T, value: T) {
    debug_assert!(!out.is_null());
    // SAFETY: `out` is non-null (checked by the caller) and points to
    // writable memory for a `T` (header rule for out-parameters).
    unsafe { out.write(value) }
}

/// A NUL-terminated C string as `&str`.
pub(crate) fn c_str<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, wse_result> {
    if ptr.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-null and NUL-terminated (header rule for `const char *`).
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str().map_err(|_| {
        set_last_error(&format!("{what} is not UTF-8"), 0);
        wse_result::InvalidUtf8
    })
}

/// `len` bytes at `data` (NULL is fine when `len` is 0).
pub(crate) fn bytes<'a>(data: *const u8, len: usize, what: &str) -> Result<&'a [u8], wse_result> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(null(what));
    }
    if len > isize::MAX as usize {
        set_last_error(&format!("{what}: length {len} is too large"), 0);
        return Err(wse_result::InvalidArgument);
    }
    // SAFETY: non-null and valid for `len` bytes (header rule for buffers);
    // `len` fits the limits of `from_raw_parts`.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// Copy `text` plus a NUL into `buf` of `len` bytes; the length without the
/// NUL goes to `*out_n`. If it does not fit, `*out_n` gets the size needed
/// (with the NUL) and the result is `WSE_RESULT_BUFFER_TOO_SMALL`.
pub(crate) fn copy_str(text: &str, buf: *mut c_char, len: usize, out_n: *mut usize) -> wse_result {
    if out_n.is_null() {
        return null("out_n");
    }
    if len < text.len() + 1 || buf.is_null() {
        // The size report says it all; the last error is left alone, so
        // `wse_last_error_message` can be retried with a bigger buffer.
        write_out(out_n, text.len() + 1);
        return wse_result::BufferTooSmall;
    }
    // SAFETY: `buf` is non-null and valid for `len` bytes (header rule),
    // and `len > text.len()`, so the copy and the NUL stay inside it.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
        buf.add(text.len()).write(0);
    }
    write_out(out_n, text.len());
    wse_result::Ok
}

/// Copy `data` into `buf` (no terminator); `*out_n` gets its length, or
/// the size needed with `WSE_RESULT_BUFFER_TOO_SMALL`.
pub(crate) fn copy_bytes(data: &[u8], buf: *mut u8, len: usize, out_n: *mut usize) -> wse_result {
    if out_n.is_null() {
        return null("out_n");
    }
    if len < data.len() || (buf.is_null() && !data.is_empty()) {
        write_out(out_n, data.len());
        return wse_result::BufferTooSmall;
    }
    if !data.is_empty() {
        // SAFETY: `buf` is non-null and valid for `len >= data.len()` bytes
        // (header rule for buffers).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len()) };
    }
    write_out(out_n, data.len());
    wse_result::Ok
}

/// Report a NULL argument.
pub(crate) fn null(what: &str) -> wse_result {
    set_last_error(&format!("{what} is NULL"), 0);
    wse_result::NullParameter
}
