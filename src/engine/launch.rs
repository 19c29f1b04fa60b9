//! Starting a connection whose opening handshake is done: its lanes, its
//! decoder and encoder state, its writer thread, its timers; the reader is
//! handed back to run on the caller's thread (the handshake thread).

use std::sync::Arc;

use super::conn::{Conn, RequestInfo};
use super::lane::{lane, weighed_lane};
use super::reader::{Reader, Sink};
use super::shared::Shared;
use super::spawn::{prefer_batching, spawn_detached};
use super::transport::Transport;
use super::writer;
use crate::config::Config;
use crate::error::Error;
use crate::protocol::{CloseCode, CloseInitiator, Decoder, Role};

/// Capacity of the control lane (pings and pongs waiting for the writer).
const CONTROL_LANE: usize = 16;

/// A connection whose opening handshake is done.
pub(crate) struct Upgraded {
    /// Its id (`shared::next_id`), taken when it was accepted or dialled.
    pub(crate) id: u64,
    pub(crate) stream: Transport,
    pub(crate) role: Role,
    pub(crate) info: RequestInfo,
    /// Bytes that arrived with the handshake and already belong to frames.
    pub(crate) leftover: Vec<u8>,
}

/// Why [`establish`] failed (a thread could not start), with the stream
/// back if it could be recovered, so a server can still answer 503.
pub(crate) struct Unestablished {
    pub(crate) error: std::io::Error,
    pub(crate) stream: Option<Transport>,
}

impl From<Unestablished> for Error {
    fn from(u: Unestablished) -> Error {
        Error::Io(u.error)
    }
}

/// Set up a connection whose handshake is done: spawn its writer thread and
/// return the handle and the reader (to run on the caller's thread or a new
/// one). `guard` is held by both threads and dropped when they exit.
pub(crate) fn establish(
    upgraded: Upgraded,
    config: Arc<Config>,
    guard: Arc<dyn Send + Sync>,
    polled: bool,
) -> Result<(Conn, Reader), Unestablished> {
    let Upgraded {
        id,
        stream,
        role,
        info,
        leftover,
    } = upgraded;
    // Lanes allocate as messages arrive: an idle connection's queues cost
    // next to nothing (see `lane.rs`).
    let (out_tx, out_rx) = weighed_lane(config.send_queue_capacity, config.send_queue_bytes);
    // A polled connection's messages go to the server's hub (the reader is
    // pointed there by `Reader::deliver_to`); its own queue stays empty.
    let (sink, in_rx) = if polled {
        (Sink::Pending, None)
    } else {
        let (in_tx, in_rx) = lane(config.recv_queue_capacity);
        (Sink::Queue(in_tx), Some(in_rx))
    };
    let (ctrl_tx, ctrl_rx) = lane(CONTROL_LANE);
    let stack = config.thread_stack_size;
    let mut decoder = Decoder::new(role, config.decoder_limits());
    let mut compressor = None;
    if let Some(agreed) = &info.compression {
        decoder.set_decompressor(agreed.decompressor(role));
        compressor = agreed.compressor(role, &config.deflate);
    }
    let shared = Arc::new(Shared::new(id, role, stream, config, ctrl_tx));
    shared.outbox.set_compressor(compressor);
    let writer_shared = Arc::clone(&shared);
    let writer_guard = Arc::clone(&guard);
    let spawned = spawn_detached("wsengine-write", stack, move || {
        if writer_shared.config.batch_scheduling {
            prefer_batching();
        }
        let _guard = writer_guard;
        let s = Arc::clone(&writer_shared);
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            writer::run(s, out_rx, ctrl_rx)
        }))
        .is_err()
        {
            writer_shared.kill(
                CloseCode::INTERNAL_ERROR,
                "internal error: writer panicked",
                CloseInitiator::Local,
            );
        }
    });
    if let Err(error) = spawned {
        // The failed spawn dropped its handle: the stream is ours again.
        let stream = Arc::try_unwrap(shared).ok().map(|s| s.transport);
        return Err(Unestablished { error, stream });
    }
    shared.start_timers();
    let reader = Reader {
        shared: Arc::clone(&shared),
        decoder,
        sink,
        leftover,
        _guard: guard,
    };
    let conn = Conn::new(shared, out_tx, in_rx, info);
    Ok((conn, reader))
}
