//! The writer thread of a connection, started the first time a frame has
//! to wait (`shared::Writer`): it sends the control lane first, then queued
//! messages gathered into batches (see `outbox.rs`), and whatever a direct
//! write left unsent; last, our close frame.

use std::sync::Arc;

use crossbeam_channel::select_biased;

use super::lane::LaneReceiver;
use super::outbox::{Batch, Control, Outbox, Outgoing};
use super::shared::{Shared, WriterParts};
use super::spawn::prefer_batching;
use crate::protocol::{CloseCode, CloseInitiator, OpCode};

/// The writer thread's body (see `shared::Writer` for when it starts).
pub(crate) fn thread_main(shared: Arc<Shared>, parts: WriterParts) {
    let WriterParts {
        out_rx,
        ctrl_rx,
        guard,
        ..
    } = parts;
    let _guard = guard;
    if shared.config.batch_scheduling {
        prefer_batching();
    }
    let s = Arc::clone(&shared);
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(s, out_rx, ctrl_rx)));
    if ran.is_err() {
        shared.kill(
            CloseCode::INTERNAL_ERROR,
            "internal error: writer panicked",
            CloseInitiator::Local,
        );
    }
}

/// Write the connection's frames until it closes: the control lane first,
/// then queued messages, batched; and whatever a direct write left unsent.
fn run(shared: Arc<Shared>, out_rx: LaneReceiver<Outgoing>, ctrl_rx: LaneReceiver<Control>) {
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
        if std::mem::take(&mut batch.close_unfinished) {
            // That was the end of our close frame, written before this
            // thread started (`Shared::writer_woken`): nothing follows it.
            drop(batch);
            shared.on_close_sent();
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
    shared.writing_over(&mut batch, &out_rx);
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
    match batch.write_out(&shared.transport, false) {
        Ok(_) => true,
        Err(e) => {
            batch.closed = true;
            shared.write_failed(&e);
            false
        }
    }
}

/// Finish what a direct write left unsent (blocking).
fn finish_leftover(shared: &Shared, batch: &mut Batch) -> bool {
    match batch.finish_leftover(&shared.transport) {
        Ok(()) => true,
        Err(e) => {
            batch.closed = true;
            shared.write_failed(&e);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{ErrorKind, IoSlice, Read};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    use super::*;
    use crate::config::Config;
    use crate::engine::lane::{lane, weighed_lane};
    use crate::engine::transport::Transport;
    use crate::protocol::encoder::Encoder;
    use crate::protocol::{CloseFrame, Role};

    /// With no writer thread, the closing thread writes our close frame
    /// itself; when the socket will not take it, the writer starts, sends
    /// it once the peer reads, and tells the lifecycle, so the close
    /// handshake completes as usual.
    #[test]
    fn a_close_frame_the_socket_will_not_take_starts_the_writer() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let (_out_tx, out_rx) = weighed_lane(4, 1 << 20);
        let (ctrl_tx, ctrl_rx) = lane(4);
        let parts = WriterParts {
            out_rx,
            ctrl_rx,
            guard: Arc::new(()),
            main: thread_main,
        };
        let config = Arc::new(Config::default());
        let shared = Shared::new(
            1,
            Role::Server,
            Transport::Tcp(ours),
            config,
            ctrl_tx,
            parts,
        );
        // Filler until the socket takes no more (the peer reads nothing yet).
        let filler = vec![0u8; 64 << 10];
        let mut filled = 0;
        loop {
            match shared
                .transport
                .write_vectored(&[IoSlice::new(&filler)], true)
            {
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(!shared.writer_started());
        let bye = CloseFrame {
            code: CloseCode::NORMAL,
            reason: "bye".into(),
        };
        assert!(shared.close(bye.code, &bye.reason, CloseInitiator::Local));
        assert!(
            shared.writer_started(),
            "the socket was full: the writer finishes"
        );

        let mut expected = Vec::new();
        Encoder::new(Role::Server, 4096).close(&mut expected, Some(&bye));
        let mut got = vec![0u8; filled + expected.len()];
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        peer.read_exact(&mut got).unwrap();
        assert_eq!(
            &got[filled..],
            &expected[..],
            "our close frame, whole, last"
        );
        // The peer's answer completes the handshake: the server ends TCP,
        // which it does only once the lifecycle knows our frame went out.
        shared.on_peer_close(Some(bye));
        let mut rest = [0u8; 16];
        assert_eq!(peer.read(&mut rest).unwrap(), 0, "EOF after the close");
    }

    /// With no writer thread and room in the socket, the close frame is
    /// written by the closing thread and no thread starts.
    #[test]
    fn a_close_frame_the_socket_takes_needs_no_writer() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let (_out_tx, out_rx) = weighed_lane(4, 1 << 20);
        let (ctrl_tx, ctrl_rx) = lane(4);
        let parts = WriterParts {
            out_rx,
            ctrl_rx,
            guard: Arc::new(()),
            main: |_, _| panic!("no writer thread expected"),
        };
        let config = Arc::new(Config::default());
        let shared = Shared::new(
            2,
            Role::Server,
            Transport::Tcp(ours),
            config,
            ctrl_tx,
            parts,
        );
        let bye = CloseFrame {
            code: CloseCode::GOING_AWAY,
            reason: String::new(),
        };
        assert!(shared.close(bye.code, &bye.reason, CloseInitiator::Local));
        assert!(!shared.writer_started());
        shared.on_peer_close(Some(bye.clone()));
        let mut expected = Vec::new();
        Encoder::new(Role::Server, 4096).close(&mut expected, Some(&bye));
        let mut got = Vec::new();
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        peer.read_to_end(&mut got).unwrap();
        assert_eq!(got, expected, "our close frame, then EOF");
    }
}
