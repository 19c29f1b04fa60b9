//! Reconnecting clients: `wse_client` and its events.

use std::ffi::c_char;
use std::time::Duration;

use super::boundary::ffi_boundary;
use super::config::wse_config;
use super::conn::{binary_message, text_message};
use super::handles::{
    Handle, Owned, borrow, bytes, c_str, copy_str, into_box, null, take_box, try_rc, write_out,
};
use super::message::wse_message;
use super::result::{fail, wse_result};
use super::timeout;
use crate::config::Config;
use crate::engine::{Client, ClientEvent};
use crate::protocol::Message;

/// A client that reconnects: it connects in the background, and again
/// after a drop, by the config's reconnect settings
/// (`wse_config_builder_set_reconnect_*`). Everything it has to say comes
/// as events from `wse_client_poll`: connected, a message, reconnecting
/// (attempt, delay, cause), closed (the last).
///
/// Methods: `wse_client_start`, `wse_client_send_text`,
/// `wse_client_send_binary`, `wse_client_poll`, `wse_client_close`,
/// `wse_client_is_connected`, `wse_client_free`.
pub struct wse_client {
    _private: [u8; 0],
}

impl Handle for wse_client {
    type Rust = Client;
    type Ownership = Owned;
}

/// Something a `wse_client` reports.
///
/// Methods: `wse_client_event_get_kind`, `wse_client_event_message`,
/// `wse_client_event_reconnected`, `wse_client_event_attempt`,
/// `wse_client_event_delay_ms`, `wse_client_event_cause`,
/// `wse_client_event_unsent_count`, `wse_client_event_unsent_message`,
/// `wse_client_event_close_code`, `wse_client_event_free`.
pub struct wse_client_event {
    _private: [u8; 0],
}

impl Handle for wse_client_event {
    type Rust = ClientEvent;
    type Ownership = Owned;
}

/// The kind of a client event.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wse_client_event_kind {
    /// Not an event (the handle was NULL).
    None = 0,
    /// A connection opened (`wse_client_event_reconnected`: after a drop;
    /// rejoin rooms here).
    Connected = 1,
    /// A message arrived (`wse_client_event_message`).
    Message = 2,
    /// The connection dropped or an attempt failed; the next attempt comes
    /// after `wse_client_event_delay_ms`.
    Reconnecting = 3,
    /// The client is done (closed, not retried, or out of attempts): the
    /// last event.
    Closed = 4,
}

/// Start a reconnecting client for `url` (`ws[s]://host[:port][/path]`)
/// with `config` (NULL: the defaults: first retry within 1 s, at most
/// 30 s apart, doubling, without end; no replay buffer). Returns at once;
/// the first attempt's outcome arrives as an event.
///
/// Ownership: on `WSE_RESULT_OK`, `*client_out` is a new client owned by
/// the caller; release it with `wse_client_free`. `config` stays the
/// caller's (it is copied).
/// Thread safety: any thread.
/// Errors: `WSE_RESULT_INVALID_URL`; `WSE_RESULT_INVALID_ARGUMENT` (a
/// config or reconnect setting that cannot work); `WSE_RESULT_IO` (no
/// thread); `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_client_start(
    url: *const c_char,
    config: *const wse_config,
    client_out: *mut *mut wse_client,
) -> wse_result {
    ffi_boundary! {
        let url = try_rc!(c_str(url, "url"));
        if client_out.is_null() {
            return null("client_out");
        }
        let config = borrow(config).cloned().unwrap_or_else(Config::default);
        match Client::connect(url, config) {
            Ok(client) => {
                write_out(client_out, into_box::<wse_client>(client));
                wse_result::Ok
            }
            Err(e) => fail(&e),
        }
    }
}

fn send(client: *const wse_client, message: Result<Message, wse_result>) -> wse_result {
    let Some(client) = borrow(client) else {
        return null("client");
    };
    match client.send(try_rc!(message)) {
        Ok(()) => wse_result::Ok,
        Err(e) => fail(&e),
    }
}

