//! A server's connection threads, which accept for themselves: a thread
//! waits in `accept`, serves the connection it gets (handshake, then its
//! reads) and, when that connection has ended, waits in `accept` again.
//!
//! Why no listener thread: with one, every connection costs two wake-ups
//! (the listener's, out of `accept`, and then the connection thread's, out
//! of a hand-over), and on a busy core each is a context switch. A thread
//! that accepts and then serves is woken once. Several threads can wait in
//! `accept` on one socket; the kernel hands each connection to one of them.
//!
//! Why threads are kept: under connection churn (clients that connect,
//! exchange a little and leave) creating and ending a thread per connection
//! is a large part of the server's work: `clone`, the new stack's first
//! page faults, a cold allocator cache (glibc gives each thread its own,
//! filled and flushed again at exit), and the thread's exit.
//!
//! The bounds: at least one thread always waits in `accept` (the one that
//! takes the last waiting place starts a replacement before it serves).
//! A waiting thread that gets nothing for the pool's `keep` exits unless it
//! is the last one waiting (the accept timeout is the listening socket's
//! `SO_RCVTIMEO`). So there are never more threads than connections
//! being served, plus those that ended within `keep`, plus one; when the
//! listening socket is shut down (`sys::stop_accepting`) every waiting
//! thread's `accept` fails and the thread exits, and a serving thread
//! exits when its connection ends.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::spawn::spawn_detached;
use super::sys::set_accept_timeout;

/// What a pool's threads do with what they accept.
pub(crate) trait Acceptor: Send + Sync + 'static {
    /// An admitted connection, ready to be served.
    type Job: Send;

    /// The pool is to stop: a thread that wakes from `accept` exits (and
    /// drops what it accepted).
    fn stopped(&self) -> bool;

    /// Decide on a new connection at once, without waiting for the peer:
    /// a job to serve, or `None` if it was refused (and already answered).
    fn admit(self: &Arc<Self>, stream: TcpStream, peer: SocketAddr) -> Option<Self::Job>;

    /// Serve an admitted connection until it ends (on the thread that
    /// accepted it).
    fn serve(self: &Arc<Self>, job: Self::Job);

    /// Answer an admitted connection that no thread can take over from
    /// (a replacement thread could not start): refuse it without waiting.
    fn unserved(&self, job: Self::Job);
}

/// The threads accepting on one listening socket, counted.
pub(crate) struct AcceptPool {
    name: &'static str,
    stack_size: usize,
    /// Threads that will call `accept` next without anyone's help: blocked
    /// in it, or on their way back to it.
    waiting: AtomicUsize,
    /// Threads alive; each holds a descriptor of the listening socket until
    /// just before it stops counting.
    alive: Mutex<usize>,
    all_gone: Condvar,
}

impl AcceptPool {
    /// Start accepting on `listener` with one thread named `name` (at most
    /// 15 bytes) of `stack_size` bytes; more start as connections keep
    /// threads busy, and each waits at most `keep` for a connection before
    /// it exits (except the last one waiting).
    ///
    /// # Errors
    /// The accept timeout cannot be set, or the first thread cannot start.
    pub(crate) fn start<A: Acceptor>(
        name: &'static str,
        stack_size: usize,
        keep: Duration,
        listener: TcpListener,
        acceptor: Arc<A>,
    ) -> io::Result<Arc<AcceptPool>> {
        set_accept_timeout(&listener, keep)?;
        let pool = Arc::new(AcceptPool {
            name,
            stack_size,
            waiting: AtomicUsize::new(0),
            alive: Mutex::new(0),
            all_gone: Condvar::new(),
        });
        pool.add_thread(Arc::new(listener), acceptor)?;
        Ok(pool)
    }

    /// Threads waiting for a connection now (approximately: a thread on
    /// its way back to `accept` counts).
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Wait until every thread has exited (and so closed its descriptor of
    /// the listening socket), or until `deadline`. True if they all have.
    pub(crate) fn wait_all_gone(&self, deadline: Instant) -> bool {
        let mut alive = self.alive.lock();
        while *alive > 0 {
            if self.all_gone.wait_until(&mut alive, deadline).timed_out() {
                return *alive == 0;
            }
        }
        true
    }

    /// Start one more thread, counted as waiting from now on.
    fn add_thread<A: Acceptor>(
        self: &Arc<Self>,
        listener: Arc<TcpListener>,
        acceptor: Arc<A>,
    ) -> io::Result<()> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        *self.alive.lock() += 1;
        let pool = Arc::clone(self);
        let started = spawn_detached(self.name, self.stack_size, move || {
            // Dropped last (also when `run` unwinds): `run` has dropped the
            // thread's listener by then.
            let _leaving = Leaving(&pool);
            run(&pool, listener, acceptor);
        });
        if started.is_err() {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            Leaving(self).note();
        }
        started
    }
}

/// Counts a thread out of [`AcceptPool::alive`] when dropped.
struct Leaving<'a>(&'a AcceptPool);

impl Leaving<'_> {
    fn note(&self) {
        let mut alive = self.0.alive.lock();
        *alive -= 1;
        if *alive == 0 {
            self.0.all_gone.notify_all();
        }
    }
}

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        self.note();
    }
}

