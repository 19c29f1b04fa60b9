//! Connections: send, receive, poll, close, and what the handshake said.

use std::borrow::Cow;
use std::ffi::c_char;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::boundary::ffi_boundary;
use super::event::{CEvent, wse_event};
use super::handles::{
    Handle, Shared, borrow, bytes, c_str, clone_arc, copy_str, free_arc, into_arc, into_box, null,
    try_rc, write_out,
};
use super::message::wse_message;
use super::result::{fail, set_last_error, wse_result};
use super::timeout;
use crate::engine::{Conn, ServerEvent};
use crate::error::Error;
use crate::protocol::CloseInitiator;
use crate::protocol::Message;
use crate::protocol::close::truncate_reason;

/// One open WebSocket connection, from `wse_server_accept`,
/// `wse_client_connect`, or an event (borrowed).
///
/// Every function taking `const wse_conn *` may be called from any thread
/// at the same time as any other: send from several threads while another
/// receives and a third closes. Messages are delivered in order.
///
/// Methods: `wse_conn_send_text`, `wse_conn_send_binary`,
/// `wse_conn_try_send_text`, `wse_conn_try_send_binary`, `wse_conn_ping`,
/// `wse_conn_recv`, `wse_conn_poll`, `wse_conn_close`, `wse_conn_close_info`,
/// `wse_conn_is_closed`, `wse_conn_path`, `wse_conn_query`, `wse_conn_header`,
/// `wse_conn_subprotocol`, `wse_conn_extensions`, `wse_conn_peer_addr`, `wse_conn_send_queue_len`,
/// `wse_conn_retain`, `wse_conn_free`.
pub struct wse_conn {
    _private: [u8; 0],
}

impl Handle for wse_conn {
    type Rust = CConn;
    type Ownership = Shared;
}

/// What a `wse_conn` points at: the connection, and what the C API itself
/// remembers about it. The engine keeps no binding's state; each binding
/// wraps the connection with its own (as the Python crate does).
///
/// Every handle on one connection is the same `CConn`: `wse_server_accept`
/// and `wse_client_connect` make it, `wse_conn_poll` events share the
/// polled one, and a poll-mode server keeps one per open connection
/// (`CServer`), so pointers compare equal across events.
pub(crate) struct CConn {
    pub(crate) conn: Arc<Conn>,
    /// `wse_conn_poll` has handed out this connection's closed event.
    close_reported: AtomicBool,
}

impl CConn {
    pub(crate) fn new(conn: Arc<Conn>) -> Arc<CConn> {
        Arc::new(CConn {
            conn,
            close_reported: AtomicBool::new(false),
        })
    }

    /// `true` the first time only: the close is reported as an event once.
    fn report_close(&self) -> bool {
        !self.close_reported.swap(true, Ordering::AcqRel)
    }
}

/// Who initiated a close.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wse_close_initiator {
    /// This side: the application, server shutdown, or the library
    /// enforcing a rule (the reason says which).
    Local = 1,
    /// The peer sent the first close frame.
    Peer = 2,
    /// Nobody: the TCP connection failed or the peer went silent (code 1006).
    Transport = 3,
}

/// How a connection closed, from `wse_conn_close_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wse_close_info {
    /// The close code (1005: the peer sent none; 1006: no close handshake).
    pub code: u16,
    /// The peer's close frame arrived and nothing failed.
    pub clean: bool,
    /// Who started the close.
    pub initiator: wse_close_initiator,
    /// The reason, NUL-terminated UTF-8 (at most 123 bytes).
    pub reason: [c_char; 124],
}

/// The connection behind `conn`; NULL is `WSE_RESULT_NULL_PARAMETER`.
pub(crate) fn conn_ref<'a>(conn: *const wse_conn) -> Result<&'a Conn, wse_result> {
    conn_opt(conn).ok_or_else(|| null("conn"))
}

/// The connection behind `conn`, or `None` for NULL (not an error: the
/// last-error message is left alone).
pub(crate) fn conn_opt<'a>(conn: *const wse_conn) -> Option<&'a Conn> {
    borrow(conn).map(|c: &CConn| &*c.conn)
}

