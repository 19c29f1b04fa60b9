//! Broadcast fan-out, side by side: one publisher, N subscribers, every
//! message the publisher sends goes to every subscriber. Three servers run
//! in turn, interleaved, each in its own process pinned to CPU 0 while the
//! load (tokio-tungstenite subscribers on one thread and a tungstenite
//! publisher, not wsengine) runs pinned to CPU 1:
//!
//! - `wsengine`: groups, one poll thread, `broadcast(AllExcept(sender))`
//!   (the frame encoded once and shared by every recipient's writer);
//! - `wsengine-handler`: the same broadcast from the publisher's reader
//!   thread (handler mode, `Server::serve`);
//! - `tokio-tungstenite`: the usual hub, a `tokio::sync::broadcast` channel
//!   and one writer task per connection (each encodes its own frame);
//! - `threads`: tungstenite, a reader and a writer thread per connection,
//!   an unbounded channel to each writer (the naive threaded design).
//!
//! Reported per server: deliveries received / expected, delivery latency
//! p50/p99 (publisher's send to subscriber's read, one clock), and the
//! server's CPU time (utime+stime from /proc) per delivery.
//!
//! ```text
//! cargo run --release -p wsengine-bench --bin broadcast -- [--rounds 3] [--seconds 5]
//!     [--impls wsengine,tokio-tungstenite] [--subscribers 1000] [--write BENCHMARKS.md]
//! ```
//! Also reported: the load's own CPU (all subscriber threads and the
//! publisher, on their one core), so that a saturated load is visible.
//! `--write` replaces the broadcast section of that file (between its
//! `<!-- broadcast:begin -->` and `<!-- broadcast:end -->` markers).
//! (`broadcast --serve IMPL` is how the driver starts each server.)

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tungstenite::Message;
use wsengine_bench::load::run_clients;
use wsengine_bench::{
    announce, cpu_seconds, median, percentile, pin_to_cpu, start_server, stop_server, write_section,
};

const IMPLS: [&str; 4] = [
    "wsengine",
    "wsengine-handler",
    "tokio-tungstenite",
    "threads",
];
/// (subscribers, messages per second)
const SCENARIOS: [(usize, u32); 2] = [(100, 1000), (1000, 100)];
const PAYLOAD: usize = 64;

// ---------------------------------------------------------------- servers

fn serve(which: &str) {
    pin_to_cpu(0);
    match which {
        "wsengine" => serve_wsengine(),
        "wsengine-handler" => serve_wsengine_handler(),
        "tokio-tungstenite" => serve_tokio(),
        "threads" => serve_threads(),
        other => panic!("unknown server {other}"),
    }
}

fn serve_wsengine() {
    use wsengine::{Audience, Config, OverflowPolicy, Server, ServerEvent};
    let config = Config::default()
        .with_poll_events(true)
        .with_max_connections(5000)
        // The publisher never waits for a subscriber; a full queue drops.
        .with_overflow_policy(OverflowPolicy::Fail);
    let server = Server::bind("127.0.0.1:0", config).expect("bind");
    announce(server.local_addr().port());
    let groups = server.groups().clone();
    let (mut dropped, mut messages) = (0, 0u64);
    while let Ok(event) = server.poll(Duration::MAX) {
        if let Some(ServerEvent::Message(conn, m)) = event {
            let r = groups.broadcast(Audience::AllExcept(&conn), m);
            dropped += r.dropped + r.disconnected + r.closed;
            messages += 1;
            if messages % 100 == 0 && dropped > 0 {
                eprintln!(
                    "wsengine server: {dropped} deliveries not queued after {messages} messages"
                );
            }
        }
    }
}

/// The same fan-out from the publisher's own reader thread (handler mode):
/// no hand-over to a poll thread.
fn serve_wsengine_handler() {
    use std::sync::Arc as StdArc;
    use wsengine::{Audience, Config, Conn, OverflowPolicy, Server};
    let config = Config::default()
        .with_max_connections(5000)
        .with_overflow_policy(OverflowPolicy::Fail);
    let server = Server::serve(
        "127.0.0.1:0",
        config,
        |conn: &StdArc<Conn>, m: wsengine::Message| {
            if let Some(groups) = conn.groups() {
                groups.broadcast(Audience::AllExcept(conn), m);
            }
        },
    )
    .expect("bind");
    announce(server.local_addr().port());
    loop {
        std::thread::park();
    }
}