/// Send `len` bytes of UTF-8 text (copied) on the open connection; between
/// connections, into the replay buffer if there is one with room.
///
/// Ownership: the bytes are copied before this returns.
/// Thread safety: any thread, concurrently with other calls on `client`
/// except `wse_client_free`.
/// Errors: `WSE_RESULT_NOT_CONNECTED` (between connections, no room to
/// keep it: nothing was sent); `WSE_RESULT_CLOSED` after
/// `wse_client_close`; as `wse_conn_send_text` otherwise.
#[unsafe(no_mangle)]
pub extern "C" fn wse_client_send_text(
    client: *const wse_client,
    data: *const c_char,
    len: usize,
) -> wse_result {
    ffi_boundary! { send(client, text_message(data, len)) }
}

/// Send `len` bytes of binary data (copied), as `wse_client_send_text`.
///
/// Ownership: the bytes are copied before this returns.
/// Thread safety: any thread, concurrently with other calls on `client`
/// except `wse_client_free`.
/// Errors: as `wse_client_send_text`, without `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_client_send_binary(
    client: *const wse_client,
    data: *const u8,
    len: usize,
) -> wse_result {
    ffi_boundary! { send(client, binary_message(data, len)) }
}

/// The next event, waiting up to `timeout_ms` (0: only if one is ready;
/// `WSE_TIMEOUT_INFINITE`: until one comes).
///
/// Ownership: on `WSE_RESULT_OK`, `*event_out` is a new event owned by the
/// caller; release it with `wse_client_event_free`.
/// Thread safety: any thread; one poller at a time is the normal use.
/// Errors: `WSE_RESULT_TIMEOUT` (no event); `WSE_RESULT_CLOSED` after the
/// closed event was delivered; `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_client_poll(
    client: *const wse_client,
    timeout_ms: u32,
    event_out: *mut *mut wse_client_event,
) -> wse_result {
    ffi_boundary! {
        let Some(client) = borrow(client) else { return null("client") };
        if event_out.is_null() {
            return null("event_out");
        }
        let wait = if timeout_ms == 0 { Duration::ZERO } else { timeout(timeout_ms) };
        match client.poll(wait) {
            Ok(Some(event)) => {
                write_out(event_out, into_box::<wse_client_event>(event));
                wse_result::Ok
            }
            Ok(None) => wse_result::Timeout,
            Err(e) => fail(&e),
        }
    }
}

/// Stop: close the open connection with `code` and `reason`
/// (NUL-terminated, at most 123 bytes; NULL for none), or end the wait for
/// the next attempt. Returns at once; nothing connects after it, and a
/// closed event follows.
///
/// Ownership: `reason` is copied; does not free `client`.
/// Thread safety: any thread, any number of times.
/// Errors: `WSE_RESULT_CLOSED` if it was already closed;
/// `WSE_RESULT_INVALID_ARGUMENT` (a code that may not be sent, a reason
/// over 123 bytes); `WSE_RESULT_INVALID_UTF8`; `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_client_close(
    client: *const wse_client,
    code: u16,
    reason: *const c_char,
) -> wse_result {
    ffi_boundary! {
        let Some(client) = borrow(client) else { return null("client") };
        let reason = if reason.is_null() { "" } else { try_rc!(c_str(reason, "reason")) };
        match client.close(code, reason) {
            Ok(true) => wse_result::Ok,
            Ok(false) => wse_result::Closed,
            Err(e) => fail(&e),
        }
    }
}

/// Whether a connection is open now.
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread.
/// Errors: none (NULL gives false).
#[unsafe(no_mangle)]
pub extern "C" fn wse_client_is_connected(client: *const wse_client) -> bool {
    ffi_boundary! { borrow(client).is_some_and(Client::is_connected) }
}

/// Close the client (1000, if it was not closed yet) and free it. Events
/// not polled are dropped. NULL is fine; never twice.
///
/// Ownership: gives the client back.
/// Thread safety: once no other thread uses `client`.
/// Errors: none.
#[unsafe(no_mangle)]
pub extern "C" fn wse_client_free(client: *mut wse_client) {
    ffi_boundary! { drop(take_box(client)); }
}

/// The kind of `event`; `WSE_CLIENT_EVENT_KIND_NONE` for NULL.
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread, while `event` is alive.
/// Errors: none.
#[unsafe(no_mangle)]
pub extern "C" fn wse_client_event_get_kind(
    event: *const wse_client_event,
) -> wse_client_event_kind {
    ffi_boundary! {
        match borrow(event) {
            Some(ClientEvent::Connected { .. }) => wse_client_event_kind::Connected,
            Some(ClientEvent::Message(_)) => wse_client_event_kind::Message,
            Some(ClientEvent::Reconnecting { .. }) => wse_client_event_kind::Reconnecting,
            Some(ClientEvent::Closed { .. }) => wse_client_event_kind::Closed,
            None => wse_client_event_kind::None,
        }
    }
}