fn done(result: crate::Result<()>) -> wse_result {
    match result {
        Ok(()) => wse_result::Ok,
        Err(e) => fail(&e),
    }
}

pub(super) fn text_message(data: *const c_char, len: usize) -> Result<Message, wse_result> {
    let raw = bytes(data.cast(), len, "data")?;
    match std::str::from_utf8(raw) {
        Ok(s) => Ok(Message::Text(s.to_owned())),
        Err(e) => {
            set_last_error(
                &format!("text is not UTF-8 (at byte {})", e.valid_up_to()),
                0,
            );
            Err(wse_result::InvalidUtf8)
        }
    }
}

pub(super) fn binary_message(data: *const u8, len: usize) -> Result<Message, wse_result> {
    Ok(Message::Binary(bytes(data, len, "data")?.to_vec()))
}

/// The body of every `wse_conn_*send*`: check the handle, build the
/// message, queue it with `send` (`Conn::send` or `Conn::try_send`).
fn send_with(
    conn: *const wse_conn,
    message: Result<Message, wse_result>,
    send: fn(&Conn, Message) -> crate::Result<()>,
) -> wse_result {
    let conn = try_rc!(conn_ref(conn));
    done(send(conn, try_rc!(message)))
}

/// The body of the string getters: look `field` up on the connection and
/// copy it into the caller's buffer, or `WSE_RESULT_NOT_FOUND` if absent.
pub(crate) fn copy_field(
    conn: *const wse_conn,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
    field: impl for<'c> FnOnce(&'c Conn) -> Option<Cow<'c, str>>,
) -> wse_result {
    match conn_ref(conn) {
        Ok(c) => match field(c) {
            Some(text) => copy_str(&text, buf, len, out_n),
            None => wse_result::NotFound,
        },
        Err(rc) => rc,
    }
}

/// Send `len` bytes of UTF-8 text (copied; no NUL needed), applying the
/// configured overflow policy if the send queue is full.
///
/// `WSE_RESULT_OK` means the message is queued; it is written unless the
/// connection fails first.
/// Ownership: the bytes are copied before this returns; `data` stays the caller's.
/// Thread safety: any thread, concurrently with any other call on `conn`.
/// Errors: `WSE_RESULT_INVALID_UTF8`; `WSE_RESULT_CLOSED` once a close has
/// started; `WSE_RESULT_TIMEOUT` or `WSE_RESULT_QUEUE_FULL` (by policy);
/// `WSE_RESULT_NULL_PARAMETER` (`data` may be NULL only when `len` is 0).
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_send_text(
    conn: *const wse_conn,
    data: *const c_char,
    len: usize,
) -> wse_result {
    ffi_boundary! { send_with(conn, text_message(data, len), |c, m| c.send(m)) }
}

/// Send `len` bytes of binary data (copied), applying the configured
/// overflow policy if the send queue is full.
///
/// Ownership: the bytes are copied before this returns; `data` stays the caller's.
/// Thread safety: any thread, concurrently with any other call on `conn`.
/// Errors: as `wse_conn_send_text`, without `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_send_binary(
    conn: *const wse_conn,
    data: *const u8,
    len: usize,
) -> wse_result {
    ffi_boundary! { send_with(conn, binary_message(data, len), |c, m| c.send(m)) }
}

/// Queue text only if there is room now (never waits, whatever the policy).
///
/// Ownership: the bytes are copied before this returns; `data` stays the caller's.
/// Thread safety: any thread, concurrently with any other call on `conn`.
/// Errors: `WSE_RESULT_QUEUE_FULL`; otherwise as `wse_conn_send_text`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_try_send_text(
    conn: *const wse_conn,
    data: *const c_char,
    len: usize,
) -> wse_result {
    ffi_boundary! { send_with(conn, text_message(data, len), |c, m| c.try_send(m)) }
}

