//! The reader thread: socket to decoder to the inbound queue; pings are
//! answered through the writer's control lane; close frames go to the
//! close state machine (through `Shared`).

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_channel::select;

use super::conn::Conn;
use super::events::Hub;
use super::handler::Handler;
use super::inbox::InboxSender;
use super::outbox::Control;
use super::shared::{Shared, release_held};
use super::spawn::prefer_batching;
use crate::protocol::{Decoder, Event, Message, ProtocolError};

/// The reading half of a connection, run on its own thread (on a server,
/// the thread that did the handshake).
pub(crate) struct Reader {
    pub(crate) shared: Arc<Shared>,
    /// Set up for the agreed extensions.
    pub(crate) decoder: Decoder,
    pub(crate) sink: Sink,
    /// Bytes that arrived with the handshake and already belong to frames.
    pub(crate) leftover: Vec<u8>,
    /// Held while the reader runs (a server's connection slot).
    pub(crate) _guard: Arc<dyn Send + Sync>,
}

/// Where the reader delivers messages.
pub(crate) enum Sink {
    /// Not yet known: a poll-mode connection until `deliver_to` (if it
    /// never comes, the connection failed its upgrade: nothing is delivered).
    Pending,
    /// The connection's own queue, read by `Conn::recv`.
    Queue(InboxSender<Message>),
    /// The server's event FIFO, read by `Server::poll`.
    Events(Arc<Hub>, Arc<Conn>),
    /// The server's handler, called on this thread (`Server::serve`).
    Handler(Arc<dyn Handler>, Arc<Conn>),
}

impl Reader {
    /// Deliver this connection's messages to a poll-mode server's hub.
    pub(crate) fn deliver_to(&mut self, hub: Arc<Hub>, conn: Arc<Conn>) {
        let backlog: std::sync::Weak<Hub> = Arc::downgrade(&hub);
        conn.set_hub(backlog);
        self.sink = Sink::Events(hub, conn);
    }

    /// Deliver this connection's messages to `handler`, on this thread.
    pub(crate) fn handle_with(&mut self, handler: Arc<dyn Handler>, conn: Arc<Conn>) {
        self.sink = Sink::Handler(handler, conn);
    }

    /// Read until the connection ends, then tear it down.
    pub(crate) fn run(self) {
        let Reader {
            shared,
            decoder,
            sink,
            leftover,
            _guard,
        } = self;
        let hub = match &sink {
            Sink::Events(hub, conn) => Some((Arc::clone(hub), Arc::clone(conn))),
            Sink::Queue(_) | Sink::Pending | Sink::Handler(..) => None,
        };
        let handler = match &sink {
            Sink::Handler(handler, conn) => Some((Arc::clone(handler), Arc::clone(conn))),
            _ => None,
        };
        let mut state = ReadState {
            decoder,
            sink: (!matches!(sink, Sink::Pending)).then_some(sink),
            shared: &shared,
            holds: handler.is_some(),
        };
        if shared.config.batch_scheduling {
            // Woken by data, this thread waits for the running one to
            // block instead of preempting it mid-burst. In handler mode
            // that is another reader (a fifth of the context switches
            // were such preemptions); in poll mode the application's poll
            // thread, which then drains every event before the readers
            // refill the queue; with `recv`, the application's thread
            // answering the last burst. (The application's own threads
            // keep their policy.)
            prefer_batching();
        }
        if let Some((handler, conn)) = &handler {
            // What `on_open` sends goes out in one write, as a burst's replies do.
            shared.hold_writes(false);
            if !call_handler(&shared, || handler.on_open(conn)) {
                state.sink = None;
            }
            shared.release_writes();
        }
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| state.read_loop(leftover)));
        // (A panic may have left this thread holding the connection's
        // writes; the thread goes on to serve others.)
        release_held();
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
        if let Some((hub, conn)) = hub {
            let info = shared.close_info().expect("finish records how it ended");
            hub.closed(conn, info);
        }
        if let Some((handler, conn)) = handler {
            let info = shared.close_info().expect("finish records how it ended");
            // The connection is over: a panic here has nothing left to close.
            let _ = call_handler(&shared, || handler.on_close(&conn, &info));
        }
    }
}

