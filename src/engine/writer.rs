//! The write side of a connection: the writer thread, and the direct path
//! by which a sending thread writes itself when nothing is in its way.
//!
//! Both work on one [`Batch`] under the [`Outbox`] lock, so frames never
//! interleave and compression (whose context is shared by every message)
//! sees messages in send order. A sender first tries to write directly:
//! if the lock is free, nothing is queued ahead of it and no earlier write
//! is unfinished, it encodes and sends with `MSG_DONTWAIT` on its own
//! thread, and no other thread wakes. Otherwise (or when the socket buffer
//! fills mid-message) the message goes through the bounded data lane to
//! the writer thread, which gathers everything queued into one vectored
//! write. Under light load every message is one syscall on the sender's
//! thread; under heavy load the writer batches.

use std::io::{self, IoSlice};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::select_biased;
use parking_lot::{Mutex, MutexGuard};

use super::lane::LaneReceiver;
use super::shared::{Control, Outgoing, Shared};
use super::sys::send_vectored;
use crate::protocol::CloseInitiator;
use crate::protocol::decoder::RSV1;
use crate::protocol::deflate::Compressor;
use crate::protocol::encoder::{EncodedFrame, message_header, write_close, write_frame};
use crate::protocol::frame::FrameHeader;
use crate::protocol::mask::apply_mask;
use crate::protocol::{CloseCode, Message, OpCode, Role};

/// Payloads up to this size are copied next to their header; larger ones
/// are written from the message's own buffer (no copy).
const COPY_MAX: usize = 4096;
/// Stop gathering a batch at this many bytes of payload taken in (before
/// compression, which can make many messages' worth of work write only a
/// few bytes), so one write does not grow without bound and latency stays low.
const BATCH_MAX_BYTES: usize = 256 << 10;
/// Stop gathering at this many separately written payloads (each is an iovec).
const BATCH_MAX_BODIES: usize = 128;

/// The write state of one connection, shared by its writer thread and the
/// threads that send on it.
pub(crate) struct Outbox {
    batch: Mutex<Batch>,
    /// Frames put on the data or control lane (or waiting for room on one)
    /// and not yet taken into a batch. While any are, nobody writes
    /// directly: the direct write would overtake them (a pong must go
    /// before the answer to the message that followed its ping).
    queued: AtomicUsize,
}

/// What became of a direct write attempt.
pub(crate) enum Direct {
    /// Written.
    Sent,
    /// Partly written: the writer thread must be woken (with
    /// [`Control::Kick`]) to send the rest.
    Unfinished,
    /// Not attempted (something is in the way): queue it.
    Queue(Outgoing),
    /// The socket failed; the message is lost and the connection must be dropped.
    Failed(io::Error),
}

impl Outbox {
    pub(crate) fn new(role: Role) -> Self {
        Outbox {
            batch: Mutex::new(Batch::new(role)),
            queued: AtomicUsize::new(0),
        }
    }

    /// Compress messages with `compressor` from now on (set once, before
    /// anything is sent, when permessage-deflate was agreed).
    pub(crate) fn set_compressor(&self, compressor: Option<Compressor>) {
        self.batch.lock().compressor = compressor;
    }

    /// A frame is about to go on the data or control lane.
    pub(crate) fn enqueueing(&self) {
        self.queued.fetch_add(1, Ordering::AcqRel);
    }

    /// A frame counted by `enqueueing` did not make it onto its lane.
    pub(crate) fn not_enqueued(&self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
    }

    /// Write `o` on the calling thread if nothing is in the way, without
    /// waiting for the lock or for the socket.
    pub(crate) fn try_direct(&self, stream: &TcpStream, o: Outgoing) -> Direct {
        if self.queued.load(Ordering::Acquire) != 0 {
            return Direct::Queue(o);
        }
        let Some(mut batch) = self.batch.try_lock() else {
            return Direct::Queue(o);
        };
        // (Checked again under the lock: the writer takes messages into its
        // batch, and so lowers `queued`, only while holding it.)
        if batch.closed || !batch.leftover.is_empty() || self.queued.load(Ordering::Acquire) != 0 {
            return Direct::Queue(o);
        }
        batch.outgoing(o);
        match batch.write_out(stream, true) {
            Ok(true) => Direct::Sent,
            Ok(false) => Direct::Unfinished,
            Err(e) => {
                batch.closed = true;
                // The caller counts this message as unsent.
                batch.messages = 0;
                Direct::Failed(e)
            }
        }
    }