/// Queue binary data only if there is room now (never waits).
///
/// Ownership: the bytes are copied before this returns; `data` stays the caller's.
/// Thread safety: any thread, concurrently with any other call on `conn`.
/// Errors: `WSE_RESULT_QUEUE_FULL`; otherwise as `wse_conn_send_binary`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_try_send_binary(
    conn: *const wse_conn,
    data: *const u8,
    len: usize,
) -> wse_result {
    ffi_boundary! { send_with(conn, binary_message(data, len), |c, m| c.try_send(m)) }
}

/// Send a ping with up to 125 bytes of payload, ahead of queued messages.
/// The engine answers the peer's pings by itself.
///
/// Ownership: the bytes are copied before this returns; `data` stays the caller's.
/// Thread safety: any thread, concurrently with any other call on `conn`.
/// Errors: `WSE_RESULT_INVALID_ARGUMENT` (over 125 bytes);
/// `WSE_RESULT_QUEUE_FULL`; `WSE_RESULT_CLOSED`; `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_ping(conn: *const wse_conn, data: *const u8, len: usize) -> wse_result {
    ffi_boundary! {
        let conn = try_rc!(conn_ref(conn));
        done(conn.ping(try_rc!(bytes(data, len, "data"))))
    }
}

/// Wait up to `timeout_ms` for the next message.
///
/// Every message that arrived before the connection closed is delivered
/// before this reports `WSE_RESULT_CLOSED`. While more messages wait behind
/// the one returned, what the calling thread then sends on `conn` is
/// gathered and written in one write when it calls this again and nothing
/// waits, or at most 1 ms later if it does not call again.
///
/// Ownership: on `WSE_RESULT_OK`, `*msg_out` is a new message owned by the
/// caller; release it with `wse_message_free`. Otherwise it is unchanged.
/// Thread safety: any thread; several may receive at once, each message
/// goes to one of them.
/// Errors: `WSE_RESULT_TIMEOUT`; `WSE_RESULT_CLOSED` (see
/// `wse_conn_close_info`); `WSE_RESULT_INVALID_ARGUMENT` on a poll-mode
/// server's connection (use `wse_server_poll`); `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_recv(
    conn: *const wse_conn,
    timeout_ms: u32,
    msg_out: *mut *mut wse_message,
) -> wse_result {
    ffi_boundary! {
        let conn = try_rc!(conn_ref(conn));
        if msg_out.is_null() {
            return null("msg_out");
        }
        let received = match timeout_ms {
            0 => conn.try_recv().and_then(|m| m.ok_or(Error::Timeout)),
            ms => conn.recv_timeout(timeout(ms)),
        };
        match received {
            Ok(m) => {
                write_out(msg_out, into_box::<wse_message>(m));
                wse_result::Ok
            }
            Err(e) => fail(&e),
        }
    }
}

/// The next event of a client connection (or an accepted one): a message
/// (`WSE_EVENT_KIND_MESSAGE`) or, once, its close (`WSE_EVENT_KIND_CLOSED`),
/// waiting up to `timeout_ms`. The same event API as `wse_server_poll`, for
/// a game loop that drives a client once per frame.
///
/// Ownership: on `WSE_RESULT_OK`, `*event_out` is a new event owned by the
/// caller; release it with `wse_event_free`. Otherwise it is unchanged.
/// Thread safety: any thread.
/// Errors: `WSE_RESULT_TIMEOUT` (no event); `WSE_RESULT_CLOSED` after the
/// close event was delivered; `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_poll(
    conn: *const wse_conn,
    timeout_ms: u32,
    event_out: *mut *mut wse_event,
) -> wse_result {
    ffi_boundary! {
        let Some(c) = borrow(conn) else { return null("conn") };
        if event_out.is_null() {
            return null("event_out");
        }
        let received = match timeout_ms {
            0 => c.conn.try_recv().and_then(|m| m.ok_or(Error::Timeout)),
            ms => c.conn.recv_timeout(timeout(ms)),
        };
        // The event holds its own reference to this very handle.
        let Some(handle) = clone_arc(conn) else { return null("conn") };
        let engine = Arc::clone(&c.conn);
        let event = match received {
            Ok(m) => ServerEvent::Message(engine, m),
            Err(Error::ConnectionClosed(info)) => {
                if !c.report_close() {
                    return fail(&Error::ConnectionClosed(info));
                }
                ServerEvent::Closed(engine, *info)
            }
            Err(e) => return fail(&e),
        };
        write_out(event_out, into_box::<wse_event>(CEvent::Conn { conn: handle, event }));
        wse_result::Ok
    }
}