/// The message of a message event, else NULL.
///
/// Ownership: borrowed, valid until `wse_client_event_free(event)`.
/// Thread safety: any thread, while `event` is alive.
/// Errors: none (NULL for other events).
#[unsafe(no_mangle)]
pub extern "C" fn wse_client_event_message(event: *const wse_client_event) -> *const wse_message {
    ffi_boundary! {
        match borrow(event) {
            Some(ClientEvent::Message(m)) => std::ptr::from_ref(m).cast(),
            _ => std::ptr::null(),
        }
    }
}

/// Whether a connected event follows a drop (an earlier connection of
/// this client had opened).
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread, while `event` is alive.
/// Errors: none (false for other events).
#[unsafe(no_mangle)]
pub extern "C" fn wse_client_event_reconnected(event: *const wse_client_event) -> bool {
    ffi_boundary! { matches!(borrow(event), Some(ClientEvent::Connected { reconnected: true })) }
}

/// A reconnecting event's attempt number (1 for the first retry in a
/// row), else 0.
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread, while `event` is alive.
/// Errors: none.
#[unsafe(no_mangle)]
pub extern "C" fn wse_client_event_attempt(event: *const wse_client_event) -> u32 {
    ffi_boundary! {
        match borrow(event) {
            Some(ClientEvent::Reconnecting { attempt, .. }) => *attempt,
            _ => 0,
        }
    }
}

/// A reconnecting event's wait before the attempt, in milliseconds, else 0.
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread, while `event` is alive.
/// Errors: none.
#[unsafe(no_mangle)]
pub extern "C" fn wse_client_event_delay_ms(event: *const wse_client_event) -> u64 {
    ffi_boundary! {
        match borrow(event) {
            Some(ClientEvent::Reconnecting { delay, .. }) => {
                u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)
            }
            _ => 0,
        }
    }
}

/// Copy why a reconnecting or closed event happened (the close, or the
/// error of the attempt) into `buf`, NUL-terminated; `*out_n` gets its
/// length. Other events give an empty string.
///
/// Ownership: `buf` and `out_n` are the caller's.
/// Thread safety: any thread, while `event` is alive.
/// Errors: `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_BUFFER_TOO_SMALL` (then
/// `*out_n` is the size needed).
#[unsafe(no_mangle)]
pub extern "C" fn wse_client_event_cause(
    event: *const wse_client_event,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    ffi_boundary! {
        match borrow(event) {
            Some(ClientEvent::Reconnecting { cause, .. } | ClientEvent::Closed { cause, .. }) => {
                copy_str(cause, buf, len, out_n)
            }
            Some(_) => copy_str("", buf, len, out_n),
            None => null("event"),
        }
    }
}

/// Messages accepted and never sent: for a reconnecting event, those the
/// dropped connection could not send; for a closed event, the replay
/// buffer's (read them with `wse_client_event_unsent_message`). Else 0.
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread, while `event` is alive.
/// Errors: none.
#[unsafe(no_mangle)]
pub extern "C" fn wse_client_event_unsent_count(event: *const wse_client_event) -> u64 {
    ffi_boundary! {
        match borrow(event) {
            Some(ClientEvent::Reconnecting { unsent, .. }) => *unsent,
            Some(ClientEvent::Closed { unsent, .. }) => unsent.len() as u64,
            _ => 0,
        }
    }
}

/// The `index`th message of a closed event's unsent replay buffer (in the
/// order they were sent), else NULL.
///
/// Ownership: borrowed, valid until `wse_client_event_free(event)`.
/// Thread safety: any thread, while `event` is alive.
/// Errors: none (NULL past the end and for other events).
#[unsafe(no_mangle)]
pub extern "C" fn wse_client_event_unsent_message(
    event: *const wse_client_event,
    index: usize,
) -> *const wse_message {
    ffi_boundary! {
        match borrow(event) {
            Some(ClientEvent::Closed { unsent, .. }) => unsent
                .get(index)
                .map_or(std::ptr::null(), |m| std::ptr::from_ref(m).cast()),
            _ => std::ptr::null(),
        }
    }
}

