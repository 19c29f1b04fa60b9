//! Servers: bind, accept or poll, shut down.

use std::collections::HashMap;
use std::ffi::c_char;
use std::sync::Arc;

use parking_lot::Mutex;

use super::boundary::ffi_boundary;
use super::config::wse_config;
use super::conn::{CConn, wse_conn};
use super::event::{CEvent, wse_event};
use super::handles::{
    Handle, Owned, borrow, c_str, into_arc, into_box, null, take_box, try_rc, write_out,
};
use super::result::{fail, wse_result};
use super::timeout;
use super::upgrade::CUpgrade;
use crate::config::Config;
use crate::engine::{Server, ServerEvent};
use crate::error::Error;

/// A listening WebSocket server. Its connection threads accept TCP
/// connections, and each runs its connection's handshake and reads.
///
/// Methods: `wse_server_bind`, `wse_server_accept`, `wse_server_poll`,
/// `wse_server_local_port`, `wse_server_connection_count`,
/// `wse_server_shutdown`, `wse_server_free`.
pub struct wse_server {
    _private: [u8; 0],
}

impl Handle for wse_server {
    type Rust = CServer;
    type Ownership = Owned;
}

/// What a `wse_server` points at: the server and, in poll mode, the C
/// handle of each open connection, so every event of one connection lends
/// out the same `wse_conn` (as the Python binding keeps its `Connection`s).
pub(crate) struct CServer {
    pub(crate) server: Server,
    /// Open connections of a poll-mode server by id, from their `Open`
    /// event to their `Closed` event.
    handles: Mutex<HashMap<u64, Arc<CConn>>>,
}

impl CServer {
    pub(crate) fn new(server: Server) -> CServer {
        CServer {
            server,
            handles: Mutex::new(HashMap::new()),
        }
    }

    /// The C event for `event`, with the C handle of its connection.
    fn c_event(&self, event: ServerEvent) -> CEvent {
        if let ServerEvent::UpgradeRequest(pending) = event {
            return CEvent::Upgrade(Box::new(CUpgrade::pending(pending)));
        }
        let Some(conn) = event.conn() else {
            unreachable!("every other event has a connection")
        };
        let mut handles = self.handles.lock();
        let made = || CConn::new(Arc::clone(conn));
        let conn = match event {
            ServerEvent::Closed(..) => handles.remove(&conn.id()).unwrap_or_else(made),
            _ => Arc::clone(handles.entry(conn.id()).or_insert_with(made)),
        };
        CEvent::Conn { conn, event }
    }
}

/// The server behind `server`, or `None` for NULL.
pub(super) fn server_ref<'a>(server: *const wse_server) -> Option<&'a Server> {
    borrow(server).map(|s: &CServer| &s.server)
}

/// Listen on `addr` ("127.0.0.1:9001"; port 0 picks a free port) and start
/// accepting connections.
///
/// `config` may be NULL for the defaults; the server keeps its own copy.
/// With `wse_config_builder_set_poll_events`, connections and messages
/// arrive through `wse_server_poll`; otherwise through `wse_server_accept`
/// and `wse_conn_recv`.
///
/// Ownership: on `WSE_RESULT_OK`, `*server_out` is a new server owned by the
/// caller; release it with `wse_server_free`. Otherwise it is unchanged.
/// Thread safety: any thread.
/// Errors: `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8`;
/// `WSE_RESULT_IO` (the address cannot be bound, threads cannot start);
/// `WSE_RESULT_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_server_bind(
    addr: *const c_char,
    config: *const wse_config,
    server_out: *mut *mut wse_server,
) -> wse_result {
    ffi_boundary! { start(addr, config, server_out, |addr, config| Server::bind(addr, config)) }
}

/// The body of `wse_server_bind` and `wse_server_serve`: check the
/// arguments, start the server with `how`, hand it out.
pub(super) fn start(
    addr: *const c_char,
    config: *const wse_config,
    server_out: *mut *mut wse_server,
    how: impl FnOnce(&str, Config) -> crate::Result<Server>,
) -> wse_result {
    let addr = try_rc!(c_str(addr, "addr"));
    if server_out.is_null() {
        return null("server_out");
    }
    let config = borrow(config).cloned().unwrap_or_else(Config::default);
    match how(addr, config) {
        Ok(server) => {
            write_out(server_out, into_box::<wse_server>(CServer::new(server)));
            wse_result::Ok
        }
        Err(e) => fail(&e),
    }
}

