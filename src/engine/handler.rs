//! Handler mode: the application's code runs on each connection's own
//! reader thread ([`Server::serve`](crate::Server::serve)).
//!
//! The other two ways hand every message to another thread: `recv` on the
//! application's thread, `poll` on its loop's. Each hand-over is a wake-up
//! (a futex, often a context switch) per burst, and the reply crosses
//! back. A handler is called by the thread that decoded the message, with
//! no engine lock held, and what it sends from there is gathered and
//! written once the bytes read so far are all handled: one write per
//! burst, on a thread that is already awake. The cost is the reader's
//! time: a slow handler delays its own connection (its reading, so TCP
//! slows the peer down) and nobody else's.

use std::sync::Arc;

use super::conn::Conn;
use crate::protocol::{CloseInfo, Message};

/// What a server in handler mode runs for its connections, each call on
/// the reader thread of the connection it is about.
///
/// Calls for one connection come one at a time and in order: `on_open`,
/// then `on_message` for each message as it arrives, then `on_close`.
/// Calls for different connections run at the same time on their own
/// threads, so the handler is `Sync`. No engine lock is held during a
/// call: it may send on, close, or broadcast to any connection, block,
/// or take its own locks.
///
/// Sending on `conn` from inside a call goes out when the call's burst of
/// input is handled (see the module docs of `handler.rs`): in order with
/// everything else sent on `conn`, and before a close started later.
/// Limits and the overflow policy apply as to any send; a handler that
/// blocks on a full send queue stops its connection's reading meanwhile.
///
/// A panic in a call closes that connection with 1011 (internal error)
/// and no further calls come for it except `on_close`; other connections
/// are not affected. A closure `Fn(&Arc<Conn>, Message)` is a handler
/// with only `on_message`.
pub trait Handler: Send + Sync + 'static {
    /// A connection completed its opening handshake. Nothing has been
    /// read from it yet. Keep `conn` (it is an `Arc`) to send to it later
    /// from any thread. Default: nothing.
    fn on_open(&self, conn: &Arc<Conn>) {
        let _ = conn;
    }

    /// A complete message arrived on `conn`; it is the handler's.
    fn on_message(&self, conn: &Arc<Conn>, message: Message);

    /// `conn` is closed and torn down (`info` says how): the last call for
    /// it. Sends fail from now on. Default: nothing.
    fn on_close(&self, conn: &Arc<Conn>, info: &CloseInfo) {
        let _ = (conn, info);
    }
}

impl<F> Handler for F
where
    F: Fn(&Arc<Conn>, Message) + Send + Sync + 'static,
{
    fn on_message(&self, conn: &Arc<Conn>, message: Message) {
        self(conn, message);
    }
}
