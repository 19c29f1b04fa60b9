//! Received messages.

use super::boundary::ffi_boundary;
use super::handles::{Handle, Owned, borrow, take_box};
use crate::protocol::Message;

/// A complete received message (text or binary).
///
/// Methods: `wse_message_get_kind`, `wse_message_data`, `wse_message_len`,
/// `wse_message_free`. A message obtained from an event with
/// `wse_event_message` belongs to the event and must not be freed.
pub struct wse_message {
    _private: [u8; 0],
}

impl Handle for wse_message {
    type Rust = Message;
    type Ownership = Owned;
}

/// The kind of a message.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wse_message_kind {
    /// Not a message (the handle was NULL).
    None = 0,
    /// UTF-8 text (validated; not NUL-terminated).
    Text = 1,
    /// Binary data.
    Binary = 2,
}

/// Whether `msg` is text or binary; `WSE_MESSAGE_KIND_NONE` for NULL.
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread, while `msg` is alive.
/// Errors: none (NULL gives `WSE_MESSAGE_KIND_NONE`).
#[unsafe(no_mangle)]
pub extern "C" fn wse_message_get_kind(msg: *const wse_message) -> wse_message_kind {
    ffi_boundary! {
        match borrow(msg) {
            Some(Message::Text(_)) => wse_message_kind::Text,
            Some(Message::Binary(_)) => wse_message_kind::Binary,
            None => wse_message_kind::None,
        }
    }
}

/// The payload: `wse_message_len(msg)` bytes, valid until the message (or
/// the event it belongs to) is freed. Text is valid UTF-8 but is not
/// NUL-terminated. NULL for a NULL message; may be non-NULL for an empty one.
///
/// Ownership: borrowed from `msg`; do not free.
/// Thread safety: any thread, while `msg` is alive.
/// Errors: none (NULL gives NULL).
#[unsafe(no_mangle)]
pub extern "C" fn wse_message_data(msg: *const wse_message) -> *const u8 {
    ffi_boundary! {
        match borrow(msg) {
            Some(m) => m.as_bytes().as_ptr(),
            None => std::ptr::null(),
        }
    }
}

/// The payload length in bytes (0 for NULL).
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread, while `msg` is alive.
/// Errors: none (NULL gives 0).
#[unsafe(no_mangle)]
pub extern "C" fn wse_message_len(msg: *const wse_message) -> usize {
    ffi_boundary! { borrow(msg).map_or(0, Message::len) }
}

/// Free a message from `wse_conn_recv`. Calling with NULL is fine. Must
/// not be called twice with the same value, nor on a message that belongs
/// to an event.
///
/// Ownership: gives the message back; its data pointer becomes invalid.
/// Thread safety: any thread, once no other thread uses `msg`.
/// Errors: none (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn wse_message_free(msg: *mut wse_message) {
    ffi_boundary! {
        if let Some(message) = take_box(msg) {
            crate::engine::recycle(message);
        }
    }
}