fn serve_tokio() {
    use futures_util::{SinkExt, StreamExt};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        announce(listener.local_addr().expect("addr").port());
        let (hub, _) = tokio::sync::broadcast::channel::<(u64, Message)>(1024);
        let mut next_id = 0u64;
        while let Ok((stream, _)) = listener.accept().await {
            next_id += 1;
            let id = next_id;
            let hub = hub.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let (mut sink, mut stream) = ws.split();
                let mut rx = hub.subscribe();
                let writer = tokio::spawn(async move {
                    loop {
                        match rx.recv().await {
                            Ok((from, m)) if from != id => {
                                if sink.send(m).await.is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                            Err(_) => return,
                        }
                    }
                });
                while let Some(Ok(m)) = stream.next().await {
                    if m.is_binary() || m.is_text() {
                        let _ = hub.send((id, m));
                    }
                }
                writer.abort();
            });
        }
    });
}

fn serve_threads() {
    use tungstenite::protocol::{Role, WebSocket};
    type Peers = Arc<Mutex<Vec<(u64, mpsc::Sender<Message>)>>>;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    announce(listener.local_addr().expect("addr").port());
    let peers: Peers = Arc::default();
    for (id, stream) in listener.incoming().enumerate() {
        let Ok(stream) = stream else { continue };
        let id = id as u64;
        let peers = Arc::clone(&peers);
        std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || {
                let _ = stream.set_nodelay(true);
                let Ok(write_half) = stream.try_clone() else {
                    return;
                };
                let Ok(mut reader) = tungstenite::accept(stream) else {
                    return;
                };
                let (tx, rx) = mpsc::channel::<Message>();
                peers.lock().unwrap().push((id, tx));
                std::thread::Builder::new()
                    .stack_size(256 << 10)
                    .spawn(move || {
                        let mut writer = WebSocket::from_raw_socket(write_half, Role::Server, None);
                        for m in rx {
                            if writer.send(m).is_err() {
                                return;
                            }
                        }
                    })
                    .expect("writer thread");
                while let Ok(m) = reader.read() {
                    if m.is_binary() || m.is_text() {
                        for (peer, tx) in peers.lock().unwrap().iter() {
                            if *peer != id {
                                let _ = tx.send(m.clone());
                            }
                        }
                    }
                }
                peers.lock().unwrap().retain(|(peer, _)| *peer != id);
            })
            .expect("connection thread");
    }
}

// ------------------------------------------------------------------ load

struct Args {
    rounds: usize,
    seconds: f64,
    warmup: f64,
    write: Option<String>,
    /// Servers to run (all of `IMPLS` by default).
    impls: Vec<String>,
    /// Scenarios to run, by subscriber count (all by default).
    subscribers: Option<usize>,
}

struct Outcome {
    expected: u64,
    received: u64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_delivery: f64,
    /// Cores the load used over the window.
    load_cores: f64,
}

fn now_ns(epoch: Instant) -> u64 {
    epoch.elapsed().as_nanos() as u64
}

/// When the subscribers count a delivery: its publisher's stamp (ns since
/// the run's epoch) in `[from, to)`; both `u64::MAX` until the publisher
/// knows the window.
struct Counted {
    from: AtomicU64,
    to: AtomicU64,
}

/// One subscriber: connect, say so, then read until `stop`, recording the
/// latency of each delivery whose stamp is in the window.
async fn subscriber(
    url: String,
    epoch: Instant,
    counted: Arc<Counted>,
    connected: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    turns: Arc<tokio::sync::Semaphore>,
) -> Vec<u32> {
    use futures_util::StreamExt;
    let (mut ws, _) = {
        // A few handshakes at a time: the servers' default limit on
        // concurrent handshakes from one address answers the rest 503.
        let _turn = turns.acquire().await.expect("semaphore");
        tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("subscriber connect")
    };
    connected.fetch_add(1, Ordering::SeqCst);
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) if b.len() >= 8 => {
                let now = now_ns(epoch);
                let sent = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
                let from = counted.from.load(Ordering::Relaxed);
                if sent >= from && sent < counted.to.load(Ordering::Relaxed) {
                    latencies.push(((now - sent) / 1000) as u32);
                }
            }
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(Some(Err(_)) | None) => break,
        }
    }
    latencies
}

