//! An echo load generator for servers run outside this program (the
//! Python echo servers of `bench/python_echo.py`): N connections, each
//! keeping W text messages of S bytes in flight, for a fixed time after a
//! warm-up; prints one JSON line with the echoes received per second and
//! the round-trip latencies.
//!
//! ```text
//! loadgen ws://127.0.0.1:PORT/PATH [--conns 64] [--size 32] [--inflight 16]
//!     [--seconds 5] [--warmup 1]
//! ```
//! The load is `wsengine_bench::load`, the same tokio-tungstenite driver as
//! the `suite` benchmark's, on one thread (pin it with `taskset`).

use std::sync::Arc;

use wsengine_bench::load::{Counter, Window, run_clients, ws_client};
use wsengine_bench::percentile;

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

/// `ws://127.0.0.1:PORT/PATH` split into the port and the path.
fn port_and_path(url: &str) -> (u16, String) {
    let rest = url
        .strip_prefix("ws://127.0.0.1:")
        .expect("a ws://127.0.0.1:PORT/ URL (loopback only)");
    let (port, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    (port.parse().expect("a port number"), path.to_owned())
}

fn main() {
    let a = parse();
    let (port, path) = port_and_path(&a.url);
    let w = Window::after_warmup(a.warmup, a.seconds);
    let count: Counter = Arc::default();
    let mut latencies = run_clients(a.conns, || {
        ws_client(
            port,
            path.clone(),
            a.size,
            a.inflight,
            w,
            Arc::clone(&count),
        )
    });
    latencies.sort_unstable();
    let echoes = count.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "{{\"echoes\": {echoes}, \"seconds\": {}, \"msgs_per_s\": {:.0}, \"p50_us\": {}, \"p99_us\": {}}}",
        a.seconds,
        echoes as f64 / a.seconds,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99)
    );
}
