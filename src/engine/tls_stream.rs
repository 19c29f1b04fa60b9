//! One TLS session over a TCP socket, shared by a connection's reader
//! thread and the threads that write (the writer and direct senders).
//!
//! The session (rustls's state machine: keys, sequence numbers, buffered
//! records) sits behind one mutex, held only for work on memory: decrypting
//! what was read, encrypting what is sent, and handing finished records to
//! the socket with non-blocking sends. No thread ever holds it across a
//! call that waits on the network:
//!
//! - the reader reads ciphertext from the socket *without* the lock (into
//!   its own [`Inbox`]), then takes the lock to decrypt it; while the
//!   connection is busy it first takes, under the lock, what the socket
//!   already holds (a read that never waits), and waits without the lock
//!   only when there is nothing;
//! - a writer encrypts under the lock and sends with `MSG_DONTWAIT`; when
//!   the socket buffer is full it lets go of the lock and waits for the
//!   socket to become writable (`poll`), then takes it again.
//!
//! So a reader waiting for data never delays a sender, and a sender waiting
//! for a slow peer never delays the reader. Records leave in the order they
//! were sealed, because every send drains the session's one queue of
//! sealed records from its head, under the lock. Records the reader makes
//! (the answer to a TLS 1.3 `KeyUpdate`, an alert) join the same queue; if
//! the socket would not take them at once, [`TlsStream::needs_flush`] says
//! so and the reader wakes the writer thread to send them.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use rustls::Connection;

use super::sys::{recv_now, send_vectored, wait_writable};
use crate::tls::TlsError;

/// Ciphertext asked for in one socket read while the connection is busy:
/// one full TLS record (16 KiB of plaintext plus its overhead) and change.
const BUSY_READ: usize = 17 << 10;
/// ... and while it is quiet (the buffer is released after a read this small).
const QUIET_READ: usize = 2 << 10;
/// Plaintext rustls seals ahead of the socket, at most: what one non-blocking
/// send can usually take, so a sender gives up the lock often.
const SEAL_AHEAD: usize = 64 << 10;

/// A TLS session over TCP (see the module docs).
pub(crate) struct TlsStream {
    tcp: TcpStream,
    session: Mutex<Connection>,
    /// Reader only: ciphertext read from the socket and not yet taken by
    /// the session. A mutex that is never contended (one reader at a time).
    inbox: Mutex<Inbox>,
    /// The reader left sealed records in the session that the socket would
    /// not take: the writer must send them.
    needs_flush: AtomicBool,
    /// The peer's side of TCP ended (or was reset) without its
    /// `close_notify`: it is gone, and ours would only draw a reset.
    peer_vanished: AtomicBool,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("tcp", &self.tcp)
            .finish_non_exhaustive()
    }
}

/// Ciphertext the reader read and the session has not taken yet.
#[derive(Default)]
struct Inbox {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The socket reported end of stream.
    eof: bool,
}

/// An error of the TLS layer as an I/O error that carries the classified
/// [`TlsError`] (`crate::Error::from` finds it again).
fn tls_io_error(e: &rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, TlsError::from_rustls(e))
}

/// `Write` onto the socket without waiting (`WouldBlock` when full), and
/// `Read` from it without waiting (`WouldBlock` when empty).
struct NonBlocking<'a>(&'a TcpStream);

impl Read for NonBlocking<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        recv_now(self.0, buf)
    }
}

