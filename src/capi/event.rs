//! Events from `wse_server_poll` and `wse_conn_poll`.

use std::ffi::c_char;
use std::sync::Arc;

use super::boundary::ffi_boundary;
use super::conn::{CConn, wse_conn};
use super::handles::{Handle, Owned, borrow, borrow_mut, copy_str, into_box, null, take_box};
use super::message::wse_message;
use super::result::wse_result;
use super::upgrade::{CUpgrade, wse_upgrade};
use crate::engine::ServerEvent;

/// Something that happened on a connection: it opened, a message arrived,
/// or it closed; or, on a server with upgrade events, a client asks to
/// connect.
///
/// Methods: `wse_event_get_kind`, `wse_event_conn`, `wse_event_upgrade`, `wse_event_message`,
/// `wse_event_take_message`,
/// `wse_event_close_code`, `wse_event_close_clean`, `wse_event_close_reason`,
/// `wse_event_free`.
pub struct wse_event {
    _private: [u8; 0],
}

impl Handle for wse_event {
    type Rust = CEvent;
    type Ownership = Owned;
}

/// What a `wse_event` points at: the engine's event and the C handle of
/// its connection (the one `wse_event_conn` lends out), or an upgrade
/// request to answer.
pub(crate) enum CEvent {
    Conn {
        conn: Arc<CConn>,
        event: ServerEvent,
    },
    Upgrade(Box<CUpgrade>),
}

/// The engine event behind `event`, or `None` for NULL and upgrade requests.
fn engine_event<'a>(event: *const wse_event) -> Option<&'a ServerEvent> {
    match borrow(event) {
        Some(CEvent::Conn { event, .. }) => Some(event),
        _ => None,
    }
}

/// The kind of an event.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wse_event_kind {
    /// Not an event (the handle was NULL).
    None = 0,
    /// A connection completed its handshake (server poll only).
    Open = 1,
    /// A message arrived; see `wse_event_message`.
    Message = 2,
    /// The connection closed; its last event. See `wse_event_close_code`.
    Closed = 3,
    /// A client asks to upgrade (server poll with
    /// `wse_config_builder_set_upgrade_events` only): answer through
    /// `wse_event_upgrade`. No connection exists yet (`wse_event_conn`
    /// gives NULL); an accepted one arrives as `WSE_EVENT_KIND_OPEN`.
    UpgradeRequest = 4,
}

/// The kind of `event`; `WSE_EVENT_KIND_NONE` for NULL.
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread, while `event` is alive.
/// Errors: none (NULL gives `WSE_EVENT_KIND_NONE`).
#[unsafe(no_mangle)]
pub extern "C" fn wse_event_get_kind(event: *const wse_event) -> wse_event_kind {
    ffi_boundary! {
        match borrow(event) {
            Some(CEvent::Upgrade(_)) => wse_event_kind::UpgradeRequest,
            _ => match engine_event(event) {
                Some(ServerEvent::Open(_)) => wse_event_kind::Open,
                Some(ServerEvent::Message(..)) => wse_event_kind::Message,
                Some(ServerEvent::Closed(..)) => wse_event_kind::Closed,
                // Upgrade requests are `CEvent::Upgrade` (see `CServer::poll`).
                Some(ServerEvent::UpgradeRequest(_)) | None => wse_event_kind::None,
            },
        }
    }
}

/// The connection the event is about: use it to reply or close.
///
/// Ownership: borrowed, valid until `wse_event_free(event)`. To keep the
/// connection longer, take your own reference with `wse_conn_retain`.
/// (A poll-mode server keeps its connections alive until they close.)
/// Thread safety: any thread, while `event` is alive.
/// Errors: NULL if `event` is NULL or an upgrade request.
#[unsafe(no_mangle)]
pub extern "C" fn wse_event_conn(event: *const wse_event) -> *const wse_conn {
    ffi_boundary! {
        match borrow(event) {
            Some(CEvent::Conn { conn, .. }) => Arc::as_ptr(conn).cast(),
            _ => std::ptr::null(),
        }
    }
}

