//! The write side of a connection, shared by its writer thread and the
//! threads that send on it: what the lanes carry, the batch of frames for
//! one vectored write, and the direct path by which a sending thread
//! writes itself when nothing is in its way.
//!
//! Both paths work on one [`Batch`] under the [`Outbox`] lock, so frames
//! never interleave and compression (whose context is shared by every
//! message) sees messages in send order. A sender first tries to write
//! directly: if the lock is free, nothing is queued ahead of it and no
//! earlier write is unfinished, it encodes and sends with `MSG_DONTWAIT` on
//! its own thread, and no other thread wakes. Otherwise (or when the socket
//! buffer fills mid-message) the message goes through the bounded data lane
//! to the writer thread (`writer.rs`), which gathers everything queued into
//! one vectored write. Under light load every message is one syscall on the
//! sender's thread; under heavy load the writer batches. Encoding itself
//! (masking, compression, headers) is [`Encoder`]'s, in the protocol layer.

use std::io::{self, IoSlice};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard};

use super::lane::Weigh;
use super::recycle;
use super::transport::Transport;
use crate::protocol::deflate::Compressor;
use crate::protocol::encoder::{EncodedFrame, Encoder, Payload};
use crate::protocol::{CloseFrame, Message, OpCode, Role};

/// What the writer's data lane carries.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A message of this connection's own.
    Message(Message),
    /// A frame encoded once and shared with other connections (broadcast).
    Frame(Arc<EncodedFrame>),
}

impl Outgoing {
    /// The message itself (a copy of a shared frame's payload), to hand
    /// back to a caller whose send did not go through.
    pub(crate) fn into_message(self) -> Message {
        match self {
            Outgoing::Message(m) => m,
            Outgoing::Frame(f) => f.to_message(),
        }
    }
}

impl Weigh for Outgoing {
    fn weight(&self) -> usize {
        match self {
            Outgoing::Message(m) => m.len(),
            Outgoing::Frame(f) => f.bytes().len(),
        }
    }
}

/// What the writer's priority lane carries.
#[derive(Debug)]
pub(crate) enum Control {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// Not a frame: wakes the writer to send what a direct write left
    /// unsent (not counted as queued; the leftover itself holds off other
    /// direct writes).
    Kick,
}

impl Weigh for Control {
    fn weight(&self) -> usize {
        match self {
            Control::Ping(p) | Control::Pong(p) => p.len(),
            Control::Kick => 0,
        }
    }
}

/// Payloads up to this size are copied next to their header; larger ones
/// are written from the message's own buffer (no copy).
const COPY_MAX: usize = 4096;
/// Stop gathering a batch at this many bytes of payload taken in (before
/// compression, which can make many messages' worth of work write only a
/// few bytes), so one write does not grow without bound and latency stays low.
const BATCH_MAX_BYTES: usize = 256 << 10;
/// Stop gathering at this many separately written payloads (each is an iovec).
const BATCH_MAX_BODIES: usize = 128;
/// Writes of at most this many pieces build their iovec on the stack.
const FEW_SLICES: usize = 8;

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

