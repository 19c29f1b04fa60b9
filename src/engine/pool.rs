//! Threads kept for the next connection: a server's connection thread that
//! has finished with one connection waits a short while for another
//! instead of exiting.
//!
//! Under connection churn (clients that connect, exchange a little and
//! leave) creating and ending a thread per connection is a large part of
//! the server's work: `clone`, the new stack's first page faults, a cold
//! allocator cache (glibc gives each thread its own, filled and flushed
//! again at exit), and the thread's exit. Measured on full TLS handshakes,
//! reusing threads cut the server's CPU per handshake by about a fifth.
//!
//! The hand-over is a rendezvous channel: a job goes to a parked thread
//! only if one is waiting at that moment, else a new thread starts. So
//! there are never more parked threads than connections recently ended,
//! each parks at most [`ThreadCache::new`]'s `keep`, and all of them exit
//! at once when the cache is dropped (the server's listener stops).

use std::io;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};

use super::spawn::spawn_with;

/// Threads that run `work` on jobs of type `T`, kept for reuse.
pub(crate) struct ThreadCache<T> {
    name: &'static str,
    stack_size: usize,
    keep: Duration,
    work: fn(T),
    /// Zero capacity: a send succeeds only into a parked thread's hands.
    tx: Sender<T>,
    rx: Receiver<T>,
}

impl<T: Send + 'static> ThreadCache<T> {
    /// Threads named `name` with `stack_size`-byte stacks, each parked for
    /// up to `keep` after a job before it exits.
    pub(crate) fn new(name: &'static str, stack_size: usize, keep: Duration, work: fn(T)) -> Self {
        let (tx, rx) = bounded(0);
        ThreadCache {
            name,
            stack_size,
            keep,
            work,
            tx,
            rx,
        }
    }

    /// Run `work(job)` on a parked thread if one is waiting, else on a new
    /// one. If no thread can start, `job` comes back with the error.
    pub(crate) fn run(&self, job: T) -> Result<(), (io::Error, T)> {
        let job = match self.tx.try_send(job) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => job,
        };
        let (rx, work, keep) = (self.rx.clone(), self.work, self.keep);
        spawn_with(self.name, self.stack_size, job, move |mut job| {
            loop {
                work(job);
                job = match rx.recv_timeout(keep) {
                    Ok(next) => next,
                    // Parked long enough, or the cache is gone.
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return,
                };
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Instant;

    use super::*;

    fn thread_id_of(job: (u32, mpsc::Sender<(u32, String)>)) {
        let name = format!("{:?}", std::thread::current().id());
        job.1.send((job.0, name)).unwrap();
    }

    #[test]
    fn a_parked_thread_takes_the_next_job() {
        let cache = ThreadCache::new("wse-test", 64 << 10, Duration::from_secs(5), thread_id_of);
        let (tx, rx) = mpsc::channel();
        cache.run((1, tx.clone())).map_err(|(e, _)| e).unwrap();
        let (_, first) = rx.recv().unwrap();
        // Wait until the thread is parked again (a send then succeeds).
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut job = (2, tx.clone());
        loop {
            match cache.tx.try_send(job) {
                Ok(()) => break,
                Err(e) => job = e.into_inner(),
            }
            assert!(Instant::now() < deadline, "the thread never parked");
            std::thread::sleep(Duration::from_millis(1));
        }
        let (n, second) = rx.recv().unwrap();
        assert_eq!((n, &second), (2, &first), "the same thread ran both");
    }

    #[test]
    fn busy_threads_do_not_hold_up_a_job() {
        fn wait_then_report(job: (mpsc::Receiver<()>, mpsc::Sender<()>)) {
            job.0.recv().unwrap();
            job.1.send(()).unwrap();
        }
        let cache = ThreadCache::new(
            "wse-test",
            64 << 10,
            Duration::from_secs(5),
            wait_then_report,
        );
        let (done_tx, done_rx) = mpsc::channel();
        let mut gates = Vec::new();
        for _ in 0..3 {
            let (gate_tx, gate_rx) = mpsc::channel();
            cache
                .run((gate_rx, done_tx.clone()))
                .map_err(|(e, _)| e)
                .unwrap();
            gates.push(gate_tx);
        }
        // Three jobs, each holding its own thread at once: none waited.
        for gate in &gates {
            gate.send(()).unwrap();
        }
        for _ in 0..3 {
            done_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        }
    }

    #[test]
    fn parked_threads_leave_when_the_cache_is_dropped() {
        /// Tells the test when its thread exits (thread-locals are
        /// dropped then).
        struct OnExit(mpsc::Sender<&'static str>);
        impl Drop for OnExit {
            fn drop(&mut self) {
                let _ = self.0.send("exited");
            }
        }
        thread_local! {
            static ON_EXIT: std::cell::RefCell<Option<OnExit>> = const { std::cell::RefCell::new(None) };
        }
        fn watch_exit(job: mpsc::Sender<&'static str>) {
            job.send("ran").unwrap();
            ON_EXIT.with(|e| *e.borrow_mut() = Some(OnExit(job)));
        }
        let cache = ThreadCache::new("wse-test", 64 << 10, Duration::from_secs(60), watch_exit);
        let (tx, rx) = mpsc::channel();
        cache.run(tx).map_err(|(e, _)| e).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("ran"));
        // Parked for up to a minute, but the cache is dropped: it exits now.
        drop(cache);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("exited"));
    }

    #[test]
    fn a_parked_thread_exits_after_keep() {
        fn note(job: mpsc::Sender<()>) {
            job.send(()).unwrap();
        }
        let cache = ThreadCache::new("wse-test", 64 << 10, Duration::from_millis(50), note);
        let (tx, rx) = mpsc::channel();
        cache.run(tx.clone()).map_err(|(e, _)| e).unwrap();
        rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        // Nobody is parked any more: the job cannot be handed over.
        assert!(cache.tx.try_send(tx).is_err());
    }
}