impl Write for NonBlocking<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        send_vectored(self.0, &[IoSlice::new(buf)], true)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        send_vectored(self.0, bufs, true)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TlsStream {
    /// A session over `tcp`, its handshake not started.
    pub(crate) fn new(tcp: TcpStream, mut session: Connection) -> TlsStream {
        session.set_buffer_limit(Some(SEAL_AHEAD));
        TlsStream {
            tcp,
            session: Mutex::new(session),
            inbox: Mutex::new(Inbox::default()),
            needs_flush: AtomicBool::new(false),
            peer_vanished: AtomicBool::new(false),
        }
    }

    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// Run the TLS handshake to its end (blocking), by `deadline`.
    ///
    /// What a TLS 1.3 server sends after the handshake (its session
    /// tickets) stays sealed in the session and leaves with the first
    /// write (the 101): one `sendmsg` instead of two, and the client, which
    /// sends its request without waiting for them, never notices.
    pub(crate) fn handshake(&self, deadline: Instant) -> io::Result<()> {
        loop {
            let (handshaking, pending) = {
                let mut s = self.session.lock();
                let after = !s.is_handshaking()
                    && s.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3);
                if !after {
                    send_sealed(&self.tcp, &mut s)?;
                }
                (s.is_handshaking(), s.wants_write() && !after)
            };
            if !handshaking && !pending {
                return Ok(());
            }
            let left = time_left(deadline)?;
            if pending {
                wait_writable(&self.tcp, Some(left))?;
                continue;
            }
            self.tcp.set_read_timeout(Some(left))?;
            if self.receive(false)? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// The certificates the peer presented (leaf first), DER-encoded.
    pub(crate) fn peer_certificates(&self) -> Vec<Vec<u8>> {
        self.session
            .lock()
            .peer_certificates()
            .map(|certs| certs.iter().map(|c| c.to_vec()).collect())
            .unwrap_or_default()
    }

    /// Read plaintext (blocking; each socket read waits until `deadline`
    /// at most, if one is given). `Ok(0)`: the peer closed the session
    /// with `close_notify`; closing TCP without it is `UnexpectedEof`.
    pub(crate) fn read(&self, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<usize> {
        loop {
            match self.session.lock().reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return done,
            }
            if let Some(deadline) = deadline {
                // The handshake: no writer thread yet, so send them here.
                if self.needs_flush() {
                    self.write_by(&[], deadline)?;
                }
                self.tcp.set_read_timeout(Some(time_left(deadline)?))?;
            } else if self.needs_flush.load(Ordering::Acquire) {
                // The reader wakes the writer for those records, then reads on.
                return Err(io::ErrorKind::Interrupted.into());
            }
            // While the opening handshake runs, records of ours wait for
            // its response (see `handshake`); after it, they go at once.
            self.receive(deadline.is_none())?;
        }
    }

    /// Read ciphertext from the socket (blocking, no lock held), then hand
    /// it to the session and decrypt; with `send_own`, send the records of
    /// ours that made (a key update's answer). Returns whether the socket
    /// is at its end of stream.
    fn receive(&self, send_own: bool) -> io::Result<bool> {
        let mut inbox = self.inbox.lock();
        if inbox.start == inbox.end && !inbox.eof && inbox.buf.len() > QUIET_READ {
            // Busy: the socket probably holds more already. What it holds
            // goes straight into the session (under the lock, but without
            // waiting), saving the copy through the inbox; only when it
            // holds nothing does the reader wait, below, without the lock.
            let mut s = self.session.lock();
            match s.read_tls(&mut NonBlocking(&self.tcp)) {
                Ok(0) => inbox.eof = true,
                Ok(_) => {
                    if let Err(e) = s.process_new_packets() {
                        return Err(self.failed(&mut s, &e));
                    }
                    self.send_own(send_own, &mut s);
                    return Ok(false);
                }
                // Nothing there (or a failure the read below meets again).
                Err(_) => {}
            }
        }
        if inbox.start == inbox.end && !inbox.eof {
            let quiet = inbox.buf.len() <= QUIET_READ;
            if inbox.buf.is_empty() {
                inbox.buf = vec![0u8; QUIET_READ];
            }
            let n = loop {
                match (&self.tcp).read(&mut inbox.buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.peer_vanished.store(true, Ordering::Release);
                        return Err(e);
                    }
                    Ok(n) => break n,
                }
            };
            (inbox.start, inbox.end, inbox.eof) = (0, n, n == 0);
            if n == inbox.buf.len() && quiet {
                // Busy: read whole records at a time from now on.
                inbox.buf.resize(BUSY_READ, 0);
            }
        }
        let mut s = self.session.lock();
        let mut fed = false;
        while inbox.start < inbox.end {
            let Inbox {
                buf, start, end, ..
            } = &mut *inbox;
            match s.read_tls(&mut &buf[*start..*end]) {
                Ok(n) if n > 0 => {
                    inbox.start += n;
                    fed = true;
                }
                // The session holds as much undelivered plaintext as it
                // may: the rest waits here until the application reads
                // (`read` takes plaintext before it receives more).
                Ok(_) | Err(_) if fed => break,
                // Nothing taken and no plaintext to give: a failure, not a
                // reason to try again (which would spin).
                Ok(_) => return Err(io::ErrorKind::InvalidData.into()),
                Err(e) => return Err(e),
            }
            if let Err(e) = s.process_new_packets() {
                return Err(self.failed(&mut s, &e));
            }
        }
        if inbox.start == inbox.end && inbox.eof {
            let _ = s.read_tls(&mut &[][..]);
        }
        if !fed || inbox.eof {
            match s.process_new_packets() {
                Ok(state) if inbox.eof && !state.peer_has_closed() => {
                    self.peer_vanished.store(true, Ordering::Release);
                }
                Ok(_) => {}
                Err(e) => return Err(self.failed(&mut s, &e)),
            }
        }
        self.send_own(send_own, &mut s);
        drop(s);
        if inbox.start == inbox.end && inbox.end <= QUIET_READ / 2 && !inbox.eof {
            // Quiet again: hold no read buffer while idle.
            inbox.buf = Vec::new();
            (inbox.start, inbox.end) = (0, 0);
        }
        Ok(inbox.eof && inbox.start == inbox.end)
    }

