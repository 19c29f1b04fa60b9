//! Starting connection threads without the costs `std::thread` adds.
//!
//! A `std::thread` maps, besides its stack and guard page, a signal stack
//! and its guard page (for the stack-overflow message): four memory maps
//! per thread, eight per connection. Under Linux's default
//! `vm.max_map_count` of 65,530 that caps a process near 8,000 connections,
//! and when the signal stack cannot be mapped, std aborts the whole process
//! from inside the new thread. Connection threads are therefore started
//! with `pthread_create` directly: detached (nobody joins them; they end
//! with their connection, or after a short wait in `accept` for the next
//! one: `pool.rs`), with the configured stack and the default guard
//! page, and nothing else. Two maps per thread; a failure is an `Err` the
//! server answers with 503. [`release_unused_stack`] lets a connection
//! thread give back the stack pages its handshake touched.
//!
//! With `sys.rs` (vectored sends), the engine's only `unsafe` code.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::ffi::c_void;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What the new thread receives: its name, its work and what the work
/// takes.
struct Task<T, F> {
    name: &'static str,
    payload: T,
    work: F,
}

/// Run `f` on a new detached thread named `name` (at most 15 bytes) with a
/// stack of `stack_size` bytes (raised to the platform minimum).
///
/// A panic in `f` is caught on that thread (it must not unwind into the C
/// start routine); callers handle their own panics before that.
pub(crate) fn spawn_detached(
    name: &'static str,
    stack_size: usize,
    f: impl FnOnce() + Send + 'static,
) -> io::Result<()> {
    spawn_with(name, stack_size, (), move |()| f()).map_err(|(e, ())| e)
}

/// As [`spawn_detached`], running `f(payload)`; if the thread cannot be
/// started, `payload` is handed back (a server still answers the socket
/// it would have served).
///
/// The task is moved onto the new thread's stack and its box freed before
/// `f` runs: a thread that lives as long as its connection keeps no heap
/// block of its creator's (nor a chunk stranded in its allocator cache).
pub(crate) fn spawn_with<T, F>(
    name: &'static str,
    stack_size: usize,
    payload: T,
    f: F,
) -> Result<(), (io::Error, T)>
where
    T: Send + 'static,
    F: FnOnce(T) + Send + 'static,
{
    let task = Box::new(Task {
        name,
        payload,
        work: f,
    });
    let arg = Box::into_raw(task).cast::<c_void>();
    let stack_size = stack_size.max(libc::PTHREAD_STACK_MIN);
    // SAFETY: `attr` is initialised by `pthread_attr_init` before any other
    // use and destroyed once `pthread_create` has copied it. `arg` is a
    // leaked `Box<Task<T, F>>`; exactly one side reclaims it: `start::<T, F>`
    // (the same types) when the thread was created, this function when it
    // was not.
    let rc = unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        let mut rc = libc::pthread_attr_init(&mut attr);
        if rc == 0 {
            rc = libc::pthread_attr_setstacksize(&mut attr, stack_size);
            if rc == 0 {
                rc = libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
            }
            let mut thread: libc::pthread_t = std::mem::zeroed();
            if rc == 0 {
                rc = libc::pthread_create(&mut thread, &attr, start::<T, F>, arg);
            }
            libc::pthread_attr_destroy(&mut attr);
        }
        rc
    };
    if rc != 0 {
        // SAFETY: no thread was created, so `arg` is still ours (see above).
        let task = unsafe { Box::from_raw(arg.cast::<Task<T, F>>()) };
        return Err((io::Error::from_raw_os_error(rc), task.payload));
    }
    Ok(())
}

extern "C" fn start<T, F: FnOnce(T)>(arg: *mut c_void) -> *mut c_void {
    // The block ends before the work runs: the box is freed at once.
    let Task {
        name,
        payload,
        work,
    } = {
        // SAFETY: `arg` is the `Box<Task<T, F>>` leaked by `spawn_with`,
        // handed to exactly this thread, which takes it back exactly once.
        let task = unsafe { Box::from_raw(arg.cast::<Task<T, F>>()) };
        *task
    };
    // Named from inside: a detached thread's handle is only known valid to
    // the thread itself (it may already have exited when the creator names
    // it, and on musl that handle is freed memory).
    set_name(name);
    // Unwinding out of an `extern "C"` function aborts: stop it here.
    let _ = catch_unwind(AssertUnwindSafe(move || work(payload)));
    std::ptr::null_mut()
}

