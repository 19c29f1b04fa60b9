//! The writer thread: control lane first, then queued messages, batched
//! into as few write syscalls as possible.

use std::io::{self, IoSlice, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_channel::{Receiver, select_biased};

use super::shared::{CloseInitiator, Control, Outgoing, Shared};
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

/// Write the connection's frames until it closes. `compressor` is set when
/// permessage-deflate was agreed (and our side may compress): messages are
/// compressed here, in send order, which context takeover requires.
pub(crate) fn run(
    shared: Arc<Shared>,
    out_rx: Receiver<Outgoing>,
    ctrl_rx: Receiver<Control>,
    compressor: Option<Compressor>,
) {
    let mut batch = Batch::new(shared.role, compressor);
    loop {
        let mut closing = false;
        select_biased! {
            recv(ctrl_rx) -> c => if let Ok(c) = c { batch.control(c) },
            recv(shared.closing.receiver()) -> _ => closing = true,
            recv(out_rx) -> m => match m {
                Ok(m) => batch.outgoing(m),
                // Every `Conn` is gone; its `Drop` already started the close.
                Err(_) => closing = true,
            },
        }
        if !closing {
            while !batch.is_full() {
                if let Ok(c) = ctrl_rx.try_recv() {
                    batch.control(c);
                } else if let Ok(m) = out_rx.try_recv() {
                    batch.outgoing(m);
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
                    if batch.is_full() && !flush(&shared, &mut batch) {
                        break;
                    }
                }
                batch.close(frame.as_ref());
                if flush(&shared, &mut batch) {
                    shared.on_close_sent();
                }
            }
            break;
        }
        if !flush(&shared, &mut batch) {
            break;
        }
    }
    let unsent = batch.messages + out_rx.try_iter().count();
    if unsent > 0 {
        shared.unsent.fetch_add(unsent as u64, Ordering::Relaxed);
    }
}

/// Write the batch; on failure drop the connection and return `false`.
fn flush(shared: &Shared, batch: &mut Batch) -> bool {
    match batch.write_to(&shared.stream) {
        Ok(()) => true,
        Err(e) => {
            shared.kill(
                CloseCode::ABNORMAL,
                &format!("write failed: {e}"),
                CloseInitiator::Transport,
            );
            false
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
    fn as_slice(&self) -> &[u8] {
        match self {
            Body::Owned(b) => b,
            Body::Shared(f) => f.bytes(),
        }
    }
}

/// Frames gathered for one vectored write.
struct Batch {
    role: Role,
    keys: MaskKeys,
    compressor: Option<Compressor>,
    /// Headers and small payloads, contiguous.
    head: Vec<u8>,
    /// Start of the part of `head` not yet covered by a segment.
    head_mark: usize,
    bodies: Vec<Body>,
    segments: Vec<Segment>,
    /// Payload bytes taken in (see `BATCH_MAX_BYTES`) plus control frames.
    bytes: usize,
    /// Data messages in the batch (for the unsent count if a write fails).
    messages: usize,
}

impl Batch {
    fn new(role: Role, compressor: Option<Compressor>) -> Self {
        Batch {
            role,
            keys: MaskKeys::new(),
            compressor,
            head: Vec::with_capacity(1024),
            head_mark: 0,
            bodies: Vec::new(),
            segments: Vec::new(),
            bytes: 0,
            messages: 0,
        }
    }

    fn mask(&mut self) -> Option<[u8; 4]> {
        (self.role == Role::Client).then(|| self.keys.next())
    }

    fn is_full(&self) -> bool {
        self.bytes >= BATCH_MAX_BYTES || self.bodies.len() >= BATCH_MAX_BODIES
    }

    fn control(&mut self, c: Control) {
        let mask = self.mask();
        let before = self.head.len();
        match c {
            Control::Ping(p) => write_frame(&mut self.head, OpCode::Ping, true, &p, mask),
            Control::Pong(p) => write_frame(&mut self.head, OpCode::Pong, true, &p, mask),
        }
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

    fn write_to(&mut self, stream: &TcpStream) -> io::Result<()> {
        self.segments
            .push(Segment::Head(self.head_mark, self.head.len()));
        let mut slices: Vec<IoSlice<'_>> = self
            .segments
            .iter()
            .map(|s| match *s {
                Segment::Head(a, b) => IoSlice::new(&self.head[a..b]),
                Segment::Body(i) => IoSlice::new(self.bodies[i].as_slice()),
            })
            .filter(|s| !s.is_empty())
            .collect();
        let result = write_all_vectored(stream, &mut slices);
        drop(slices);
        if result.is_ok() {
            self.messages = 0;
        }
        self.head.clear();
        self.head_mark = 0;
        self.bodies.clear();
        self.segments.clear();
        self.bytes = 0;
        // Do not keep a large buffer around on an idle connection.
        if self.head.capacity() > 64 << 10 {
            self.head = Vec::with_capacity(1024);
        }
        result
    }
}

fn write_all_vectored(mut stream: &TcpStream, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !slices.is_empty() {
        match stream.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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
