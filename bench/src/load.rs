//! The echo load both `suite` and `loadgen` put on a server: connections
//! that each keep a number of messages in flight, feed a new message as
//! each echo comes back and flush once no more echoes are ready, all on one
//! current-thread tokio runtime (tokio-tungstenite, never wsengine).
//!
//! One thread driving every connection costs far less per message than a
//! thread per connection with a write per message (the first `loadgen`
//! did that and saturated its core at about 140,000 echoes per second, the
//! Python servers' range), so the load side stays out of the measurement.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, SinkExt, StreamExt};
use tungstenite::Message;

/// When a connection counts its echoes, and when it stops.
#[derive(Clone, Copy)]
pub struct Window {
    /// Echoes from here on are counted (the warm-up is over).
    pub from: Instant,
    /// Echoes from here on are not counted, and nothing more is sent.
    pub to: Instant,
}

impl Window {
    /// Counting starts `warmup` seconds after the connections are given
    /// 200 ms to open, and lasts `seconds`.
    pub fn after_warmup(warmup: f64, seconds: f64) -> Self {
        let start = Instant::now() + Duration::from_millis(200);
        Window {
            from: start + Duration::from_secs_f64(warmup),
            to: start + Duration::from_secs_f64(warmup + seconds),
        }
    }
}

/// Echoes received inside the window, counted by every connection.
pub type Counter = Arc<AtomicU64>;

/// A connection's messages in flight: when each was sent (echoes come back
/// in order), and the latencies of echoes inside the window.
pub struct Flight {
    sent_at: VecDeque<Instant>,
    latencies: Vec<u32>,
    window: Window,
    count: Counter,
}

impl Flight {
    /// `inflight` messages sent now.
    pub fn new(inflight: usize, window: Window, count: Counter) -> Self {
        Flight {
            sent_at: std::iter::repeat_n(Instant::now(), inflight).collect(),
            latencies: Vec::new(),
            window,
            count,
        }
    }

    /// The oldest message's echo arrived: record it, and count a reply as
    /// sent now. `false` once the window is over (send nothing more).
    pub fn echoed(&mut self) -> bool {
        let now = Instant::now();
        let sent = self.sent_at.pop_front().expect("an echo of something sent");
        if now >= self.window.from && now < self.window.to {
            self.latencies.push((now - sent).as_micros() as u32);
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        if now >= self.window.to {
            return false;
        }
        self.sent_at.push_back(now);
        true
    }

    /// The latencies (us) of the echoes inside the window.
    pub fn into_latencies(self) -> Vec<u32> {
        self.latencies
    }
}

/// One WebSocket client connection to `127.0.0.1:port` asking for `path`:
/// keep `inflight` text messages of `size` bytes going until the window
/// ends; returns the latencies (us) of echoes inside it.
pub async fn ws_client(
    port: u16,
    path: String,
    size: usize,
    inflight: usize,
    w: Window,
    count: Counter,
) -> Vec<u32> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let url = format!("ws://127.0.0.1:{port}{path}");
    let (ws, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("handshake");
    echo_loop(ws, size, inflight, w, count).await
}

/// [`ws_client`] over TLS (`wss://`), with `tls` (tokio-rustls) as the
/// client's configuration.
pub async fn wss_client(
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    size: usize,
    inflight: usize,
    w: Window,
    count: Counter,
) -> Vec<u32> {
    let ws = wss_connect(port, tls).await.expect("wss handshake");
    echo_loop(ws, size, inflight, w, count).await
}

/// A TLS then WebSocket handshake with `127.0.0.1:port` as `localhost`.
pub async fn wss_connect(
    port: u16,
    tls: Arc<rustls::ClientConfig>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    String,
> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, stream)
        .await
        .map_err(|e| e.to_string())?;
    let url = format!("wss://localhost:{port}/echo");
    let (ws, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Keep `inflight` text messages of `size` bytes going on `ws` until the
/// window ends, feeding one per echo and flushing once no more are ready.
async fn echo_loop<S>(
    mut ws: tokio_tungstenite::WebSocketStream<S>,
    size: usize,
    inflight: usize,
    w: Window,
    count: Counter,
) -> Vec<u32>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let text: tungstenite::Utf8Bytes = "x".repeat(size).into();
    let mut flight = Flight::new(inflight, w, count);
    for _ in 0..inflight {
        ws.feed(Message::Text(text.clone())).await.expect("send");
    }
    ws.flush().await.expect("flush");
    'run: loop {
        let mut next = ws.next().await;
        loop {
            match next {
                Some(Ok(m)) if m.is_text() || m.is_binary() => {
                    if !flight.echoed() {
                        break 'run;
                    }
                    ws.feed(Message::Text(text.clone())).await.expect("send");
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None if Instant::now() >= w.to => {
                    // The window is over: a server that stops now is done.
                    break 'run;
                }
                Some(Ok(Message::Close(frame))) => panic!("the server closed: {frame:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("echo connection failed: {e}"),
                None => panic!("the server closed the connection"),
            }
            match ws.next().now_or_never() {
                Some(n) => next = n,
                None => break,
            }
        }
        ws.flush().await.expect("flush");
    }
    let _ = ws.close(None).await;
    flight.into_latencies()
}

/// Run `conns` clients, each made by `client()`, on one current-thread
/// runtime until all have ended; returns their latencies together.
pub fn run_clients<F>(conns: usize, mut client: impl FnMut() -> F) -> Vec<u32>
where
    F: Future<Output = Vec<u32>> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let tasks: Vec<_> = (0..conns).map(|_| tokio::spawn(client())).collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("a client connection failed"));
        }
        all
    })
}

/// What a server did inside a [`Window`]: the load's count (echoes,
/// handshakes) and the server process's CPU time between the window's
/// edges, its RSS at the end, and the latencies the load recorded.
pub struct Measured {
    /// Counted per second of the window.
    pub per_second: f64,
    /// Server CPU time per counted item, in microseconds.
    pub cpu_us_each: f64,
    /// Server RSS when the window ended, KiB.
    pub rss_kib: u64,
    /// The load's latencies (us), sorted.
    pub latencies: Vec<u32>,
    /// The load generator's own CPU over the window, in cores (1.0: one
    /// core busy all the time, so the load, not the server, may be the limit).
    pub load_cores: f64,
}

/// Run `load` while sampling server `pid`'s CPU time and `count` at the
/// window's edges (on a thread of its own, so the load is not delayed).
pub fn measure(pid: u32, w: Window, count: &Counter, load: impl FnOnce() -> Vec<u32>) -> Measured {
    let sampler = {
        let count = Arc::clone(count);
        std::thread::spawn(move || {
            let me = std::process::id();
            let at = |t: Instant| {
                std::thread::sleep(t.saturating_duration_since(Instant::now()));
                (
                    Instant::now(),
                    (crate::cpu_seconds(pid), crate::cpu_seconds(me)),
                    count.load(Ordering::Relaxed),
                )
            };
            let first = at(w.from);
            let last = at(w.to);
            (first, last, crate::rss_kib(pid))
        })
    };
    let mut latencies = load();
    let ((t0, (cpu0, load0), n0), (t1, (cpu1, load1), n1), rss_kib) =
        sampler.join().expect("sampler");
    latencies.sort_unstable();
    let n = (n1 - n0).max(1) as f64;
    let seconds = (t1 - t0).as_secs_f64();
    Measured {
        per_second: n / seconds,
        cpu_us_each: (cpu1 - cpu0) * 1e6 / n,
        rss_kib,
        latencies,
        load_cores: (load1 - load0) / seconds,
    }
}