    /// Send everything through the data lane (tests that play the writer).
    #[cfg(test)]
    pub(crate) fn queue_only(&self) {
        self.batch.lock().closed = true;
    }

    /// The writer thread's hold on the batch.
    fn lock(&self) -> MutexGuard<'_, Batch> {
        self.batch.lock()
    }

    /// `n` frames left a lane for the batch (lock held).
    fn taken(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::AcqRel);
    }
}

/// Write the connection's frames until it closes: the control lane first,
/// then queued messages, batched; and whatever a direct write left unsent.
pub(crate) fn run(
    shared: Arc<Shared>,
    out_rx: LaneReceiver<Outgoing>,
    ctrl_rx: LaneReceiver<Control>,
) {
    let outbox = &shared.outbox;
    loop {
        let (mut control, mut message, mut closing) = (None, None, false);
        select_biased! {
            recv(ctrl_rx.channel()) -> c => {
                if let Ok(c) = c {
                    ctrl_rx.taken(&c);
                    control = Some(c);
                }
            }
            recv(shared.closing.receiver()) -> _ => closing = true,
            recv(out_rx.channel()) -> m => match m {
                Ok(m) => {
                    out_rx.taken(&m);
                    message = Some(m);
                }
                // Every `Conn` is gone; its `Drop` already started the close.
                Err(_) => closing = true,
            },
        }
        let mut batch = outbox.lock();
        // A direct write's unsent end goes before anything else.
        if !finish_leftover(&shared, &mut batch) {
            break;
        }
        if let Some(c) = control {
            take_control(outbox, &mut batch, c);
        }
        if let Some(m) = message {
            batch.outgoing(m);
            outbox.taken(1);
        }
        if !closing {
            while !batch.is_full() {
                if let Ok(c) = ctrl_rx.try_recv() {
                    take_control(outbox, &mut batch, c);
                } else if let Ok(m) = out_rx.try_recv() {
                    batch.outgoing(m);
                    outbox.taken(1);
                } else {
                    break;
                }
            }
        }
        if closing {
            if let Some(frame) = shared.take_pending_close() {
                // Messages accepted before the close go out before it.
                while let Ok(m) = out_rx.try_recv() {
                    batch.outgoing(m);
                    outbox.taken(1);
                    if batch.is_full() && !flush(&shared, &mut batch) {
                        break;
                    }
                }
                batch.close(frame.as_ref());
                batch.closed = true;
                if flush(&shared, &mut batch) {
                    drop(batch);
                    shared.on_close_sent();
                }
            }
            break;
        }
        if !flush(&shared, &mut batch) {
            break;
        }
    }
    let mut batch = outbox.lock();
    batch.closed = true;
    // Closing the lane first: a send that got `Ok` is in what this returns.
    let unsent = batch.messages + out_rx.close_and_drain().len();
    drop(batch);
    if unsent > 0 {
        shared.unsent.fetch_add(unsent as u64, Ordering::Relaxed);
    }
}

/// A control frame into the batch; a kick only woke us (for the leftover
/// that `finish_leftover` sends) and was never counted as queued.
fn take_control(outbox: &Outbox, batch: &mut Batch, c: Control) {
    match c {
        Control::Ping(p) => batch.control(OpCode::Ping, &p),
        Control::Pong(p) => batch.control(OpCode::Pong, &p),
        Control::Kick => return,
    }
    outbox.taken(1);
}

/// Write the batch (blocking); on failure drop the connection and return `false`.
fn flush(shared: &Shared, batch: &mut Batch) -> bool {
    match batch.write_out(&shared.stream, false) {
        Ok(_) => true,
        Err(e) => {
            batch.closed = true;
            fail(shared, &e);
            false
        }
    }
}

