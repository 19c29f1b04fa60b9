//! The byte stream under a connection: what the reader reads from and the
//! writer writes to, once the opening handshake is done.
//!
//! Plain TCP is the only kind today; TLS (rustls) becomes a second variant
//! here, so the reader, the writer and the close logic never name a socket
//! type. An enum rather than a trait object: with one variant every call is
//! the plain socket call, and a second costs a branch, not an indirection.

use std::io::{self, IoSlice, Read};
use std::net::{Shutdown, TcpStream};

use super::sys::send_vectored;

/// One connection's transport. `&Transport` is shared by the reader (reads),
/// the writer and direct senders (writes, under the outbox lock) and the
/// close logic (shutdown); reads and writes may run at the same time.
#[derive(Debug)]
pub(crate) enum Transport {
    /// Plain TCP.
    Tcp(TcpStream),
}

impl Transport {
    /// Read what has arrived into `buf` (blocking); `Ok(0)` is the end of
    /// the stream.
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => (&*s).read(buf),
        }
    }

    /// Write from `slices` in one call: all of them or a part (blocking),
    /// or as much as fits now (`nonblocking`, `WouldBlock` if nothing fits).
    pub(crate) fn write_vectored(
        &self,
        slices: &[IoSlice<'_>],
        nonblocking: bool,
    ) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => send_vectored(s, slices, nonblocking),
        }
    }

    /// End one or both directions. Errors only mean it already ended.
    pub(crate) fn shutdown(&self, how: Shutdown) {
        match self {
            Transport::Tcp(s) => {
                let _ = s.shutdown(how);
            }
        }
    }

    /// The TCP socket underneath (for the server's handshake writes and
    /// socket options).
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Tcp(s) => s,
        }
    }

    /// The TCP socket back (a connection that could not start).
    pub(crate) fn into_tcp(self) -> TcpStream {
        match self {
            Transport::Tcp(s) => s,
        }
    }
}