/// What became of a direct write attempt of a `T` (a message or a control frame).
pub(crate) enum Direct<T> {
    /// Written.
    Sent,
    /// Partly written (or, over TLS, sealed but not all on the socket yet):
    /// the writer thread must be woken (with [`Control::Kick`]) to send the rest.
    Unfinished,
    /// Not attempted (something is in the way): queue it.
    Queue(T),
    /// Gathered by a holding thread, to be written at its release; `true`
    /// if it is the first frame waiting in the batch (see
    /// `Shared::hold_writes`: a bounded hold arms the timer then).
    Gathered(bool),
    /// The socket failed; the frame is lost and the connection must be
    /// dropped. With the number of messages lost (this one, if it is a
    /// message, and any a holding thread had gathered), to count as unsent.
    Failed(io::Error, usize),
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
        self.batch.lock().encoder.set_compressor(compressor);
    }

    /// A frame is about to go on the data or control lane.
    pub(crate) fn enqueueing(&self) {
        self.queued.fetch_add(1, Ordering::AcqRel);
    }

    /// A frame counted by `enqueueing` did not make it onto its lane.
    pub(crate) fn not_enqueued(&self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
    }

    /// Write what [`try_direct`](Self::try_direct) gathered with `hold`,
    /// without waiting for the lock or for the socket. If another thread
    /// holds the lock this returns `Queue(())`: that thread writes the
    /// gathered frames with its own (the writer thread, or a direct write),
    /// or is another holding thread, which writes them at its own release.
    pub(crate) fn release(&self, stream: &Transport) -> Direct<()> {
        let Some(mut batch) = self.batch.try_lock() else {
            return Direct::Queue(());
        };
        if batch.closed || !batch.has_frames() {
            return Direct::Sent;
        }
        batch.write_now(stream)
    }

    /// Write `o` on the calling thread if nothing is in the way, without
    /// waiting for the lock or for the socket; with `hold`, gather it in
    /// the batch for one write at [`release`](Self::release) instead
    /// (unless the batch is full). Other threads' direct writes write the
    /// gathered frames with theirs, in order.
    pub(crate) fn try_direct<T: Frame>(&self, stream: &Transport, o: T, hold: bool) -> Direct<T> {
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
        let first = !batch.has_frames();
        o.add_to(&mut batch);
        if hold && !batch.is_full() {
            return Direct::Gathered(first);
        }
        batch.write_now(stream)
    }

    /// Send everything through the data lane (tests that play the writer).
    #[cfg(test)]
    pub(crate) fn queue_only(&self) {
        self.batch.lock().closed = true;
    }

    /// The writer thread's hold on the batch.
    pub(super) fn lock(&self) -> MutexGuard<'_, Batch> {
        self.batch.lock()
    }

    /// `n` frames left a lane for the batch (lock held).
    pub(super) fn taken(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::AcqRel);
    }
}

/// What can be written directly: a message, or a ping or pong.
pub(crate) trait Frame {
    fn add_to(self, batch: &mut Batch);
}

impl Frame for Outgoing {
    fn add_to(self, batch: &mut Batch) {
        batch.outgoing(self);
    }
}

impl Frame for Control {
    fn add_to(self, batch: &mut Batch) {
        match self {
            Control::Ping(p) => batch.control(OpCode::Ping, &p),
            Control::Pong(p) => batch.control(OpCode::Pong, &p),
            Control::Kick => {}
        }
    }
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
    /// Written: a message's own buffer goes back for reuse.
    fn recycle(self) {
        if let Body::Owned(buffer) = self {
            recycle::give(buffer);
        }
    }

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
pub(crate) struct Batch {
    /// Masking keys, compression context, headers.
    encoder: Encoder,
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
    pub(super) messages: usize,
    /// What a direct write could not send before the socket buffer filled;
    /// the writer thread sends it before anything else.
    leftover: Vec<Piece>,
    /// Our close frame is written, or writing failed: nothing more may be
    /// written directly.
    pub(super) closed: bool,
    /// Our close frame was written without a writer thread and the socket
    /// did not take all of it: its end is in `leftover`, and whoever sends
    /// that tells the lifecycle the close frame is out.
    pub(super) close_unfinished: bool,
}

impl Batch {
    fn new(role: Role) -> Self {
        Batch {
            encoder: Encoder::new(role, COPY_MAX),
            head: Vec::new(),
            head_mark: 0,
            bodies: Vec::new(),
            segments: Vec::new(),
            bytes: 0,
            messages: 0,
            leftover: Vec::new(),
            closed: false,
            close_unfinished: false,
        }
    }

    /// Write the batch without waiting for the socket (a direct write):
    /// what the socket does not take is left for the writer thread
    /// (`Unfinished`); a failure closes the batch, and the messages it
    /// held are handed to the caller to count as unsent.
    fn write_now<T>(&mut self, stream: &Transport) -> Direct<T> {
        match self.write_out(stream, true) {
            Ok(true) => Direct::Sent,
            Ok(false) => Direct::Unfinished,
            Err(e) => {
                self.closed = true;
                Direct::Failed(e, std::mem::take(&mut self.messages))
            }
        }
    }

    /// Whether frames are gathered and not yet written.
    fn has_frames(&self) -> bool {
        !self.head.is_empty() || !self.bodies.is_empty()
    }

    pub(super) fn is_full(&self) -> bool {
        self.bytes >= BATCH_MAX_BYTES || self.bodies.len() >= BATCH_MAX_BODIES
    }

    /// Add a ping or pong.
    pub(super) fn control(&mut self, opcode: OpCode, payload: &[u8]) {
        let before = self.head.len();
        self.encoder.control(&mut self.head, opcode, payload);
        self.bytes += self.head.len() - before;
    }

