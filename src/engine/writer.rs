//! The writer thread of a connection: it sends the control lane first,
//! then queued messages gathered into batches (see `outbox.rs`), and
//! whatever a direct write left unsent; last, our close frame.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_channel::select_biased;

use super::lane::LaneReceiver;
use super::outbox::{Batch, Control, Outbox, Outgoing};
use super::shared::Shared;
use crate::protocol::OpCode;

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