/// A pool thread's life: accept, serve, accept again.
fn run<A: Acceptor>(pool: &Arc<AcceptPool>, listener: Arc<TcpListener>, acceptor: Arc<A>) {
    loop {
        let accepted = listener.accept();
        if acceptor.stopped() {
            pool.waiting.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        match accepted {
            Ok((stream, peer)) => {
                let Some(job) = acceptor.admit(stream, peer) else {
                    continue;
                };
                // The last thread waiting starts another before it serves,
                // so that someone always accepts.
                if pool.waiting.fetch_sub(1, Ordering::AcqRel) == 1
                    && pool
                        .add_thread(Arc::clone(&listener), Arc::clone(&acceptor))
                        .is_err()
                {
                    pool.waiting.fetch_add(1, Ordering::AcqRel);
                    acceptor.unserved(job);
                    continue;
                }
                acceptor.serve(job);
                pool.waiting.fetch_add(1, Ordering::AcqRel);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                // Nothing came for `keep`: leave, unless nobody else waits.
                if pool.waiting.fetch_sub(1, Ordering::AcqRel) > 1 {
                    return;
                }
                pool.waiting.fetch_add(1, Ordering::AcqRel);
            }
            // Out of file descriptors or memory, or the peer gave up before
            // we accepted: back off briefly and keep serving.
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc;

    use super::*;

    /// Serves each connection by reading until the peer closes, telling
    /// the test which thread served it.
    struct Echoless {
        stop: AtomicBool,
        served: Mutex<mpsc::Sender<String>>,
    }

    impl Acceptor for Echoless {
        type Job = TcpStream;
        fn stopped(&self) -> bool {
            self.stop.load(Ordering::Acquire)
        }
        fn admit(self: &Arc<Self>, stream: TcpStream, _: SocketAddr) -> Option<TcpStream> {
            Some(stream)
        }
        fn serve(self: &Arc<Self>, mut job: TcpStream) {
            let name = format!("{:?}", std::thread::current().id());
            self.served.lock().send(name).unwrap();
            let mut sink = [0u8; 64];
            while matches!(job.read(&mut sink), Ok(n) if n > 0) {}
        }
        fn unserved(&self, _: TcpStream) {}
    }

    fn pool(
        keep: Duration,
    ) -> (
        Arc<AcceptPool>,
        Arc<Echoless>,
        SocketAddr,
        TcpListener,
        mpsc::Receiver<String>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stopper = listener.try_clone().unwrap();
        let (tx, rx) = mpsc::channel();
        let acceptor = Arc::new(Echoless {
            stop: AtomicBool::new(false),
            served: Mutex::new(tx),
        });
        let pool =
            AcceptPool::start("wse-test", 64 << 10, keep, listener, Arc::clone(&acceptor)).unwrap();
        (pool, acceptor, addr, stopper, rx)
    }

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting: {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn the_thread_that_served_accepts_the_next_connection() {
        let (pool, _acceptor, addr, _stopper, served) = pool(Duration::from_secs(5));
        let first = TcpStream::connect(addr).unwrap();
        let a = served.recv_timeout(Duration::from_secs(5)).unwrap();
        // Serving the first connection, the only thread started another.
        wait_for("a replacement waits", || pool.waiting() == 1);
        assert_eq!(*pool.alive.lock(), 2);
        drop(first);
        wait_for("the first thread is back", || pool.waiting() == 2);
        // Two wait: the next two connections are served by those two
        // threads, one of them the first thread; no third starts.
        let _second = TcpStream::connect(addr).unwrap();
        let _third = TcpStream::connect(addr).unwrap();
        let b = served.recv_timeout(Duration::from_secs(5)).unwrap();
        let c = served.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(a == b || a == c, "the first thread served again");
        wait_for("a replacement waits", || pool.waiting() == 1);
        assert_eq!(*pool.alive.lock(), 3);
    }

    #[test]
    fn idle_threads_leave_after_keep_but_one_stays() {
        let (pool, _acceptor, addr, _stopper, served) = pool(Duration::from_millis(100));
        let conns: Vec<_> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
        for _ in 0..4 {
            served.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        wait_for("five threads", || *pool.alive.lock() == 5);
        drop(conns);
        // Each goes back to `accept`, gets nothing for 100 ms and leaves,
        // except the last.
        wait_for("one thread left", || *pool.alive.lock() == 1);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!((*pool.alive.lock(), pool.waiting()), (1, 1));
        // And it still accepts.
        let _again = TcpStream::connect(addr).unwrap();
        served.recv_timeout(Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn stopping_the_socket_ends_waiting_threads_and_serving_ones_after() {
        let (pool, acceptor, addr, stopper, served) = pool(Duration::from_secs(60));
        let busy = TcpStream::connect(addr).unwrap();
        served.recv_timeout(Duration::from_secs(5)).unwrap();
        wait_for("a replacement waits", || pool.waiting() == 1);
        acceptor.stop.store(true, Ordering::Release);
        assert!(super::super::sys::stop_accepting(&stopper));
        // The waiting thread is gone at once; the serving one is not.
        wait_for("the waiting thread left", || *pool.alive.lock() == 1);
        assert!(!pool.wait_all_gone(Instant::now() + Duration::from_millis(50)));
        drop(busy);
        assert!(pool.wait_all_gone(Instant::now() + Duration::from_secs(5)));
        drop(stopper);
        // Every descriptor of the socket is closed: the port is free.
        TcpListener::bind(addr).unwrap();
    }
}