/// Finish what a direct write left unsent (blocking).
fn finish_leftover(shared: &Shared, batch: &mut Batch) -> bool {
    match batch.finish_leftover(&shared.stream) {
        Ok(()) => true,
        Err(e) => {
            batch.closed = true;
            fail(shared, &e);
            false
        }
    }
}

/// A write failed: drop the connection.
pub(crate) fn fail(shared: &Shared, e: &io::Error) {
    shared.kill(
        CloseCode::ABNORMAL,
        &format!("write failed: {e}"),
        CloseInitiator::Transport,
    );
}

enum Segment {
    /// A range of `Batch::head`.
    Head(usize, usize),
    /// One of `Batch::bodies`, written in place.
    Body(usize),
}

/// A payload written from where it already is.
enum Body {
    /// A large message of this connection's (masked in place if we are a client).
    Owned(Vec<u8>),
    /// A broadcast frame shared with other connections (header included).
    Shared(Arc<EncodedFrame>),
}

impl Body {
    fn as_slice(&self) -> &[u8] {
        match self {
            Body::Owned(b) => b,
            Body::Shared(f) => f.bytes(),
        }
    }
}

/// Part of what a direct write could not send before the socket buffer
/// filled. Payloads stay where they are (a broadcast frame stays shared, a
/// large message is not copied); only headers and small payloads, which
/// were copied into the batch anyway, are copied again.
enum Piece {
    Copied(Vec<u8>),
    /// A payload from this byte on.
    Body(Body, usize),
}

impl Piece {
    fn as_slice(&self) -> &[u8] {
        match self {
            Piece::Copied(v) => v,
            Piece::Body(b, from) => &b.as_slice()[*from..],
        }
    }
}

/// Frames gathered for one vectored write.
struct Batch {
    role: Role,
    /// Clients only: a server never masks, and 512 bytes per connection
    /// add up over many idle ones.
    keys: Option<Box<MaskKeys>>,
    compressor: Option<Compressor>,
    /// Headers and small payloads, contiguous.
    head: Vec<u8>,
    /// Start of the part of `head` not yet covered by a segment.
    head_mark: usize,
    bodies: Vec<Body>,
    segments: Vec<Segment>,
    /// Payload bytes taken in (see `BATCH_MAX_BYTES`) plus control frames.
    bytes: usize,
    /// Data messages whose bytes are not all written yet (for the unsent
    /// count if a write fails).
    messages: usize,
    /// What a direct write could not send before the socket buffer filled;
    /// the writer thread sends it before anything else.
    leftover: Vec<Piece>,
    /// Our close frame is written, or writing failed: nothing more may be
    /// written directly.
    closed: bool,
}

impl Batch {
    fn new(role: Role) -> Self {
        Batch {
            role,
            keys: (role == Role::Client).then(|| Box::new(MaskKeys::new())),
            compressor: None,
            head: Vec::new(),
            head_mark: 0,
            bodies: Vec::new(),
            segments: Vec::new(),
            bytes: 0,
            messages: 0,
            leftover: Vec::new(),
            closed: false,
        }
    }

    fn mask(&mut self) -> Option<[u8; 4]> {
        self.keys.as_mut().map(|k| k.next())
    }

    fn is_full(&self) -> bool {
        self.bytes >= BATCH_MAX_BYTES || self.bodies.len() >= BATCH_MAX_BODIES
    }

    fn control(&mut self, opcode: OpCode, payload: &[u8]) {
        let mask = self.mask();
        let before = self.head.len();
        write_frame(&mut self.head, opcode, true, payload, mask);
        self.bytes += self.head.len() - before;
    }

    fn close(&mut self, frame: Option<&crate::protocol::CloseFrame>) {
        let mask = self.mask();
        write_close(&mut self.head, frame, mask);
    }

    fn outgoing(&mut self, o: Outgoing) {
        self.messages += 1;
        self.bytes += match &o {
            Outgoing::Message(m) => m.len(),
            Outgoing::Frame(f) => f.bytes().len(),
        };
        match o {
            Outgoing::Message(m) => self.message(m),
            Outgoing::Frame(f) => self.shared_frame(f),
        }
    }

