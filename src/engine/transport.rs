//! The byte stream under a connection: what the reader reads from and the
//! writer writes to, from the opening handshake on.
//!
//! Plain TCP, or TLS over TCP (`tls_stream.rs`), so the reader, the writer,
//! the handshake code and the close logic never name a socket type. An
//! enum rather than a trait object: plain TCP costs one branch for TLS
//! existing, not an indirection.

use std::io::{self, IoSlice, Read};
use std::net::{Shutdown, TcpStream};
use std::time::Instant;

use super::sys::{send_vectored, wait_writable};
use super::tls_stream::TlsStream;

/// One connection's transport. `&Transport` is shared by the reader (reads),
/// the writer and direct senders (writes, under the outbox lock) and the
/// close logic (shutdown); reads and writes may run at the same time.
#[derive(Debug)]
pub(crate) enum Transport {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP (boxed: the session is large, and plain TCP should not
    /// pay for its size).
    Tls(Box<TlsStream>),
}

impl Transport {
    /// Read what has arrived into `buf` (blocking); `Ok(0)` is the end of
    /// the stream.
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => (&*s).read(buf),
            Transport::Tls(t) => t.read(buf, None),
        }
    }

    /// Read what has arrived into `buf`, waiting until `deadline` at most
    /// (`TimedOut` or `WouldBlock` after it). For the handshake.
    pub(crate) fn read_by(&self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        match self {
            Transport::Tcp(s) => {
                s.set_read_timeout(Some(left))?;
                (&*s).read(buf)
            }
            Transport::Tls(t) => t.read(buf, Some(deadline)),
        }
    }

    /// Write from `slices` in one call: all of them or a part (blocking),
    /// or as much as fits now (`nonblocking`, `WouldBlock` if nothing fits).
    /// Over TLS, what was taken may still be partly in the session's sealed
    /// records after a non-blocking call: [`flush`](Self::flush) sends them.
    pub(crate) fn write_vectored(
        &self,
        slices: &[IoSlice<'_>],
        nonblocking: bool,
    ) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => send_vectored(s, slices, nonblocking),
            Transport::Tls(t) => t.write_vectored(slices, nonblocking),
        }
    }

    /// Send what earlier writes left sealed but unsent (TLS; plain TCP
    /// keeps nothing): blocking, until done; non-blocking, what fits now.
    /// Returns whether nothing is left.
    pub(crate) fn flush(&self, nonblocking: bool) -> io::Result<bool> {
        match self {
            Transport::Tcp(_) => Ok(true),
            Transport::Tls(t) => t.flush(nonblocking),
        }
    }

    /// Whether the reader left records of the TLS layer (an answer to a
    /// key update, an alert) that the writer must send. Clears the flag.
    pub(crate) fn needs_flush(&self) -> bool {
        match self {
            Transport::Tcp(_) => false,
            Transport::Tls(t) => t.needs_flush(),
        }
    }

    /// Write all of `bytes` by `deadline`: each write may wait only for the
    /// time left, so a client reading a byte at a time cannot stretch it.
    pub(crate) fn write_by(&self, bytes: &[u8], deadline: Instant) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => {
                // Sent without waiting, as a response to a new socket
                // almost always is; the wait for room, if any, is a `poll`
                // bounded by the time left (no socket timeout to set and
                // reset).
                let mut sent = 0;
                while sent < bytes.len() {
                    match send_vectored(s, &[IoSlice::new(&bytes[sent..])], true) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => sent += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            let left = deadline.saturating_duration_since(Instant::now());
                            if left.is_zero() || !wait_writable(s, Some(left))? {
                                return Err(io::ErrorKind::TimedOut.into());
                            }
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            Transport::Tls(t) => t.write_by(bytes, deadline),
        }
    }

    /// End one or both directions (over TLS, `close_notify` first). Errors
    /// only mean it already ended.
    pub(crate) fn shutdown(&self, how: Shutdown) {
        match self {
            Transport::Tcp(s) => {
                let _ = s.shutdown(how);
            }
            Transport::Tls(t) => t.shutdown(how),
        }
    }

    /// The certificates the peer presented over TLS (leaf first, DER);
    /// empty for plain TCP or when it presented none.
    pub(crate) fn peer_certificates(&self) -> Vec<Vec<u8>> {
        match self {
            Transport::Tcp(_) => Vec::new(),
            Transport::Tls(t) => t.peer_certificates(),
        }
    }

    /// The TCP socket underneath (socket options, addresses, timeouts, and
    /// reading what a refused client still sends).
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Tcp(s) => s,
            Transport::Tls(t) => t.tcp(),
        }
    }
}
