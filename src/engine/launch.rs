//! Starting a connection whose opening handshake is done: its lanes, its
//! decoder and encoder state, what its writer thread needs to start, its
//! timers; the reader is handed back to run on the caller's thread (the
//! handshake thread).

use std::sync::Arc;

use super::conn::{Conn, RequestInfo};
use super::inbox::inbox;
use super::lane::{lane, weighed_lane};
use super::reader::{Reader, Sink};
use super::recycle;
use super::shared::{Shared, WriterParts};
use super::transport::Transport;
use super::writer;
use crate::config::Config;
use crate::protocol::{Decoder, Role};

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

/// Set up a connection whose handshake is done and return the handle and
/// the reader (to run on the caller's thread or a new one). Its writer
/// thread starts when first needed (see `shared::Writer`). `guard` is held
/// by both threads and dropped when they exit.
pub(crate) fn establish(
    upgraded: Upgraded,
    config: Arc<Config>,
    guard: Arc<dyn Send + Sync>,
    polled: bool,
) -> (Conn, Reader) {
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
        let (in_tx, in_rx) = inbox(config.recv_queue_capacity);
        (Sink::Queue(in_tx), Some(in_rx))
    };
    let (ctrl_tx, ctrl_rx) = lane(CONTROL_LANE);
    let mut decoder = Decoder::new(role, config.decoder_limits());
    decoder.set_buffer_source(recycle::take);
    let mut compressor = None;
    if let Some(agreed) = &info.compression {
        decoder.set_decompressor(agreed.decompressor(role));
        compressor = agreed.compressor(role, &config.deflate);
    }
    let writer = WriterParts {
        out_rx,
        ctrl_rx,
        guard: Arc::clone(&guard),
        main: writer::thread_main,
    };
    let shared = Shared::new(id, role, stream, config, ctrl_tx, writer);
    shared.outbox.set_compressor(compressor);
    shared.start_timers();
    let reader = Reader {
        shared: Arc::clone(&shared),
        decoder,
        sink,
        leftover,
        _guard: guard,
    };
    let conn = Conn::new(shared, out_tx, in_rx, info);
    (conn, reader)
}