    fn message(&mut self, m: Message) {
        let mask = self.mask();
        let mut header = message_header(&m, mask);
        let body = match self.compress(m.as_bytes()) {
            Some(compressed) => {
                header.rsv = RSV1;
                header.payload_len = compressed.len() as u64;
                compressed
            }
            None => m.into_bytes(),
        };
        self.push(header, mask, body);
    }

    /// A broadcast frame: written as it is, from the shared buffer, unless
    /// this connection compresses it (then the payload is ours to encode,
    /// in order with our other messages, as context takeover requires).
    fn shared_frame(&mut self, f: Arc<EncodedFrame>) {
        debug_assert_eq!(self.role, Role::Server, "only servers share frames");
        if let Some(compressed) = self.compress(f.payload()) {
            let header = FrameHeader {
                fin: true,
                rsv: RSV1,
                opcode: f.opcode(),
                mask: None,
                payload_len: compressed.len() as u64,
            };
            self.push(header, None, compressed);
            return;
        }
        self.push_body(Body::Shared(f));
    }

    /// The payload compressed, if compression is on and the payload is worth it.
    fn compress(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        let z = self.compressor.as_mut()?;
        if !z.wants(payload.len()) {
            return None;
        }
        // `compress` sizes the buffer from the input itself.
        let mut compressed = Vec::new();
        z.compress(payload, &mut compressed);
        Some(compressed)
    }

    /// Add one frame: small payloads are copied (and masked) next to their
    /// header, large ones are masked in place and written from where they are.
    fn push(&mut self, header: FrameHeader, mask: Option<[u8; 4]>, mut body: Vec<u8>) {
        header.write_to(&mut self.head);
        if body.len() <= COPY_MAX {
            let start = self.head.len();
            self.head.extend_from_slice(&body);
            if let Some(key) = mask {
                apply_mask(&mut self.head[start..], key, 0);
            }
            return;
        }
        // Large payload: mask in place (we own it) and write it from where it is.
        if let Some(key) = mask {
            apply_mask(&mut body, key, 0);
        }
        self.push_body(Body::Owned(body));
    }

    /// Close the current run of `head` and queue `body` to be written after it.
    fn push_body(&mut self, body: Body) {
        self.segments
            .push(Segment::Head(self.head_mark, self.head.len()));
        self.head_mark = self.head.len();
        self.segments.push(Segment::Body(self.bodies.len()));
        self.bodies.push(body);
    }

    /// Send the batch. Blocking, it returns once everything is written.
    /// Non-blocking, it sends what the socket takes and keeps the rest in
    /// `leftover` (returning `Ok(false)`) for the writer thread.
    fn write_out(&mut self, stream: &TcpStream, nonblocking: bool) -> io::Result<bool> {
        self.segments
            .push(Segment::Head(self.head_mark, self.head.len()));
        let Batch {
            head,
            bodies,
            segments,
            ..
        } = self;
        let mut slices: Vec<IoSlice<'_>> = segments
            .iter()
            .map(|s| match *s {
                Segment::Head(a, b) => IoSlice::new(&head[a..b]),
                Segment::Body(i) => IoSlice::new(bodies[i].as_slice()),
            })
            .filter(|s| !s.is_empty())
            .collect();
        let sent = send_all(stream, &mut slices, nonblocking);
        drop(slices);
        let result = match sent {
            Ok(Sent::All) => {
                self.messages = 0;
                Ok(true)
            }
            Ok(Sent::Part(written)) => {
                self.keep_unsent(written);
                Ok(false)
            }
            Err(e) => Err(e),
        };
        self.head.clear();
        self.head_mark = 0;
        self.bodies.clear();
        self.segments.clear();
        self.bytes = 0;
        // Do not keep a large buffer around on an idle connection.
        if self.head.capacity() > 64 << 10 {
            self.head = Vec::new();
        }
        result
    }

