//! An echo load generator on tungstenite: N connections, each keeping W
//! messages of S bytes in flight, for a fixed time; prints one JSON line
//! with the echoes received per second and the round-trip latencies.
//!
//! ```text
//! loadgen URL [--conns 64] [--size 32] [--inflight 16] [--seconds 5] [--warmup 1]
//! ```
//! One thread per connection with blocking I/O: the simplest client that
//! is fast enough not to be the bottleneck against a Python server.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

struct Args {
    url: String,
    conns: usize,
    size: usize,
    inflight: usize,
    seconds: f64,
    warmup: f64,
}

fn parse() -> Args {
    let mut args = std::env::args().skip(1);
    let mut a = Args {
        url: String::new(),
        conns: 64,
        size: 32,
        inflight: 16,
        seconds: 5.0,
        warmup: 1.0,
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the option");
        match arg.as_str() {
            "--conns" => a.conns = value().parse().expect("--conns N"),
            "--size" => a.size = value().parse().expect("--size BYTES"),
            "--inflight" => a.inflight = value().parse().expect("--inflight N"),
            "--seconds" => a.seconds = value().parse().expect("--seconds S"),
            "--warmup" => a.warmup = value().parse().expect("--warmup S"),
            url if a.url.is_empty() => a.url = url.to_owned(),
            other => panic!("unexpected argument {other}"),
        }
    }
    assert!(
        !a.url.is_empty(),
        "usage: loadgen URL [--conns N] [--size B] [--inflight N] [--seconds S]"
    );
    a
}

/// Echoes counted inside the measured window, and their latencies (us).
struct Tally {
    echoes: u64,
    latencies: Vec<u32>,
}

fn run(
    ws: &mut WebSocket<MaybeTlsStream<TcpStream>>,
    a: &Args,
    start: Instant,
    stop: &AtomicBool,
) -> Tally {
    let payload = vec![b'x'; a.size];
    let measure_from = start + Duration::from_secs_f64(a.warmup);
    let measure_to = measure_from + Duration::from_secs_f64(a.seconds);
    let mut sent_at = std::collections::VecDeque::with_capacity(a.inflight);
    let mut tally = Tally {
        echoes: 0,
        latencies: Vec::new(),
    };
    for _ in 0..a.inflight {
        sent_at.push_back(Instant::now());
        ws.send(Message::Binary(payload.clone().into()))
            .expect("send");
    }
    while !stop.load(Ordering::Relaxed) {
        match ws.read() {
            Ok(Message::Binary(_)) | Ok(Message::Text(_)) => {
                let now = Instant::now();
                let t0 = sent_at.pop_front().expect("an echo we asked for");
                if now >= measure_from && now < measure_to {
                    tally.echoes += 1;
                    tally
                        .latencies
                        .push((now - t0).as_micros().min(u32::MAX as u128) as u32);
                }
                if now >= measure_to {
                    stop.store(true, Ordering::Relaxed);
                    break;
                }
                sent_at.push_back(now);
                ws.send(Message::Binary(payload.clone().into()))
                    .expect("send");
            }
            Ok(_) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    tally
}

fn main() {
    let a = Arc::new(parse());
    let barrier = Arc::new(Barrier::new(a.conns));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(std::sync::OnceLock::new());
    let threads: Vec<_> = (0..a.conns)
        .map(|_| {
            let (a, barrier, stop, start) = (
                Arc::clone(&a),
                Arc::clone(&barrier),
                Arc::clone(&stop),
                Arc::clone(&start),
            );
            std::thread::spawn(move || {
                let (mut ws, _) = tungstenite::connect(a.url.as_str()).expect("connect");
                if let MaybeTlsStream::Plain(s) = ws.get_ref() {
                    s.set_nodelay(true).expect("nodelay");
                    s.set_read_timeout(Some(Duration::from_secs(30)))
                        .expect("timeout");
                }
                barrier.wait();
                let t0 = *start.get_or_init(Instant::now);
                let tally = run(&mut ws, &a, t0, &stop);
                let _ = ws.close(None);
                tally
            })
        })
        .collect();
    let mut echoes = 0;
    let mut lat = Vec::new();
    for t in threads {
        let tally = t.join().expect("a connection thread failed");
        echoes += tally.echoes;
        lat.extend(tally.latencies);
    }
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{{\"echoes\": {echoes}, \"seconds\": {}, \"msgs_per_s\": {:.0}, \"p50_us\": {}, \"p99_us\": {}}}",
        a.seconds,
        echoes as f64 / a.seconds,
        pct(0.50),
        pct(0.99)
    );
}