/// Hand back to the kernel the pages of the calling thread's stack below
/// the current frame: pages that deeper calls touched and that no live
/// frame uses (a server connection thread parses the handshake, then reads
/// for the rest of its life a few frames higher). They read as zeros if
/// touched again. Best effort: does nothing if the stack cannot be found.
#[cfg(target_os = "linux")]
#[inline(never)]
pub(crate) fn release_unused_stack() {
    // Room left below this frame for `madvise` itself and a signal handler.
    const MARGIN: usize = 2048;
    thread_local! {
        /// This thread's stack (lowest address, size) once looked up: a
        /// connection thread kept for reuse (`pool.rs`) releases its stack
        /// once per connection, and the lookup costs a system call.
        static STACK: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    }
    let marker = 0u8;
    let here = std::hint::black_box(&marker) as *const u8 as usize;
    let (low, size) = match STACK.with(Cell::get) {
        (0, _) => {
            let Some(found) = this_stack() else { return };
            STACK.with(|s| s.set(found));
            found
        }
        known => known,
    };
    let page = match page_size() {
        Some(p) => p,
        None => return,
    };
    let high = here.saturating_sub(MARGIN) & !(page - 1);
    if low % page != 0 || high <= low || here > low + size {
        return;
    }
    // SAFETY: the range lies inside this thread's stack mapping (found by
    // `this_stack` for this very thread) and wholly below the current frame
    // minus a margin; nothing live is stored there (stacks grow down), so
    // dropping those pages (they come back zero-filled on a later touch)
    // changes no data in use.
    unsafe {
        libc::madvise(low as *mut c_void, high - low, libc::MADV_DONTNEED);
    }
}

/// The calling thread's stack: lowest address and size.
#[cfg(target_os = "linux")]
fn this_stack() -> Option<(usize, usize)> {
    // SAFETY: `attr` is filled by `pthread_getattr_np` for this very thread
    // and destroyed once read; `low` and `size` are plain out-parameters.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut low: *mut c_void = std::ptr::null_mut();
        let mut size = 0usize;
        let rc = libc::pthread_attr_getstack(&attr, &mut low, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        (rc == 0 && !low.is_null()).then_some((low as usize, size))
    }
}

#[cfg(target_os = "linux")]
fn page_size() -> Option<usize> {
    // SAFETY: `sysconf` only reads a system constant.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        p if p > 0 => Some(p as usize),
        _ => None,
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn release_unused_stack() {}

/// Put the calling thread under `SCHED_BATCH`: when it is woken it does not
/// preempt the thread that woke it, but runs once that thread blocks or its
/// time slice ends. A writer thread is woken for a message handed to it;
/// under the default policy the wake-up preempts the sender, so the writer
/// sends one frame per wake-up instead of the whole batch the application
/// queued. Best effort (unprivileged, and a no-op where the policy does
/// not exist).
#[cfg(target_os = "linux")]
pub(crate) fn prefer_batching() {
    // SAFETY: `param` is a valid sched_param; pid 0 is the calling thread.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn prefer_batching() {}

/// Name the calling thread (at most 15 bytes are kept).
#[cfg(target_os = "linux")]
fn set_name(name: &'static str) {
    let mut buf = [0u8; 16];
    let n = name.len().min(15);
    buf[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: `buf` is NUL-terminated and at most 16 bytes, as Linux
    // requires; `pthread_self()` is the calling, running thread. The name is
    // cosmetic, so a failure is ignored.
    unsafe {
        libc::pthread_setname_np(libc::pthread_self(), buf.as_ptr().cast());
    }
}

#[cfg(not(target_os = "linux"))]
fn set_name(_name: &'static str) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_task_and_survives_its_panic() {
        let (tx, rx) = crossbeam_channel::bounded(2);
        let tx2 = tx.clone();
        spawn_detached("wse-test", 64 << 10, move || tx.send(1).unwrap()).unwrap();
        spawn_detached("wse-test", 64 << 10, move || {
            tx2.send(2).unwrap();
            // Unwind without the panic hook's message in the test output.
            std::panic::resume_unwind(Box::new("caught on the thread"));
        })
        .unwrap();
        let mut got: Vec<i32> = rx.iter().take(2).collect();
        got.sort();
        assert_eq!(got, [1, 2]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn batching_changes_only_the_calling_thread() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        spawn_detached("wse-test", 64 << 10, move || {
            // SAFETY: sched_getscheduler has no preconditions.
            let before = unsafe { libc::sched_getscheduler(0) };
            prefer_batching();
            // SAFETY: as above.
            let after = unsafe { libc::sched_getscheduler(0) };
            tx.send((before, after)).unwrap();
        })
        .unwrap();
        let (before, after) = rx.recv().unwrap();
        assert_eq!((before, after), (libc::SCHED_OTHER, libc::SCHED_BATCH));
        // SAFETY: as above.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn releasing_the_stack_keeps_the_frames_in_use() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        spawn_detached("wse-test", 128 << 10, move || {
            // Touch deep stack, return from it, release, then use the stack
            // again: the live frame's data survives and deeper calls work.
            fn deep(n: u32) -> u64 {
                let pad = std::hint::black_box([n as u8; 512]);
                if n == 0 {
                    u64::from(pad[0])
                } else {
                    deep(n - 1) + u64::from(pad[1])
                }
            }
            let live = std::hint::black_box([7u8; 256]);
            let first = deep(100);
            release_unused_stack();
            let second = deep(100);
            tx.send((
                first,
                second,
                live.iter().map(|&b| u64::from(b)).sum::<u64>(),
            ))
            .unwrap();
        })
        .unwrap();
        let (first, second, live) = rx.recv().unwrap();
        assert_eq!(first, second);
        assert_eq!(live, 7 * 256);
    }
}
