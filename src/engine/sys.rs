//! Socket calls `std` does not offer.
//!
//! Every write of the engine goes through [`send_vectored`]: `sendmsg(2)`
//! with `MSG_NOSIGNAL`, so a peer that has gone away is an `EPIPE` error,
//! never a `SIGPIPE` that would kill a C or Python host process that did
//! not ignore the signal (std's `write_vectored` is a plain `writev`).
//! With `nonblocking`, `MSG_DONTWAIT` makes the call return at once when
//! the socket buffer is full: how a sending thread writes directly without
//! ever waiting on a slow peer.
//!
//! [`recv_now`] is the matching read that never waits (`MSG_DONTWAIT`)
//! on a socket that other reads wait on.
//!
//! Also what `std` does not offer on a listening socket: shutting it down
//! (to wake the threads waiting in its `accept`) and a timeout on
//! `accept`.
#![allow(unsafe_code)]

use std::io::{self, IoSlice};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Send as much of `slices` as the socket takes in one `sendmsg` call.
/// Returns the bytes sent; `WouldBlock` when `nonblocking` and the socket
/// buffer is full.
pub(crate) fn send_vectored(
    stream: &TcpStream,
    slices: &[IoSlice<'_>],
    nonblocking: bool,
) -> io::Result<usize> {
    let mut flags = libc::MSG_NOSIGNAL;
    if nonblocking {
        flags |= libc::MSG_DONTWAIT;
    }
    // Linux takes at most IOV_MAX (1024) iovecs per call.
    let count = slices.len().min(1024);
    // SAFETY: a zeroed msghdr is valid (no name, no control data). `IoSlice`
    // is guaranteed ABI-compatible with `iovec` on Unix, and `slices`
    // outlives the call, which only reads the buffers. The descriptor is
    // owned by `stream` and open for the duration of the borrow.
    let sent = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = slices.as_ptr().cast_mut().cast::<libc::iovec>();
        msg.msg_iovlen = count as _;
        libc::sendmsg(stream.as_raw_fd(), &msg, flags)
    };
    if sent < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(sent as usize)
    }
}

/// Read what the socket holds now into `buf`, without waiting:
/// `WouldBlock` if it holds nothing, `Ok(0)` at the end of the stream.
pub(crate) fn recv_now(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length for the call; the
    // descriptor is owned by `stream` and open for the borrow.
    let got = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if got < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(got as usize)
    }
}

/// Wait until the socket can take more bytes (or has failed: the next
/// send then says how), at most `timeout` (`None`: as long as it takes).
/// Returns `false` if the time ran out first. A socket shut down by
/// another thread counts as writable, so a kill wakes a waiting writer.
pub(crate) fn wait_writable(stream: &TcpStream, timeout: Option<Duration>) -> io::Result<bool> {
    let ms = timeout.map_or(-1, |t| {
        // Round up: a wait of 0.5 ms must not become a busy loop of 0 ms polls.
        i32::try_from(t.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
    });
    let mut fd = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    loop {
        // SAFETY: `fd` is one valid pollfd that lives across the call; the
        // descriptor is owned by `stream`, open for the borrow.
        let ready = unsafe { libc::poll(&mut fd, 1, ms) };
        match ready {
            0 => return Ok(false),
            n if n > 0 => return Ok(true),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// Stop `listener` accepting and wake every thread blocked in its
/// `accept` (which then fails). Linux does this for a listening socket
/// that is shut down; elsewhere this returns `false` and the caller must
/// wake the acceptor another way.
pub(crate) fn stop_accepting(listener: &TcpListener) -> bool {
    // SAFETY: the descriptor is owned by `listener`, open for the borrow;
    // `shutdown` only changes the socket's state.
    cfg!(target_os = "linux")
        && unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR) } == 0
}

/// Make `accept` on `listener` fail with `WouldBlock` after waiting
/// `timeout` for a connection (`SO_RCVTIMEO`, which `accept` honours).
///
/// On Linux an accepted socket inherits the timeout: the server sets its
/// own read timeouts on every connection it accepts.
pub(crate) fn set_accept_timeout(listener: &TcpListener, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        // Under 1,000,000: fits every platform's `suseconds_t`.
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: the descriptor is owned by `listener`, open for the borrow;
    // `tv` is a valid `timeval` whose size is passed with it.
    let set = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if set == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    use super::*;

    #[test]
    fn sends_vectored_and_reports_a_full_buffer_without_waiting() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let tx = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut rx, _) = listener.accept().unwrap();
        let n = send_vectored(&tx, &[IoSlice::new(b"ab"), IoSlice::new(b"cd")], false).unwrap();
        assert_eq!(n, 4);
        let mut got = [0u8; 4];
        rx.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"abcd");
        // Nobody reads: the buffers fill and a non-blocking send says so.
        let chunk = vec![0u8; 1 << 20];
        let full = (0..512).find_map(
            |_| match send_vectored(&tx, &[IoSlice::new(&chunk)], true) {
                Ok(_) => None,
                Err(e) => Some(e.kind()),
            },
        );
        assert_eq!(full, Some(io::ErrorKind::WouldBlock));
    }

    #[test]
    fn a_closed_peer_is_an_error_not_a_signal() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let tx = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        drop(listener.accept().unwrap());
        let chunk = vec![0u8; 64 << 10];
        // The first sends may succeed (into the buffer) until the reset arrives.
        let failed = (0..1000).any(|_| send_vectored(&tx, &[IoSlice::new(&chunk)], false).is_err());
        assert!(failed, "sending to a closed peer kept succeeding");
    }
}
