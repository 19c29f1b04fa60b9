//! Handler mode for C: `wse_server_serve` and its callbacks, run on each
//! connection's own reader thread.

use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::boundary::ffi_boundary;
use super::config::wse_config;
use super::conn::{CConn, wse_conn};
use super::handles::{copy_in, into_box, null};
use super::message::wse_message;
use super::result::{fail, wse_result};
use super::server::wse_server;
use crate::engine::{Conn, Handler, Server};
use crate::protocol::{CloseInfo, Message};

/// Called when a connection opens, before anything is read from it.
/// `conn` is borrowed for the call and is the same pointer in every later
/// callback for this connection; keep it past `on_close` only through
/// `wse_conn_retain`.
pub type wse_open_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, conn: *const wse_conn)>;

/// Called for each message. `msg` is the callback's: free it with
/// `wse_message_free`, or send it on (to this or any connection) with
/// `wse_conn_send_message`, which takes it without copying its bytes.
pub type wse_message_fn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, conn: *const wse_conn, msg: *mut wse_message),
>;

/// Called once the connection is closed and torn down: its last callback.
/// `code` and `clean` say how it ended (`wse_conn_close_info` has the
/// reason too).
pub type wse_close_fn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, conn: *const wse_conn, code: u16, clean: bool),
>;

/// The callbacks of a server in handler mode (`wse_server_serve`).
///
/// Each callback runs on the reader thread of the connection it is about,
/// never under a library lock: calls for one connection come one at a time
/// and in order (`on_open`, each message, `on_close`); calls for different
/// connections run at the same time, so `user_data` must allow that.
/// Messages sent on `conn` from inside a callback are written once the
/// burst of input being handled is done: one write for many replies.
/// A callback may send, close, broadcast, or block (which delays only its
/// own connection). `on_open` and `on_close` may be NULL.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct wse_handler {
    /// May be NULL.
    pub on_open: wse_open_fn,
    /// Required.
    pub on_message: wse_message_fn,
    /// May be NULL.
    pub on_close: wse_close_fn,
}

thread_local! {
    /// The C handle of the connection this reader thread serves, made at
    /// `on_open` and dropped at `on_close` (the callbacks of a connection
    /// all run on its reader thread), so every callback lends out the same
    /// pointer without a lock.
    static CURRENT: RefCell<Option<Arc<CConn>>> = const { RefCell::new(None) };
}

/// The engine's handler that calls the C callbacks.
struct CHandler {
    callbacks: wse_handler,
    /// The address as a number: the pointer itself is not `Send`, but the
    /// caller promised it may be used from any thread.
    user_data: usize,
}

impl CHandler {
    /// The C handle for `conn`: the thread's current one (made if it is
    /// not this connection's, which the engine never does).
    fn handle(conn: &Arc<Conn>) -> *const wse_conn {
        CURRENT.with(|current| {
            let mut current = current.borrow_mut();
            if current.as_ref().is_none_or(|c| c.conn.id() != conn.id()) {
                *current = Some(CConn::new(Arc::clone(conn)));
            }
            current
                .as_ref()
                .map_or(std::ptr::null(), |c| Arc::as_ptr(c).cast())
        })
    }
}

impl Handler for CHandler {
    fn on_open(&self, conn: &Arc<Conn>) {
        let handle = Self::handle(conn);
        if let Some(callback) = self.callbacks.on_open {
            // SAFETY: the callback's contract (header): called with its own
            // `user_data` and a connection valid for the call.
            unsafe { callback(self.user_data as *mut c_void, handle) };
        }
    }

    fn on_message(&self, conn: &Arc<Conn>, message: Message) {
        let handle = Self::handle(conn);
        let msg = into_box::<wse_message>(message);
        match self.callbacks.on_message {
            // SAFETY: as above; the message becomes the callback's.
            Some(callback) => unsafe { callback(self.user_data as *mut c_void, handle, msg) },
            None => super::message::wse_message_free(msg),
        }
    }

    fn on_close(&self, conn: &Arc<Conn>, info: &CloseInfo) {
        let handle = Self::handle(conn);
        if let Some(callback) = self.callbacks.on_close {
            // SAFETY: as above.
            unsafe {
                callback(
                    self.user_data as *mut c_void,
                    handle,
                    info.code.0,
                    info.clean,
                )
            };
        }
        // The thread's handle goes (a retained one lives on).
        CURRENT.with(|current| current.borrow_mut().take());
    }
}

/// Listen on `addr` in handler mode: `handler`'s callbacks run on each
/// connection's own reader thread as it opens, as its messages arrive and
/// when it closes (see `wse_handler`); replies sent from them are written
/// once per burst of input. The fastest way to serve: no hand-over to
/// another thread per message. `wse_server_accept` and `wse_server_poll`
/// are not used with it.
///
/// Ownership: `handler` is copied; `user_data` stays the caller's and must
/// stay valid until `wse_server_free` (or `wse_server_shutdown`) returns.
/// On `WSE_RESULT_OK`, `*server_out` is a new server owned by the caller;
/// release it with `wse_server_free`. Otherwise it is unchanged.
/// Thread safety: any thread; the callbacks are called from many threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` (also for a NULL `on_message`);
/// `WSE_RESULT_INVALID_UTF8`; `WSE_RESULT_IO`; `WSE_RESULT_INVALID_ARGUMENT`
/// (also for a configuration with poll events).
#[unsafe(no_mangle)]
pub extern "C" fn wse_server_serve(
    addr: *const c_char,
    config: *const wse_config,
    handler: *const wse_handler,
    user_data: *mut c_void,
    server_out: *mut *mut wse_server,
) -> wse_result {
    ffi_boundary! {
        let Some(callbacks) = copy_in(handler) else {
            return null("handler");
        };
        if callbacks.on_message.is_none() {
            return null("handler->on_message");
        }
        let handler = CHandler { callbacks, user_data: user_data as usize };
        super::server::start(addr, config, server_out, |addr, config| {
            Server::serve(addr, config, handler)
        })
    }
}

/// Send a received message (from `wse_conn_recv`, a handler's
/// `on_message`, or any other), without copying its bytes, applying the
/// configured overflow policy if the send queue is full.
///
/// Ownership: `msg` is taken in every case: sent, or freed if the send
/// fails (the result says it was not sent). Do not use or free it after.
/// It must be a message the caller owns, never one that belongs to an
/// event (`wse_event_message`: send its bytes with `wse_conn_send_binary`
/// or `wse_conn_send_text` instead).
/// Thread safety: any thread, concurrently with any other call on `conn`.
/// Errors: `WSE_RESULT_CLOSED`; `WSE_RESULT_TIMEOUT` or
/// `WSE_RESULT_QUEUE_FULL` (by policy); `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_send_message(
    conn: *const wse_conn,
    msg: *mut wse_message,
) -> wse_result {
    ffi_boundary! {
        let conn = match super::conn::conn_ref(conn) {
            Ok(conn) => conn,
            Err(rc) => {
                // Taken in every case, as promised.
                super::message::wse_message_free(msg);
                return rc;
            }
        };
        let Some(message) = super::handles::take_box(msg) else {
            return null("msg");
        };
        match conn.send(message) {
            Ok(()) => wse_result::Ok,
            Err(e) => {
                let rc = fail(&e);
                if let crate::Error::QueueFull(m) | crate::Error::SendTimeout(m) = e {
                    crate::engine::recycle(m);
                }
                rc
            }
        }
    }
}