/// Start the close handshake with `code` and `reason` (NUL-terminated, at
/// most 123 bytes; NULL for none). Queued messages are sent first; the
/// connection is torn down when the peer answers or after the close timeout.
/// Does not free `conn`.
///
/// Ownership: does not free `conn`; `reason` is copied.
/// Thread safety: any thread, any number of times.
/// Errors: `WSE_RESULT_CLOSED` if a close had already started (closing is
/// idempotent: nothing else happens); `WSE_RESULT_INVALID_ARGUMENT` for a
/// code that may not be sent (only 1000-1003, 1007-1014, 3000-4999) or a
/// reason over 123 bytes; `WSE_RESULT_INVALID_UTF8`; `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_close(
    conn: *const wse_conn,
    code: u16,
    reason: *const c_char,
) -> wse_result {
    ffi_boundary! {
        let conn = try_rc!(conn_ref(conn));
        let reason = if reason.is_null() {
            ""
        } else {
            try_rc!(c_str(reason, "reason"))
        };
        match conn.close(code, reason) {
            Ok(true) => wse_result::Ok,
            Ok(false) => wse_result::Closed,
            Err(e) => fail(&e),
        }
    }
}

/// How the connection closed (or is closing): code, reason, initiator and
/// whether it was clean.
///
/// Ownership: `*info_out` is the caller's struct, written on success.
/// Thread safety: any thread.
/// Errors: `WSE_RESULT_NOT_CLOSED` while no close has started;
/// `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_close_info(
    conn: *const wse_conn,
    info_out: *mut wse_close_info,
) -> wse_result {
    ffi_boundary! {
        let conn = try_rc!(conn_ref(conn));
        if info_out.is_null() {
            return null("info_out");
        }
        let Some(info) = conn.close_info() else { return wse_result::NotClosed };
        let mut reason = [0 as c_char; 124];
        for (dst, src) in reason.iter_mut().zip(truncate_reason(&info.reason).bytes()) {
            *dst = src as c_char;
        }
        let initiator = match info.initiator {
            CloseInitiator::Local => wse_close_initiator::Local,
            CloseInitiator::Peer => wse_close_initiator::Peer,
            CloseInitiator::Transport => wse_close_initiator::Transport,
        };
        write_out(info_out, wse_close_info { code: info.code.0, clean: info.clean, initiator, reason });
        wse_result::Ok
    }
}

/// Whether a close has started (nothing more can be sent); true for NULL.
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread.
/// Errors: none (NULL counts as closed).
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_is_closed(conn: *const wse_conn) -> bool {
    ffi_boundary! { conn_opt(conn).is_none_or(Conn::is_closed) }
}

/// Copy the request path (without the query) into `buf`, NUL-terminated.
/// For a client connection, the path it requested.
///
/// Ownership: `buf` and `out_n` are the caller's; nothing is allocated.
/// Thread safety: any thread.
/// Errors: `WSE_RESULT_BUFFER_TOO_SMALL` (then `*out_n` is the size
/// needed); `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_path(
    conn: *const wse_conn,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    ffi_boundary! { copy_field(conn, buf, len, out_n, |c| Some(c.request().path.as_str().into())) }
}

/// Copy the query string (without `?`) into `buf`, NUL-terminated.
///
/// Ownership: `buf` and `out_n` are the caller's; nothing is allocated.
/// Thread safety: any thread.
/// Errors: `WSE_RESULT_NOT_FOUND` if the request had no query;
/// `WSE_RESULT_BUFFER_TOO_SMALL`; `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_query(
    conn: *const wse_conn,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    ffi_boundary! { copy_field(conn, buf, len, out_n, |c| c.request().query.as_deref().map(Into::into)) }
}