    /// With `send_own`, send records of our own the session made while
    /// reading (a key update's answer) if the socket takes them now, else
    /// leave them for the writer.
    fn send_own(&self, send_own: bool, s: &mut Connection) {
        if send_own && s.wants_write() {
            let _ = send_sealed(&self.tcp, s);
            if s.wants_write() {
                self.needs_flush.store(true, Ordering::Release);
            }
        }
    }

    /// The session failed: send the alert it queued (if the socket takes
    /// it at once) and describe the failure.
    fn failed(&self, s: &mut Connection, e: &rustls::Error) -> io::Error {
        let _ = send_sealed(&self.tcp, s);
        tls_io_error(e)
    }

    /// Whether the reader left records that the writer must send (clears
    /// the flag: the caller wakes the writer).
    pub(crate) fn needs_flush(&self) -> bool {
        self.needs_flush.load(Ordering::Acquire) && self.needs_flush.swap(false, Ordering::AcqRel)
    }

    /// Encrypt from `slices` and send: blocking, returns once what it took
    /// is on the socket; non-blocking, returns what it took (sealed records
    /// the socket would not take stay in the session: [`flush`](Self::flush)
    /// sends them) or `WouldBlock` if earlier records still wait. Callers
    /// hold the outbox lock, so only one thread writes at a time.
    pub(crate) fn write_vectored(
        &self,
        slices: &[IoSlice<'_>],
        nonblocking: bool,
    ) -> io::Result<usize> {
        let mut taken = None;
        loop {
            {
                let mut s = self.session.lock();
                send_sealed(&self.tcp, &mut s)?;
                if taken.is_none() && !s.wants_write() {
                    taken = Some(s.writer().write_vectored(slices)?);
                    send_sealed(&self.tcp, &mut s)?;
                }
                match taken {
                    Some(n) if nonblocking || !s.wants_write() => return Ok(n),
                    None if nonblocking => return Err(io::ErrorKind::WouldBlock.into()),
                    _ => {}
                }
            }
            wait_writable(&self.tcp, None)?;
        }
    }

    /// Send every sealed record still in the session: blocking, until done;
    /// non-blocking, what the socket takes now. Returns whether none is left.
    pub(crate) fn flush(&self, nonblocking: bool) -> io::Result<bool> {
        loop {
            {
                let mut s = self.session.lock();
                send_sealed(&self.tcp, &mut s)?;
                if !s.wants_write() {
                    return Ok(true);
                }
                if nonblocking {
                    return Ok(false);
                }
            }
            wait_writable(&self.tcp, None)?;
        }
    }

    /// Write all of `bytes` by `deadline` (handshake responses, plain
    /// HTTP answers): each wait is bounded by the time left. Sealed behind
    /// records already waiting (session tickets), and sent with them.
    pub(crate) fn write_by(&self, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
        loop {
            {
                let mut s = self.session.lock();
                if !bytes.is_empty() {
                    // The session's buffer limit bounds what this seals.
                    let n = s.writer().write(bytes)?;
                    bytes = &bytes[n..];
                }
                send_sealed(&self.tcp, &mut s)?;
                if bytes.is_empty() && !s.wants_write() {
                    return Ok(());
                }
            }
            if !wait_writable(&self.tcp, Some(time_left(deadline)?))? {
                return Err(io::ErrorKind::TimedOut.into());
            }
        }
    }

    /// End one or both directions: `close_notify` first (if the socket
    /// takes it now, no writer is busy with the session and the peer is
    /// still there; it is a courtesy, the WebSocket close already said
    /// everything), then TCP.
    pub(crate) fn shutdown(&self, how: Shutdown) {
        if how != Shutdown::Read && !self.peer_vanished.load(Ordering::Acquire) {
            if let Some(mut s) = self.session.try_lock() {
                s.send_close_notify();
                let _ = send_sealed(&self.tcp, &mut s);
            }
        }
        let _ = self.tcp.shutdown(how);
    }
}

/// Hand sealed records to the socket until it is full (`Ok` then, with
/// the rest still queued in the session) or none are left.
fn send_sealed(tcp: &TcpStream, s: &mut Connection) -> io::Result<()> {
    while s.wants_write() {
        match s.write_tls(&mut NonBlocking(tcp)) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn time_left(deadline: Instant) -> io::Result<std::time::Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::ErrorKind::TimedOut.into())
    } else {
        Ok(left)
    }
}