    /// Add our close frame.
    pub(super) fn close(&mut self, frame: Option<&CloseFrame>) {
        self.encoder.close(&mut self.head, frame);
    }

    /// Add a message, or a frame shared with other connections.
    pub(super) fn outgoing(&mut self, o: Outgoing) {
        self.messages += 1;
        self.bytes += o.weight();
        match o {
            Outgoing::Message(m) => match self.encoder.message(&mut self.head, m) {
                Payload::Separate(body) => self.push_body(Body::Owned(body)),
                Payload::Inline | Payload::AsIs => {}
            },
            Outgoing::Frame(f) => match self.encoder.shared_frame(&mut self.head, &f) {
                Payload::AsIs => self.push_body(Body::Shared(f)),
                Payload::Separate(body) => self.push_body(Body::Owned(body)),
                Payload::Inline => {}
            },
        }
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
    pub(super) fn write_out(&mut self, stream: &Transport, nonblocking: bool) -> io::Result<bool> {
        self.segments
            .push(Segment::Head(self.head_mark, self.head.len()));
        let Batch {
            head,
            bodies,
            segments,
            ..
        } = self;
        let all = segments
            .iter()
            .map(|s| match *s {
                Segment::Head(a, b) => IoSlice::new(&head[a..b]),
                Segment::Body(i) => IoSlice::new(bodies[i].as_slice()),
            })
            .filter(|s| !s.is_empty());
        // Most writes are a few pieces (a burst of small replies is one, a
        // broadcast frame one): those need no allocation.
        let mut few = [IoSlice::new(&[]); FEW_SLICES];
        let mut many = Vec::new();
        let slices: &mut [IoSlice<'_>] = if segments.len() <= FEW_SLICES {
            let mut n = 0;
            for slice in all {
                few[n] = slice;
                n += 1;
            }
            &mut few[..n]
        } else {
            many.extend(all);
            &mut many
        };
        let sent = send_all(stream, slices, nonblocking);
        drop(many);
        let result = match sent {
            // Over TLS, sealed records may still wait in the session: the
            // write is finished when they are sent too.
            Ok(Sent::All) => match stream.flush(nonblocking) {
                Ok(true) => {
                    self.messages = 0;
                    Ok(true)
                }
                Ok(false) => Ok(false),
                Err(e) => Err(e),
            },
            Ok(Sent::Part(written)) => {
                self.keep_unsent(written);
                Ok(false)
            }
            Err(e) => Err(e),
        };
        self.head.clear();
        self.head_mark = 0;
        // Written (or kept in `leftover`): large payloads' buffers are
        // kept for the messages to come (`recycle.rs`).
        for body in self.bodies.drain(..) {
            body.recycle();
        }
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

    /// Send what a direct write left unsent (blocking), and the records a
    /// TLS session still holds (a direct write's, or the reader's own).
    pub(super) fn finish_leftover(&mut self, stream: &Transport) -> io::Result<()> {
        if self.leftover.is_empty() {
            stream.flush(false)?;
            return Ok(());
        }
        let mut slices: Vec<IoSlice<'_>> = self
            .leftover
            .iter()
            .map(|p| IoSlice::new(p.as_slice()))
            .collect();
        send_all(stream, &mut slices, false)?;
        drop(slices);
        stream.flush(false)?;
        self.messages = 0;
        for piece in std::mem::take(&mut self.leftover) {
            if let Piece::Body(body, _) = piece {
                body.recycle();
            }
        }
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
fn send_all(stream: &Transport, slices: &mut [IoSlice<'_>], nonblocking: bool) -> io::Result<Sent> {
    let mut rest = slices;
    let mut written = 0;
    while !rest.is_empty() {
        match stream.write_vectored(rest, nonblocking) {
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
        let ours = Transport::Tcp(TcpStream::connect(listener.local_addr().unwrap()).unwrap());
        let (mut peer, _) = listener.accept().unwrap();
        let payload: Vec<u8> = (0..8 << 20).map(|i| (i % 251) as u8).collect();
        let frame = Arc::new(EncodedFrame::new(&Message::Binary(payload)));
        let outbox = Outbox::new(Role::Server);
        // Nobody reads yet: 8 MiB cannot fit in the socket buffers.
        match outbox.try_direct(&ours, Outgoing::Frame(Arc::clone(&frame)), false) {
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
        ours.shutdown(std::net::Shutdown::Write);
        assert!(reader.join().unwrap() == expected, "bytes differ");
    }
}