/// Wait up to `timeout_ms` for the next open connection.
///
/// Ownership: on `WSE_RESULT_OK`, `*conn_out` is a new connection owned by
/// the caller; release it with `wse_conn_free` (which closes it with 1000
/// if it is still open). Otherwise `*conn_out` is unchanged.
/// Thread safety: any thread; several threads may accept at once, each
/// connection goes to one of them.
/// Errors: `WSE_RESULT_TIMEOUT`; `WSE_RESULT_SERVER_SHUTDOWN`;
/// `WSE_RESULT_INVALID_ARGUMENT` for a poll-mode server;
/// `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_server_accept(
    server: *const wse_server,
    timeout_ms: u32,
    conn_out: *mut *mut wse_conn,
) -> wse_result {
    ffi_boundary! {
        let Some(server) = server_ref(server) else { return null("server") };
        if conn_out.is_null() {
            return null("conn_out");
        }
        let accepted = match timeout_ms {
            0 => server.try_accept().and_then(|c| c.ok_or(Error::Timeout)),
            ms => server.accept_timeout(timeout(ms)),
        };
        match accepted {
            Ok(conn) => {
                write_out(conn_out, into_arc::<wse_conn>(CConn::new(Arc::new(conn))).cast_mut());
                wse_result::Ok
            }
            Err(e) => fail(&e),
        }
    }
}

/// The next event of a poll-mode server, waiting up to `timeout_ms`.
///
/// A game loop calls `wse_server_poll(server, WSE_TIMEOUT_NONE, &ev)` until
/// it returns `WSE_RESULT_TIMEOUT`, once per frame, on its own thread. The
/// answer to a peer's close is sent after the replies of the frame in which
/// the connection's last message was taken.
///
/// Ownership: on `WSE_RESULT_OK`, `*event_out` is a new event owned by the
/// caller; release it with `wse_event_free`. Otherwise it is unchanged.
/// Thread safety: any thread; each event goes to one caller.
/// Errors: `WSE_RESULT_TIMEOUT` (no event); `WSE_RESULT_SERVER_SHUTDOWN`
/// once shut down and drained; `WSE_RESULT_INVALID_ARGUMENT` if the server
/// is not in poll mode; `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_server_poll(
    server: *const wse_server,
    timeout_ms: u32,
    event_out: *mut *mut wse_event,
) -> wse_result {
    ffi_boundary! {
        let Some(c) = borrow(server) else { return null("server") };
        if event_out.is_null() {
            return null("event_out");
        }
        match c.server.poll(timeout(timeout_ms)) {
            Ok(Some(event)) => {
                write_out(event_out, into_box::<wse_event>(c.c_event(event)));
                wse_result::Ok
            }
            Ok(None) => wse_result::Timeout,
            Err(e) => fail(&e),
        }
    }
}

/// The TCP port the server listens on (useful after binding port 0); 0 for NULL.
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread.
/// Errors: none (NULL gives 0).
#[unsafe(no_mangle)]
pub extern "C" fn wse_server_local_port(server: *const wse_server) -> u16 {
    ffi_boundary! { server_ref(server).map_or(0, |s| s.local_addr().port()) }
}

/// Connections open or in their handshake right now; 0 for NULL.
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread.
/// Errors: none (NULL gives 0).
#[unsafe(no_mangle)]
pub extern "C" fn wse_server_connection_count(server: *const wse_server) -> usize {
    ffi_boundary! { server_ref(server).map_or(0, Server::connection_count) }
}

/// Shut down: stop accepting, close every connection with 1001 (going
/// away), and wait until their threads have exited (about the close
/// timeout at most). Blocked accepts and polls return
/// `WSE_RESULT_SERVER_SHUTDOWN`. Idempotent. The handle stays valid until
/// `wse_server_free`.
///
/// Ownership: does not free `server`.
/// Thread safety: any thread.
/// Errors: `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_server_shutdown(server: *const wse_server) -> wse_result {
    ffi_boundary! {
        let Some(server) = server_ref(server) else { return null("server") };
        server.shutdown();
        wse_result::Ok
    }
}

/// Shut the server down (as `wse_server_shutdown`) and free it. Calling
/// with NULL is fine. Must not be called twice, nor while another thread
/// is still using `server`. Connections handed out stay valid handles
/// (closed) until their own `wse_conn_free`.
///
/// Ownership: gives the server back and closes its listener.
/// Thread safety: no other thread may use `server` during or after this.
/// Errors: none (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn wse_server_free(server: *mut wse_server) {
    ffi_boundary! { drop(take_box(server)); }
}