/// Call the application's handler; if it panics, close the connection
/// with 1011 and return `false` (no more messages go to it).
fn call_handler(shared: &Arc<Shared>, call: impl FnOnce()) -> bool {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).is_ok() {
        return true;
    }
    shared.fail(
        crate::CloseCode::INTERNAL_ERROR,
        "internal error: the message handler panicked".into(),
    );
    false
}

/// Read buffer size while a connection is quiet.
const QUIET_READ_BUFFER: usize = 1024;
/// A frame with at least this much payload still to come is read straight
/// into its message (`Decoder::payload_sink`) instead of through the
/// read buffer: one copy (the kernel's) instead of two.
const DIRECT_READ_MIN: usize = 4096;
/// At most this much is asked for in one direct read (and reserved for
/// it): a peer announcing a huge frame and trickling it in commits no
/// more memory than it sends, plus this.
const DIRECT_READ_MAX: usize = 256 << 10;

struct ReadState<'a> {
    decoder: Decoder,
    /// `None` once no more messages will be delivered (close or error).
    sink: Option<Sink>,
    shared: &'a Arc<Shared>,
    /// Handler mode: gather what is sent while a burst is handled.
    holds: bool,
}

impl ReadState<'_> {
    /// Returns why reading ended.
    fn read_loop(&mut self, leftover: Vec<u8>) -> String {
        self.process(&leftover);
        drop(leftover);
        // The buffer follows the traffic: small while the connection is
        // quiet, four times larger after each read that filled it, small
        // again after a read that a small buffer would have held. The small
        // one is on this thread's stack (in a page the thread holds anyway),
        // so an idle connection holds no read buffer on the heap. The
        // decoder keeps what it needs of a partial frame, so a read's bytes
        // need not outlive `process`.
        let max = self.shared.config.read_buffer_size;
        let small = QUIET_READ_BUFFER.min(max);
        let mut quiet = [0u8; QUIET_READ_BUFFER];
        let mut large: Vec<u8> = Vec::new();
        loop {
            // A large payload goes from the socket straight into its message.
            if self
                .decoder
                .payload_remaining()
                .is_some_and(|r| r >= DIRECT_READ_MIN as u64)
            {
                let n = {
                    let room = self
                        .decoder
                        .payload_sink(DIRECT_READ_MAX)
                        .expect("room while payload remains");
                    match self.shared.transport.read(room) {
                        Ok(0) => return "connection closed without a close frame".into(),
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                            self.flush_tls();
                            continue;
                        }
                        Err(e) => return format!("read failed: {e}"),
                    }
                };
                self.after_read();
                match self.decoder.payload_appended(n) {
                    Ok(Some(event)) => {
                        self.hold();
                        self.handle(event);
                        self.handled();
                    }
                    Ok(None) => {}
                    Err(e) => self.protocol_error(e),
                }
                continue;
            }
            let buf = if large.is_empty() {
                &mut quiet[..small]
            } else {
                &mut large[..]
            };
            let n = match self.shared.transport.read(buf) {
                Ok(0) => return "connection closed without a close frame".into(),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    self.flush_tls();
                    continue;
                }
                Err(e) => return format!("read failed: {e}"),
            };
            let filled = n == buf.len();
            let size = buf.len();
            self.after_read();
            if large.is_empty() {
                self.process(&quiet[..n]);
            } else {
                self.process(&large[..n]);
            }
            if filled && size < max {
                large = vec![0u8; (size * 4).min(max)];
            } else if n <= small && !large.is_empty() {
                large = Vec::new();
            }
        }
    }

    /// Bookkeeping after bytes arrived: the keepalive clock, and records
    /// the TLS layer made while reading (a key update's answer) that the
    /// socket would not take at once go to the writer.
    fn after_read(&self) {
        self.shared.touch_rx();
        self.flush_tls();
    }

    /// Records the TLS layer made while reading that the socket would not
    /// take at once go to the writer (`Transport::read` also returns
    /// `Interrupted` for this when it has no plaintext yet).
    fn flush_tls(&self) {
        if self.shared.transport.needs_flush() {
            self.shared.kick_writer();
        }
    }

    /// Handler mode: what the handler (or this thread) sends from now on
    /// is gathered, for one write at [`handled`](Self::handled).
    fn hold(&self) {
        if self.holds {
            self.shared.hold_writes(false);
        }
    }

    /// The messages of one read are handled: in handler mode what was
    /// gathered since [`hold`](Self::hold) is written; a `recv` caller is
    /// woken for those put in its queue (once per read, not per message:
    /// see `inbox.rs`).
    fn handled(&self) {
        if self.holds {
            self.shared.release_writes();
        }
        if let Some(Sink::Queue(tx)) = &self.sink {
            tx.announce();
        }
    }

    /// Decode every complete frame in `data`, in order, before reading
    /// again; in handler mode, replies to all of them go out in one write.
    fn process(&mut self, data: &[u8]) {
        self.hold();
        self.decode_all(data);
        self.handled();
    }

    fn decode_all(&mut self, mut data: &[u8]) {
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
                    // A full lane blocks reading: the peer's pings slow down with it.
                    self.shared.send_control(Control::Pong(payload));
                }
            }
            Event::Pong(_) => {}
            Event::Close(frame) => {
                // As for errors: record the close before waking `recv` callers.
                self.shared.on_peer_close(frame);
                self.end_input();
            }
        }
    }

    fn deliver(&mut self, m: Message) {
        if self.sink.is_none() {
            return;
        }
        self.shared.touch_data();
        if let Some(Sink::Handler(handler, conn)) = &self.sink {
            if !call_handler(self.shared, || handler.on_message(conn, m)) {
                self.sink = None;
            }
            return;
        }
        if !self.wait_for_room(m.len()) {
            self.sink = None;
            return;
        }
        self.shared
            .inbound_bytes
            .fetch_add(m.len(), Ordering::AcqRel);
        let killed = self.shared.killed.receiver();
        // While the application is behind, we stop reading (TCP
        // backpressure) until it catches up or the connection is torn down.
        let delivered = match &self.sink {
            Some(Sink::Queue(tx)) => tx.send(m, killed),
            Some(Sink::Events(hub, conn)) => hub.deliver(conn, m, killed),
            Some(Sink::Pending | Sink::Handler(..)) | None => false,
        };
        if !delivered {
            self.sink = None;
        }
    }

    /// No more messages will be delivered: wake `recv` callers (they find
    /// the queue drained) or tell the hub.
    fn end_input(&mut self) {
        match &self.sink {
            Some(Sink::Events(hub, _)) => hub.input_ended(self.shared),
            // Every message before the close was handled already: answer it.
            Some(Sink::Handler(..)) => self.shared.release_deferred_close(),
            _ => {}
        }
        self.sink = None;
    }

    /// Wait until the inbound queue's bytes leave room for `len` more (an
    /// empty queue always does). Returns `false` if the connection was torn
    /// down while waiting. Not reading meanwhile is the backpressure.
    fn wait_for_room(&self, len: usize) -> bool {
        let budget = self.shared.config.recv_queue_bytes;
        let has_room = || {
            let queued = self.shared.inbound_bytes.load(Ordering::Acquire);
            queued == 0 || queued.saturating_add(len) <= budget
        };
        loop {
            if has_room() {
                return true;
            }
            let room = self.shared.room.receiver();
            if has_room() {
                return true;
            }
            // Those who would make room must know what is waiting.
            if let Some(Sink::Queue(tx)) = &self.sink {
                tx.announce();
            }
            select! {
                recv(room) -> _ => {},
                recv(self.shared.killed.receiver()) -> _ => return false,
            }
        }
    }

    fn protocol_error(&mut self, e: ProtocolError) {
        // Register the close before waking `recv` callers: the one that finds
        // the queue drained is what releases the deferred close frame.
        self.shared.fail(e.close_code(), e.to_string());
        self.end_input();
    }
}