/// The upgrade request of a `WSE_EVENT_KIND_UPGRADE_REQUEST` event, to read
/// and answer (`wse_upgrade_accept`, `wse_upgrade_refuse`) before the
/// handshake timeout; else NULL. Freeing the event unanswered refuses the
/// upgrade with 503.
///
/// Ownership: borrowed, valid until `wse_event_free(event)`; do not free it.
/// Thread safety: any thread, while `event` is alive.
/// Errors: none (NULL for NULL and other events).
#[unsafe(no_mangle)]
pub extern "C" fn wse_event_upgrade(event: *const wse_event) -> *mut wse_upgrade {
    ffi_boundary! {
        match borrow(event) {
            Some(CEvent::Upgrade(up)) => std::ptr::from_ref(&**up).cast_mut().cast(),
            _ => std::ptr::null_mut(),
        }
    }
}

/// The message of a `WSE_EVENT_KIND_MESSAGE` event, else NULL.
///
/// Ownership: borrowed, valid until `wse_event_free(event)`; do not free it.
/// Thread safety: any thread, while `event` is alive.
/// Errors: none (NULL for NULL, and for events that are not messages).
#[unsafe(no_mangle)]
pub extern "C" fn wse_event_message(event: *const wse_event) -> *const wse_message {
    ffi_boundary! {
        match engine_event(event) {
            Some(ServerEvent::Message(_, m)) => (m as *const crate::protocol::Message).cast(),
            _ => std::ptr::null(),
        }
    }
}

/// Take the message out of a `WSE_EVENT_KIND_MESSAGE` event, to keep it
/// or send it on with `wse_conn_send_message` (no copy of its bytes); else
/// NULL. The event keeps an empty binary message in its place, so
/// `wse_event_message` then gives a message of length 0.
///
/// Ownership: on success the message is the caller's; release it with
/// `wse_message_free` (or hand it to `wse_conn_send_message`). The event
/// is still the caller's to free.
/// Thread safety: the thread that owns `event` (it is changed).
/// Errors: none (NULL for NULL, and for events that are not messages).
#[unsafe(no_mangle)]
pub extern "C" fn wse_event_take_message(event: *mut wse_event) -> *mut wse_message {
    ffi_boundary! {
        match borrow_mut(event) {
            Some(CEvent::Conn { event: ServerEvent::Message(_, m), .. }) => {
                let taken = std::mem::replace(m, crate::protocol::Message::Binary(Vec::new()));
                into_box::<wse_message>(taken)
            }
            _ => std::ptr::null_mut(),
        }
    }
}

/// The close code of a `WSE_EVENT_KIND_CLOSED` event (1005: the peer sent
/// none; 1006: no close handshake), else 0.
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread, while `event` is alive.
/// Errors: none (NULL and other events give 0).
#[unsafe(no_mangle)]
pub extern "C" fn wse_event_close_code(event: *const wse_event) -> u16 {
    ffi_boundary! {
        match engine_event(event) {
            Some(ServerEvent::Closed(_, info)) => info.code.0,
            _ => 0,
        }
    }
}

/// Whether a `WSE_EVENT_KIND_CLOSED` event's connection closed cleanly (the
/// peer's close frame arrived and nothing failed); false otherwise.
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread, while `event` is alive.
/// Errors: none (NULL and other events give false).
#[unsafe(no_mangle)]
pub extern "C" fn wse_event_close_clean(event: *const wse_event) -> bool {
    ffi_boundary! { matches!(engine_event(event), Some(ServerEvent::Closed(_, info)) if info.clean) }
}

/// Copy the close reason of a `WSE_EVENT_KIND_CLOSED` event into `buf`
/// (NUL-terminated; at most 124 bytes are ever needed); `*out_n` gets its
/// length. Other events give an empty string.
///
/// Ownership: `buf` and `out_n` are the caller's.
/// Thread safety: any thread, while `event` is alive.
/// Errors: `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_BUFFER_TOO_SMALL` (then
/// `*out_n` is the size needed).
#[unsafe(no_mangle)]
pub extern "C" fn wse_event_close_reason(
    event: *const wse_event,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    ffi_boundary! {
        match engine_event(event) {
            Some(ServerEvent::Closed(_, info)) => copy_str(&info.reason, buf, len, out_n),
            Some(_) => copy_str("", buf, len, out_n),
            None => null("event"),
        }
    }
}

/// Free an event (and the borrowed connection pointer and message it
/// handed out). Calling with NULL is fine. Must not be called twice.
///
/// Ownership: gives the event back, with the connection pointer and message it lent out; connections kept with `wse_conn_retain` stay valid.
/// Thread safety: any thread, once no other thread uses `event`.
/// Errors: none (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn wse_event_free(event: *mut wse_event) {
    ffi_boundary! { drop(take_box(event)); }
}