fn run_once(which: &str, subs: usize, rate: u32, a: &Args) -> Outcome {
    let (child, port) = start_server(which, &[]);
    let url = format!("ws://127.0.0.1:{port}/broadcast");
    let epoch = Instant::now();
    let counted = Arc::new(Counted {
        from: AtomicU64::new(u64::MAX),
        to: AtomicU64::new(u64::MAX),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let connected = Arc::new(AtomicUsize::new(0));
    // Every subscriber on one current-thread runtime (one thread, epoll), as
    // the suite's load: a thread per subscriber put 1000 threads on the
    // load's core, which was then 91% busy at 1000 x 100/s, and the
    // latencies measured its run queue more than the server.
    let load = {
        let (counted, connected, stop) = (
            Arc::clone(&counted),
            Arc::clone(&connected),
            Arc::clone(&stop),
        );
        let turns = Arc::new(tokio::sync::Semaphore::new(8));
        std::thread::spawn(move || {
            run_clients(subs, || {
                subscriber(
                    url.clone(),
                    epoch,
                    Arc::clone(&counted),
                    Arc::clone(&connected),
                    Arc::clone(&stop),
                    Arc::clone(&turns),
                )
            })
        })
    };
    let url = format!("ws://127.0.0.1:{port}/broadcast");
    let wait_until = Instant::now() + Duration::from_secs(60);
    while connected.load(Ordering::SeqCst) < subs {
        assert!(Instant::now() < wait_until, "subscribers did not connect");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Let the server register the last subscribers before publishing.
    std::thread::sleep(Duration::from_millis(300));
    let (mut publisher, _) = tungstenite::connect(url.as_str()).expect("publisher connect");
    std::thread::sleep(Duration::from_millis(100));
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(a.warmup);
    let measure_to = measure_from + Duration::from_secs_f64(a.seconds);
    let window = (
        measure_from.duration_since(epoch).as_nanos() as u64,
        measure_to.duration_since(epoch).as_nanos() as u64,
    );
    counted.from.store(window.0, Ordering::Relaxed);
    counted.to.store(window.1, Ordering::Relaxed);
    let mut sent_in_window = 0u64;
    let mut cpu_from = None;
    let mut next = start;
    while next < measure_to {
        let now = Instant::now();
        if now < next {
            std::thread::sleep(next - now);
        }
        if cpu_from.is_none() && Instant::now() >= measure_from {
            cpu_from = Some((cpu_seconds(child.id()), cpu_seconds(std::process::id())));
        }
        let mut payload = vec![0u8; PAYLOAD];
        let stamp = now_ns(epoch);
        payload[..8].copy_from_slice(&stamp.to_le_bytes());
        // Counted by its stamp, as the subscribers count it.
        if stamp >= window.0 && stamp < window.1 {
            sent_in_window += 1;
        }
        publisher
            .send(Message::Binary(payload.into()))
            .expect("publish");
        next += interval;
    }
    // Deliveries of the last messages, then the server's CPU for the window.
    std::thread::sleep(Duration::from_millis(500));
    let (cpu_to, load_to) = (cpu_seconds(child.id()), cpu_seconds(std::process::id()));
    let load_seconds = measure_to.elapsed().as_secs_f64() + a.seconds;
    stop.store(true, Ordering::Relaxed);
    let mut all = load.join().expect("subscribers");
    let received = all.len() as u64;
    let _ = publisher.close(None);
    stop_server(child);
    all.sort_unstable();
    let pct = |p: f64| percentile(&all, p);
    let (cpu_from, load_from) = cpu_from.unwrap_or((cpu_to, load_to));
    let cpu = cpu_to - cpu_from;
    Outcome {
        expected: sent_in_window * subs as u64,
        received,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        cpu_us_per_delivery: cpu * 1e6 / received.max(1) as f64,
        load_cores: (load_to - load_from) / load_seconds,
    }
}

fn parse() -> Args {
    let mut a = Args {
        rounds: 3,
        seconds: 5.0,
        warmup: 1.0,
        write: None,
        impls: IMPLS.iter().map(|s| s.to_string()).collect(),
        subscribers: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the option");
        match arg.as_str() {
            "--rounds" => a.rounds = value().parse().expect("--rounds N"),
            "--seconds" => a.seconds = value().parse().expect("--seconds S"),
            "--warmup" => a.warmup = value().parse().expect("--warmup S"),
            "--write" => a.write = Some(value()),
            "--impls" => {
                a.impls = value().split(',').map(str::to_owned).collect();
                for i in &a.impls {
                    assert!(IMPLS.contains(&i.as_str()), "unknown server {i}");
                }
            }
            "--subscribers" => a.subscribers = Some(value().parse().expect("--subscribers N")),
            other => panic!("unexpected argument {other}"),
        }
    }
    a
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--serve") {
        serve(argv.get(2).expect("--serve IMPL"));
        return;
    }
    let a = parse();
    pin_to_cpu(1);
    let scenarios: Vec<(usize, u32)> = SCENARIOS
        .into_iter()
        .filter(|&(subs, _)| a.subscribers.is_none_or(|n| n == subs))
        .collect();
    // results[scenario][impl] = outcomes of each round
    let mut results: Vec<Vec<Vec<Outcome>>> = scenarios
        .iter()
        .map(|_| a.impls.iter().map(|_| Vec::new()).collect())
        .collect();
    for round in 0..a.rounds {
        for (s, &(subs, rate)) in scenarios.iter().enumerate() {
            for (i, which) in a.impls.iter().enumerate() {
                let o = run_once(which, subs, rate, &a);
                eprintln!(
                    "round {} {subs} x {rate}/s {which}: {}/{} delivered, p50 {:.0} us, p99 {:.0} us, {:.2} us CPU/delivery, load {:.2} cores",
                    round + 1,
                    o.received,
                    o.expected,
                    o.p50_us,
                    o.p99_us,
                    o.cpu_us_per_delivery,
                    o.load_cores
                );
                results[s][i].push(o);
            }
        }
    }
    let mut md = String::new();
    md.push_str(&format!(
        "One publisher, N subscribers, {PAYLOAD}-byte binary messages; servers pinned to CPU 0, \
         the load (tokio-tungstenite subscribers on one thread, a tungstenite publisher) to CPU 1; medians of {} interleaved rounds of {} s \
         (after {} s of warm-up).\n\n",
        a.rounds, a.seconds, a.warmup
    ));
    md.push_str("| subscribers x rate | server | delivered | p50 latency | p99 latency | server CPU per delivery | CPU vs tokio-tungstenite | load CPU |\n");
    md.push_str("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    let tokio = a.impls.iter().position(|i| i == "tokio-tungstenite");
    for (s, &(subs, rate)) in scenarios.iter().enumerate() {
        let median_of =
            |i: usize, f: fn(&Outcome) -> f64| median(results[s][i].iter().map(f).collect());
        let cpu_of = |i: usize| median_of(i, |o| o.cpu_us_per_delivery);
        for (i, which) in a.impls.iter().enumerate() {
            let delivered = median_of(i, |o| 100.0 * o.received as f64 / o.expected.max(1) as f64);
            let p50 = median_of(i, |o| o.p50_us);
            let p99 = median_of(i, |o| o.p99_us);
            let cpu = cpu_of(i);
            let vs_tokio = tokio.map_or("-".to_owned(), |t| format!("{:.2}x", cpu / cpu_of(t)));
            md.push_str(&format!(
                "| {subs} x {rate}/s | {which} | {delivered:.1}% | {:.2} ms | {:.2} ms | {cpu:.2} us | {vs_tokio} | {:.2} cores |\n",
                p50 / 1000.0,
                p99 / 1000.0,
                median_of(i, |o| o.load_cores)
            ));
        }
    }
    print!("{md}");
    if let Some(path) = a.write {
        write_section(&path, "broadcast", &md);
    }
}
