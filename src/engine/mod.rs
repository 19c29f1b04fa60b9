//! The threaded engine: sockets, threads, channels, timers.
//!
//! # Thread map
//!
//! ```text
//!  Server::bind ── listener thread ── accept() ──┐ per TCP connection:
//!                                                 ▼
//!   reader thread: upgrade handshake (with a deadline), then
//!                  socket ─> Decoder ─> inbound channel (bounded) ─> Conn::recv
//!                  pings ─> control lane ─┐      close frames ─> close guard
//!   writer thread: control lane (first) ──┴─> Encoder ─> socket (vectored writes)
//!                  data lane (bounded) <── Conn::send, broadcasts (when busy)
//!   any sending thread: Conn::send, broadcasts ─> Encoder ─> socket (when idle)
//!   timer thread (one per process): close deadlines, keepalive pings, idle timeouts
//! ```
//!
//! A sender writes its frame itself when the connection is idle (nothing
//! queued, nothing being written): no other thread wakes. Otherwise the
//! frame waits on the data lane and the writer thread batches (`writer.rs`).
//!
//! The reader owns the decoder and the writer owns the encoding; they share
//! only the connection's shared state (`shared.rs`), whose close guard decides
//! once how the connection ends. Every wait in the engine is on a bounded
//! channel or a socket, and every one of them is woken when the connection
//! is torn down, so no thread is left blocked and none outlives its
//! connection by more than the close timeout.

// Safe code only, except `spawn.rs` (five documented calls into pthreads)
// and `sys.rs` (one `sendmsg`).
#![deny(unsafe_code)]

mod capacity;
mod client;
mod conn;
mod events;
mod groups;
mod head;
mod keepalive;
mod lane;
mod lifecycle;
mod reader;
mod server;
mod shared;
mod signal;
mod spawn;
mod sys;
mod timer;
mod writer;

pub use crate::protocol::{CloseInfo, CloseInitiator};
pub use client::connect;
pub use conn::{Conn, RequestInfo};
pub use events::ServerEvent;
pub use groups::{Audience, BroadcastReport, Groups, MAX_GROUP_NAME};
pub use server::Server;