    /// Keep what the batch's first `written` bytes did not cover as the
    /// leftover, moving payloads rather than copying them.
    fn keep_unsent(&mut self, written: usize) {
        let mut bodies: Vec<Option<Body>> = std::mem::take(&mut self.bodies)
            .into_iter()
            .map(Some)
            .collect();
        let mut skip = written;
        let mut copied = Vec::new();
        for segment in &self.segments {
            let len = match *segment {
                Segment::Head(a, b) => b - a,
                Segment::Body(i) => bodies[i].as_ref().map_or(0, |b| b.as_slice().len()),
            };
            if skip >= len {
                skip -= len;
                continue;
            }
            match *segment {
                Segment::Head(a, b) => copied.extend_from_slice(&self.head[a + skip..b]),
                Segment::Body(i) => {
                    if !copied.is_empty() {
                        self.leftover
                            .push(Piece::Copied(std::mem::take(&mut copied)));
                    }
                    if let Some(body) = bodies[i].take() {
                        self.leftover.push(Piece::Body(body, skip));
                    }
                }
            }
            skip = 0;
        }
        if !copied.is_empty() {
            self.leftover.push(Piece::Copied(copied));
        }
    }

    /// Send what a direct write left unsent (blocking).
    fn finish_leftover(&mut self, stream: &TcpStream) -> io::Result<()> {
        if self.leftover.is_empty() {
            return Ok(());
        }
        let mut slices: Vec<IoSlice<'_>> = self
            .leftover
            .iter()
            .map(|p| IoSlice::new(p.as_slice()))
            .collect();
        send_all(stream, &mut slices, false)?;
        drop(slices);
        self.messages = 0;
        self.leftover = Vec::new();
        Ok(())
    }
}

/// How much of a [`send_all`] went out.
enum Sent {
    All,
    /// The socket buffer filled (non-blocking) after this many bytes.
    Part(usize),
}

/// Send every byte of `slices` (blocking), or (non-blocking) as many as
/// the socket takes now.
fn send_all(stream: &TcpStream, slices: &mut [IoSlice<'_>], nonblocking: bool) -> io::Result<Sent> {
    let mut rest = slices;
    let mut written = 0;
    while !rest.is_empty() {
        match send_vectored(stream, rest, nonblocking) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                written += n;
                IoSlice::advance_slices(&mut rest, n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if nonblocking && e.kind() == io::ErrorKind::WouldBlock => {
                return Ok(Sent::Part(written));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Sent::All)
}

/// Masking keys from the OS CSPRNG, fetched 128 at a time.
struct MaskKeys {
    buf: [u8; 512],
    pos: usize,
}

impl MaskKeys {
    fn new() -> Self {
        MaskKeys {
            buf: [0; 512],
            pos: 512,
        }
    }

    fn next(&mut self) -> [u8; 4] {
        if self.pos == self.buf.len() {
            getrandom::fill(&mut self.buf).expect("the OS random source failed");
            self.pos = 0;
        }
        let k = [
            self.buf[self.pos],
            self.buf[self.pos + 1],
            self.buf[self.pos + 2],
            self.buf[self.pos + 3],
        ];
        self.pos += 4;
        k
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    use super::*;

    /// Finding 11 of issue 14: a broadcast recipient whose socket filled
    /// during a direct write kept a full copy of the shared frame (and a
    /// connection's own large message was copied the same way).
    #[test]
    fn a_direct_write_that_fills_the_socket_keeps_the_frame_shared() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let payload: Vec<u8> = (0..8 << 20).map(|i| (i % 251) as u8).collect();
        let frame = Arc::new(EncodedFrame::new(&Message::Binary(payload)));
        let outbox = Outbox::new(Role::Server);
        // Nobody reads yet: 8 MiB cannot fit in the socket buffers.
        match outbox.try_direct(&ours, Outgoing::Frame(Arc::clone(&frame))) {
            Direct::Unfinished => {}
            _ => panic!("expected the socket to fill"),
        }
        assert_eq!(
            Arc::strong_count(&frame),
            2,
            "the unsent rest must be the shared frame, not a copy"
        );
        let expected = frame.bytes().to_vec();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            peer.read_to_end(&mut got).unwrap();
            got
        });
        outbox.lock().finish_leftover(&ours).unwrap();
        assert_eq!(Arc::strong_count(&frame), 1, "the leftover is released");
        ours.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(reader.join().unwrap() == expected, "bytes differ");
    }
}
