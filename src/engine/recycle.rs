//! Large message buffers, kept for the next large message.
//!
//! A message of a megabyte used to cost a fresh allocation per message:
//! the allocator hands large blocks out as new pages (`mmap`, or a heap
//! it trims after each free), so every page of every message faulted
//! once, and growing the buffer as the frame arrived moved it. Measured
//! on the 1 MiB echo with four in flight: page faults and zeroing them
//! were three quarters of the server's CPU. Buffers of sent messages
//! (written by the outbox, or freed by the C API) come back here; the
//! decoder takes one for the next message large enough to need it, its
//! pages already touched.
//!
//! Bounds: only buffers of at least [`MIN_CAPACITY`] and at most
//! [`MAX_CAPACITY`] are kept, [`MAX_KEPT_BYTES`] of them at most,
//! process-wide, and a buffer nobody took for [`KEEP_FOR`] (to two
//! periods) is freed by the timer thread. A connection holds no buffer
//! of its own between messages, so an idle connection still costs no
//! large buffer, and a process whose large messages stopped goes back to
//! holding none.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use super::timer::{self, TimerKind, TimerTarget};

/// Smaller buffers come from the allocator's ordinary heap, which is cheap.
pub(crate) const MIN_CAPACITY: usize = 64 << 10;
/// Larger buffers are rare enough to allocate each time.
pub(crate) const MAX_CAPACITY: usize = 16 << 20;
/// At most this much capacity is kept, process-wide.
pub(crate) const MAX_KEPT_BYTES: usize = 32 << 20;
/// A kept buffer not taken again within one to two of these is freed.
pub(crate) const KEEP_FOR: Duration = Duration::from_secs(1);

struct Kept {
    /// Each with the trim period it was given back in.
    buffers: Vec<(Vec<u8>, u64)>,
    bytes: usize,
    /// Trims so far (see [`trim`]).
    period: u64,
    /// A trim is scheduled on the timer thread.
    trimming: bool,
}

static KEPT: Mutex<Kept> = Mutex::new(Kept {
    buffers: Vec::new(),
    bytes: 0,
    period: 0,
    trimming: false,
});

/// The timer's handle on the pool (held here, so the timer's weak
/// reference to it stays valid).
struct Trimmer;

static TRIMMER: LazyLock<Arc<Trimmer>> = LazyLock::new(|| Arc::new(Trimmer));

impl TimerTarget for Trimmer {
    fn on_timer(self: Arc<Self>, _kind: TimerKind) {
        trim();
    }

    fn timer_panicked(&self) {}
}

/// Free the buffers given back before the previous trim and not taken
/// since; run again later while any are left.
fn trim() {
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let before = kept.period;
    kept.period += 1;
    let mut freed = Vec::new();
    let mut bytes = kept.bytes;
    kept.buffers.retain_mut(|(buffer, period)| {
        if *period < before {
            bytes -= buffer.capacity();
            freed.push(std::mem::take(buffer));
            false
        } else {
            true
        }
    });
    kept.bytes = bytes;
    kept.trimming = !kept.buffers.is_empty();
    if kept.trimming {
        timer::schedule(
            timer::deadline_in(KEEP_FOR),
            &TRIMMER,
            TimerKind::TrimBuffers,
        );
    }
    drop(kept);
    // Freed with no lock held.
    drop(freed);
}

/// A kept buffer with room for at least `len` bytes (the smallest such),
/// if there is one. Its length is how much of it is initialised (old
/// bytes of an earlier message: the caller writes over them, and must not
/// show them to anyone).
pub(crate) fn take(len: usize) -> Option<Vec<u8>> {
    if !(MIN_CAPACITY..=MAX_CAPACITY).contains(&len) {
        return None;
    }
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let best = kept
        .buffers
        .iter()
        .enumerate()
        .filter(|(_, (b, _))| b.capacity() >= len)
        .min_by_key(|(_, (b, _))| b.capacity())
        .map(|(i, _)| i)?;
    let (buffer, _) = kept.buffers.swap_remove(best);
    kept.bytes -= buffer.capacity();
    Some(buffer)
}

