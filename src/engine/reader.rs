//! The reader thread: socket to decoder to the inbound queue; pings are
//! answered through the writer's control lane; close frames go to the guard.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_channel::{Sender, TrySendError, select};

use super::shared::{Control, Shared};
use crate::protocol::{Decoder, Event, Message, ProtocolError};

/// The reading half of a connection, run on its own thread (on a server,
/// the thread that did the handshake).
pub(crate) struct Reader {
    pub(crate) shared: Arc<Shared>,
    pub(crate) in_tx: Sender<Message>,
    /// Bytes that arrived with the handshake and already belong to frames.
    pub(crate) leftover: Vec<u8>,
    /// Held while the reader runs (a server's connection slot).
    pub(crate) _guard: Arc<dyn Send + Sync>,
}

impl Reader {
    /// Read until the connection ends, then tear it down.
    pub(crate) fn run(self) {
        let Reader {
            shared,
            in_tx,
            leftover,
            _guard,
        } = self;
        let mut state = ReadState {
            decoder: Decoder::new(shared.role, shared.config.decoder_limits()),
            in_tx: Some(in_tx),
            shared: &shared,
        };
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| state.read_loop(leftover)));
        let why = match outcome {
            Ok(why) => why,
            Err(_) => {
                shared.fail(
                    crate::CloseCode::INTERNAL_ERROR,
                    "internal error: reader panicked".into(),
                );
                "internal error: reader panicked".into()
            }
        };
        // Record how it ended before `recv` callers wake up to ask.
        shared.finish(&why);
        drop(state);
    }
}

struct ReadState<'a> {
    decoder: Decoder,
    /// `None` once no more messages will be delivered (close or error).
    in_tx: Option<Sender<Message>>,
    shared: &'a Arc<Shared>,
}

impl ReadState<'_> {
    /// Returns why reading ended.
    fn read_loop(&mut self, leftover: Vec<u8>) -> String {
        self.process(&leftover);
        drop(leftover);
        let mut buf = vec![0u8; self.shared.config.read_buffer_size];
        loop {
            let n = match (&self.shared.stream).read(&mut buf) {
                Ok(0) => return "connection closed without a close frame".into(),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return format!("read failed: {e}"),
            };
            self.shared.touch_rx();
            self.process(&buf[..n]);
        }
    }

    /// Decode every complete frame in `data`, in order, before reading again.
    fn process(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.decoder.is_done() {
            match self.decoder.decode(data) {
                Ok((used, event)) => {
                    data = &data[used..];
                    if let Some(event) = event {
                        self.handle(event);
                    }
                }
                Err(e) => self.protocol_error(e),
            }
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Message(m) => self.deliver(m),
            Event::Ping(payload) => {
                if !self.shared.send_closed() {
                    let killed = self.shared.killed.receiver();
                    // A full lane blocks reading: the peer's pings slow down with it.
                    select! {
                        send(self.shared.ctrl_tx, Control::Pong(payload)) -> _ => {},
                        recv(killed) -> _ => {},
                    }
                }
            }
            Event::Pong(_) => {}
            Event::Close(frame) => {
                // As for errors: record the close before waking `recv` callers.
                self.shared.on_peer_close(frame);
                self.in_tx = None;
            }
        }
    }

    fn deliver(&mut self, m: Message) {
        if self.in_tx.is_none() {
            return;
        }
        self.shared.touch_data();
        if !self.wait_for_room(m.len()) {
            self.in_tx = None;
            return;
        }
        let Some(tx) = &self.in_tx else { return };
        self.shared
            .inbound_bytes
            .fetch_add(m.len(), Ordering::AcqRel);
        match tx.try_send(m) {
            Ok(()) => {}
            Err(TrySendError::Disconnected(_)) => self.in_tx = None,
            Err(TrySendError::Full(m)) => {
                // The application is behind: stop reading (TCP backpressure)
                // until it catches up or the connection is torn down.
                let killed = self.shared.killed.receiver();
                select! {
                    send(tx, m) -> r => if r.is_err() { self.in_tx = None },
                    recv(killed) -> _ => self.in_tx = None,
                }
            }
        }
    }

    /// Wait until the inbound queue's bytes leave room for `len` more (an
    /// empty queue always does). Returns `false` if the connection was torn
    /// down while waiting. Not reading meanwhile is the backpressure.
    fn wait_for_room(&self, len: usize) -> bool {
        let budget = self.shared.config.recv_queue_bytes;
        loop {
            let queued = self.shared.inbound_bytes.load(Ordering::Acquire);
            if queued == 0 || queued.saturating_add(len) <= budget {
                return true;
            }
            select! {
                recv(self.shared.room_rx) -> _ => {},
                recv(self.shared.killed.receiver()) -> _ => return false,
            }
        }
    }

    fn protocol_error(&mut self, e: ProtocolError) {
        // Register the close before waking `recv` callers: the one that finds
        // the queue drained is what releases the deferred close frame.
        self.shared.fail(e.close_code(), e.to_string());
        self.in_tx = None;
    }
}