/// A closed event's last close code (0 if no connection was open), else 0.
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread, while `event` is alive.
/// Errors: none.
#[unsafe(no_mangle)]
pub extern "C" fn wse_client_event_close_code(event: *const wse_client_event) -> u16 {
    ffi_boundary! {
        match borrow(event) {
            Some(ClientEvent::Closed { close: Some(info), .. }) => info.code.0,
            _ => 0,
        }
    }
}

/// Free an event (and the message it lent out). NULL is fine; never twice.
///
/// Ownership: gives the event back.
/// Thread safety: once no other thread uses `event`.
/// Errors: none.
#[unsafe(no_mangle)]
pub extern "C" fn wse_client_event_free(event: *mut wse_client_event) {
    ffi_boundary! { drop(take_box(event)); }
}

/// Set how a `wse_client` waits between attempts: the first retry within
/// `min_ms`, each failure in a row multiplying the window by `factor` (at
/// least 1), never more than `max_ms`; the wait is drawn at random in the
/// window (full jitter). Defaults: 1000, 30000, 2.0.
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_ARGUMENT`
/// (checked by `wse_config_builder_build`: min 0 or above max, factor
/// below 1).
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_reconnect_delays(
    builder: *mut super::config::wse_config_builder,
    min_ms: u32,
    max_ms: u32,
    factor: f64,
) -> wse_result {
    ffi_boundary! {
        super::config::with_builder(builder, |c| {
            c.reconnect.min_delay = Duration::from_millis(u64::from(min_ms));
            c.reconnect.max_delay = Duration::from_millis(u64::from(max_ms));
            c.reconnect.factor = factor;
        })
    }
}

/// Set how many attempts in a row a `wse_client` makes before giving up
/// (0: no limit, the default), and after how long a connection that
/// stayed open starts the count again (`reset_after_ms`, default 10000).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_reconnect_attempts(
    builder: *mut super::config::wse_config_builder,
    max_attempts: u32,
    reset_after_ms: u32,
) -> wse_result {
    ffi_boundary! {
        super::config::with_builder(builder, |c| {
            c.reconnect.max_attempts = (max_attempts != 0).then_some(max_attempts);
            c.reconnect.reset_after = Duration::from_millis(u64::from(reset_after_ms));
        })
    }
}

/// Seed the random waits of a `wse_client` (tests replay the same delays).
/// Default: a random seed.
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_reconnect_seed(
    builder: *mut super::config::wse_config_builder,
    seed: u64,
) -> wse_result {
    ffi_boundary! { super::config::with_builder(builder, |c| c.reconnect.seed = Some(seed)) }
}

/// Keep up to `messages` messages (and `bytes` bytes of payload) sent
/// while a `wse_client` is between connections, and send them first, in
/// order, on the next one. 0 messages (the default): such sends fail with
/// `WSE_RESULT_NOT_CONNECTED`.
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_reconnect_replay(
    builder: *mut super::config::wse_config_builder,
    messages: usize,
    bytes: usize,
) -> wse_result {
    ffi_boundary! {
        super::config::with_builder(builder, |c| {
            c.reconnect.replay_messages = messages;
            c.reconnect.replay_bytes = bytes;
        })
    }
}

/// Set which close codes (`codes`, `n` of them) and which handshake
/// statuses (`statuses`, `m`) a `wse_client` reconnects after. Defaults:
/// 1001, 1006, 1011-1014; 429 and 503. Never after its own close.
///
/// Ownership: the arrays are copied; they stay the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` (an array may be NULL only when its
/// count is 0).
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_reconnect_when(
    builder: *mut super::config::wse_config_builder,
    codes: *const u16,
    n: usize,
    statuses: *const u16,
    m: usize,
) -> wse_result {
    ffi_boundary! {
        let codes = try_rc!(u16s(codes, n, "codes"));
        let statuses = try_rc!(u16s(statuses, m, "statuses"));
        super::config::with_builder(builder, |c| {
            c.reconnect.retry_close_codes = codes;
            c.reconnect.retry_statuses = statuses;
        })
    }
}

/// `n` `u16`s from C, copied.
fn u16s(ptr: *const u16, n: usize, what: &str) -> Result<Vec<u16>, wse_result> {
    let raw = bytes(ptr.cast(), n.saturating_mul(2), what)?;
    Ok(raw
        .chunks_exact(2)
        .map(|b| u16::from_ne_bytes([b[0], b[1]]))
        .collect())
}