/// Keep `buffer` for a later message, if it is large enough to be worth
/// it and there is room; otherwise it is freed.
pub(crate) fn give(buffer: Vec<u8>) {
    let capacity = buffer.capacity();
    if !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
        return;
    }
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    if kept.bytes + capacity > MAX_KEPT_BYTES {
        // Full: freed (after the lock is released).
        drop(kept);
        drop(buffer);
        return;
    }
    kept.bytes += capacity;
    let period = kept.period;
    kept.buffers.push((buffer, period));
    if !kept.trimming {
        // The timer thread runs in any process that has a connection.
        kept.trimming = timer::init().is_ok();
        if kept.trimming {
            timer::schedule(
                timer::deadline_in(KEEP_FOR),
                &TRIMMER,
                TimerKind::TrimBuffers,
            );
        }
    }
}

/// Drop a message you are done with, keeping its buffer for the payload
/// of a later large message (of any connection) if it is large (64 KiB to
/// 16 MiB) and the process keeps less than 32 MiB of such buffers; small
/// ones are simply freed. Optional: messages sent with `Conn::send` are
/// recycled after they are written. Useful for large messages a program
/// received and consumed without sending them on (the bindings do it after
/// copying a message out). Any thread.
pub fn recycle(message: crate::protocol::Message) {
    match message {
        crate::protocol::Message::Text(s) => give(s.into_bytes()),
        crate::protocol::Message::Binary(b) => give(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test, since the pool is the process's: buffers come back, the
    /// smallest fitting one is chosen, and the bounds hold.
    /// The pool is the process's: these tests take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn buffers_are_reused_within_bounds() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        // Other tests in this process may use the pool meanwhile: look only
        // for the buffers this test marked.
        let mut a = Vec::with_capacity(MIN_CAPACITY * 4);
        a.extend_from_slice(&[7u8; 10]);
        let a_ptr = a.as_ptr();
        let mut b = Vec::with_capacity(MIN_CAPACITY * 2);
        b.push(1u8);
        let b_ptr = b.as_ptr();
        give(a);
        give(b);
        // Too small or too large: not kept, not handed out.
        give(Vec::with_capacity(MIN_CAPACITY / 2));
        assert!(take(MIN_CAPACITY / 2).is_none());
        assert!(take(MAX_CAPACITY + 1).is_none());
        // The smallest fitting buffer first (others' smaller ones may come
        // before both), each with its initialised length.
        let mut order = Vec::new();
        while let Some(buffer) = take(MIN_CAPACITY + 1) {
            if buffer.as_ptr() == a_ptr {
                order.push(('a', buffer.len()));
            } else if buffer.as_ptr() == b_ptr {
                order.push(('b', buffer.len()));
            }
            if order.len() == 2 {
                break;
            }
        }
        assert_eq!(order, [('b', 1), ('a', 10)]);
        let kept = KEPT.lock().unwrap();
        assert!(kept.bytes <= MAX_KEPT_BYTES);
        assert_eq!(
            kept.bytes,
            kept.buffers
                .iter()
                .map(|(b, _)| b.capacity())
                .sum::<usize>()
        );
    }

    #[test]
    fn buffers_nobody_takes_are_freed_by_the_timer() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let buffer = Vec::<u8>::with_capacity(MIN_CAPACITY * 3 + 7);
        let at = buffer.as_ptr() as usize;
        give(buffer);
        let here = || {
            let kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
            kept.buffers.iter().any(|(b, _)| b.as_ptr() as usize == at)
        };
        assert!(here());
        // The timer's trims free it once it was not taken for a period.
        let deadline = std::time::Instant::now() + KEEP_FOR * 5;
        while here() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!here(), "still kept after {:?}", KEEP_FOR * 5);
    }

    #[test]
    fn the_kept_bytes_stay_bounded() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..(MAX_KEPT_BYTES / MAX_CAPACITY + 4) {
            give(Vec::with_capacity(MAX_CAPACITY));
        }
        let mut kept = KEPT.lock().unwrap();
        assert!(kept.bytes <= MAX_KEPT_BYTES, "{} kept", kept.bytes);
        // Leave room for the other tests.
        kept.buffers.clear();
        kept.bytes = 0;
    }
}