/// Copy the value of the first header called `name` (case-insensitive)
/// into `buf`, NUL-terminated. Server side: the client's request headers;
/// client side: the server's response headers.
///
/// Ownership: `buf` and `out_n` are the caller's; nothing is allocated.
/// Thread safety: any thread.
/// Errors: `WSE_RESULT_NOT_FOUND`; `WSE_RESULT_BUFFER_TOO_SMALL`;
/// `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8` for the name.
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_header(
    conn: *const wse_conn,
    name: *const c_char,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    ffi_boundary! {
        let name = try_rc!(c_str(name, "name"));
        copy_field(conn, buf, len, out_n, |c| c.request().header(name).map(Into::into))
    }
}

/// Copy the negotiated extensions into `buf`, NUL-terminated, in
/// `Sec-WebSocket-Extensions` form with every parameter spelled out (e.g.
/// `permessage-deflate; server_max_window_bits=12; client_max_window_bits=12`).
///
/// Ownership: `buf` and `out_n` are the caller's; nothing is allocated.
/// Thread safety: any thread.
/// Errors: `WSE_RESULT_NOT_FOUND` if no extension was negotiated;
/// `WSE_RESULT_BUFFER_TOO_SMALL`; `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_extensions(
    conn: *const wse_conn,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    ffi_boundary! {
        copy_field(conn, buf, len, out_n, |c| c.compression().map(|d| d.to_string().into()))
    }
}

/// Copy the negotiated subprotocol into `buf`, NUL-terminated.
///
/// Ownership: `buf` and `out_n` are the caller's; nothing is allocated.
/// Thread safety: any thread.
/// Errors: `WSE_RESULT_NOT_FOUND` if none was negotiated;
/// `WSE_RESULT_BUFFER_TOO_SMALL`; `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_subprotocol(
    conn: *const wse_conn,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    ffi_boundary! { copy_field(conn, buf, len, out_n, |c| c.subprotocol().map(Into::into)) }
}

/// A number that identifies the connection in the process, never reused;
/// the same for every handle on it (a key for per-connection data in poll
/// loops). 0 for NULL.
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread.
/// Errors: none (NULL gives 0).
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_id(conn: *const wse_conn) -> u64 {
    ffi_boundary! { conn_opt(conn).map_or(0, Conn::id) }
}

/// Copy the peer's address (`203.0.113.7:51234` or `[::1]:51234`) into
/// `buf`, NUL-terminated.
///
/// Ownership: `buf` and `out_n` are the caller's; nothing is allocated.
/// Thread safety: any thread.
/// Errors: `WSE_RESULT_BUFFER_TOO_SMALL`; `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_peer_addr(
    conn: *const wse_conn,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    ffi_boundary! { copy_field(conn, buf, len, out_n, |c| Some(c.peer_addr().to_string().into())) }
}

/// Messages queued for sending and not yet taken by the writer; 0 for NULL.
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread.
/// Errors: none (NULL gives 0).
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_send_queue_len(conn: *const wse_conn) -> usize {
    ffi_boundary! { conn_opt(conn).map_or(0, Conn::send_queue_len) }
}

/// Take another reference to `conn` (for example, to keep a connection
/// from an event after freeing the event). Returns `conn` itself, now with
/// one more owner; each reference is released with its own `wse_conn_free`.
///
/// Ownership: the caller owns the returned reference.
/// Thread safety: any thread.
/// Errors: NULL if `conn` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_retain(conn: *const wse_conn) -> *mut wse_conn {
    ffi_boundary! {
        match clone_arc(conn) {
            Some(arc) => into_arc::<wse_conn>(arc).cast_mut(),
            None => std::ptr::null_mut(),
        }
    }
}

/// Release a reference to a connection. Releasing the last reference of
/// an open connection (outside a poll-mode server, which keeps its own)
/// closes it with 1000. Never blocks: the connection's threads finish the
/// close handshake, or give up after the close timeout, on their own.
/// Calling with NULL is fine. Must not be called twice for one reference.
///
/// Ownership: gives this reference back; other references (retained ones, events, a poll-mode server's own) stay valid.
/// Thread safety: any thread, once no other thread uses this reference.
/// Errors: none (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_free(conn: *mut wse_conn) {
    ffi_boundary! { free_arc(conn.cast_const()) }
}
