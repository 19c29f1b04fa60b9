//! The threaded engine: sockets, threads, channels, timers.
//!
//! # Thread map
//!
//! ```text
//!  Server::bind ── connection threads waiting in accept() (pool.rs) ──┐
//!                     one of them per TCP connection, which becomes: ▼
//!   reader thread: upgrade handshake (with a deadline), then
//!                  socket ─> Decoder ─> inbound channel (bounded) ─> Conn::recv
//!                                    (or the server's event FIFO ─> Server::poll,
//!                                     or the handler, called right here: Server::serve)
//!                  pings ─> control lane ─┐      close frames ─> lifecycle
//!   writer thread: control lane (first) ──┴─> Encoder ─> socket (vectored writes)
//!   (started when    data lane (bounded) <── Conn::send, broadcasts (when busy)
//!   a frame waits)
//!   any sending thread: Conn::send, broadcasts, pings, pongs, our close
//!                  frame ─> Encoder ─> socket (when idle)
//!   timer thread (one per process): close deadlines, keepalive pings, idle timeouts
//! ```
//!
//! A sender writes its frame itself when the connection is idle (nothing
//! queued, nothing being written): no other thread wakes. Otherwise the
//! frame waits on the data lane and the writer thread batches (`outbox.rs`).
//! That thread starts the first time a frame has to wait (`shared::Writer`):
//! a connection that never needs it costs one thread.
//!
//! The reader owns the decoder and the writer owns the encoder; they share
//! only the connection's shared state (`shared.rs`), whose close state
//! machine (`lifecycle.rs`) decides once how the connection ends. Every
//! wait in the engine is on a bounded channel or a socket, and every one of
//! them is woken when the connection is torn down, so no thread is left
//! blocked and none outlives its connection by more than the close timeout.
//!
//! # Module map
//!
//! Listed bottom-up: each file uses only files above it (the test command
//! checks that there is no import cycle: `scripts/check-engine-layers.py`).
//!
//! | File | Concern |
//! |------|---------|
//! | `sys.rs`, `spawn.rs`, `pool.rs`, `capacity.rs` | the platform: `sendmsg`, tuned threads that accept for themselves and are kept for reuse, descriptor limits |
//! | `recycle.rs` | large message buffers kept for reuse, bounded process-wide |
//! | `lane.rs`, `signal.rs` | bounded queues (places and bytes), one-shot wake-ups |
//! | `tls_stream.rs` | one TLS session shared by a connection's reader and writers |
//! | `transport.rs` | the byte stream under a connection: TCP or TLS |
//! | `lifecycle.rs` | the close state machine: phases, transitions, the actions they ask for |
//! | `keepalive.rs`, `timer.rs` | ping/idle rules as pure functions; the one timer thread |
//! | `outbox.rs` | what the send lanes carry; batching and direct writes over the encoder |
//! | `shared.rs` | one connection's state shared by its threads; applies lifecycle actions |
//! | `conn.rs` | `Conn`, the application's handle: send, recv, close |
//! | `upgrade.rs` | the application's verdict on an upgrade request: hook, pending event |
//! | `handler.rs` | handler mode: the application's calls on each connection's reader thread |
//! | `writer.rs`, `reader.rs` | the two threads of a connection (the writer started when needed) |
//! | `events.rs` | poll mode: the server's event FIFO |
//! | `launch.rs` | starting a connection whose handshake is done |
//! | `tunnel.rs` | the client's way to the server: every address in turn, HTTP and SOCKS5 proxies |
//! | `head.rs`, `client.rs` | the client: reading the response head, `connect` |
//! | `reconnect.rs` | `Client`: a client that reconnects by its policy, one supervisor thread |
//! | `registry.rs` | a server's one registry: every connection by id, handshake to teardown, with its groups |
//! | `groups.rs` | broadcast groups over the registry; broadcasting through the one send path |
//! | `server.rs` | admitting connections, handshakes, plain HTTP routes, shutdown |

// Safe code only, except `spawn.rs` (calls into pthreads, `madvise` and
// `sched_setscheduler`, each with its SAFETY note) and `sys.rs` (one
// `sendmsg`, one `poll`, one `shutdown` and one `setsockopt` of a
// listening socket).
#![deny(unsafe_code)]

mod capacity;
mod client;
mod conn;
mod events;
mod groups;
mod handler;
mod head;
mod inbox;
mod keepalive;
mod lane;
mod launch;
mod lifecycle;
mod outbox;
mod pool;
mod reader;
mod reconnect;
mod recycle;
mod registry;
mod server;
mod shared;
mod signal;
mod spawn;
mod sys;
mod timer;
mod tls_stream;
mod transport;
mod tunnel;
mod upgrade;
mod writer;

pub use crate::protocol::{CloseInfo, CloseInitiator};
pub use client::connect;
pub use conn::{Conn, ConnData, RequestInfo};
pub use events::ServerEvent;
pub use groups::{Audience, BroadcastReport, Groups, MAX_GROUP_NAME};
pub use handler::Handler;
pub use reconnect::{Client, ClientEvent};
pub use recycle::recycle;
pub use server::Server;
pub use upgrade::{PendingUpgrade, UpgradeHook, Verdict};
