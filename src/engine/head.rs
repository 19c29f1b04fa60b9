//! Reading an HTTP head (request or response) with a deadline.

use std::io::ErrorKind;
use std::time::Instant;

use super::transport::Transport;
use crate::error::{Error, Result};
use crate::protocol::handshake::HandshakeError;

/// Read from `stream` until `parse` finds a complete head, the head passes
/// `max` bytes, or `deadline` passes. Returns the parsed head and the bytes
/// that followed it (already part of the WebSocket stream).
pub(crate) fn read_head<T>(
    stream: &Transport,
    deadline: Instant,
    max: usize,
    mut parse: impl FnMut(&[u8]) -> std::result::Result<Option<(T, usize)>, HandshakeError>,
) -> Result<(T, Vec<u8>)> {
    let mut buf = vec![0u8; max];
    let mut filled = 0;
    loop {
        if Instant::now() >= deadline {
            return Err(Error::Timeout);
        }
        let n = match stream.read_by(&mut buf[filled..], deadline) {
            Ok(0) => return Err(Error::Io(ErrorKind::UnexpectedEof.into())),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        filled += n;
        if let Some((head, used)) = parse(&buf[..filled])? {
            buf.truncate(filled);
            buf.drain(..used);
            return Ok((head, buf));
        }
    }
}
