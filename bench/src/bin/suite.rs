//! The performance comparison (issue 5): wsengine against the servers
//! people would pick instead, under the same load, in one run.
//!
//! Servers, each in its own process pinned to CPU 0, started in turn
//! (interleaved rounds: A, B, C, D, A, B, ...):
//!
//! - `wsengine-handler`: handler mode (`Server::serve`), the echo sent
//!   from each connection's reader thread;
//! - `wsengine`: events mode, one application thread calling `poll` and
//!   `send` (the engine's reader and writer threads per connection);
//! - `wsengine-threads`: a handler thread per connection calling `recv` and
//!   `send` (the blocking style of `examples/echo_server.rs`);
//! - `wsengine-c-handler`, `wsengine-c-poll`: the C example echo server
//!   (`examples/c/echo_server.c`: handler mode sending each message back
//!   without a copy, or the poll API with a copy), not in the default list
//!   (build it first, see `serve_c`);
//! - `tokio-tungstenite` 0.30: a task per connection, `read.forward(write)`;
//! - `tungstenite` 0.30: a thread per connection, blocking `read` and `send`;
//! - `raw-tcp`: a thread per connection echoing length-prefixed messages
//!   through buffered reads and writes, flushed when no input is buffered:
//!   the floor (no WebSocket framing, masking or UTF-8).
//!
//! The load runs in this process, pinned to CPU 1: tokio-tungstenite
//! clients (not wsengine) on one current-thread runtime, each connection
//! keeping a number of text messages in flight, replies fed as echoes come
//! back and flushed once no more are ready. For raw-tcp the same loop
//! speaks length-prefixed messages.
//!
//! Scenarios: echo 64 connections x 32 B (16 in flight each), 4 x 64 KiB
//! (4 in flight), 1 x 1 MiB (1 in flight); rtt (1 connection, one 32-byte
//! message at a time); idle (N connections opened and held: RSS and threads
//! per connection); micro (masking and UTF-8 throughput, header and frame
//! costs, in this process).
//!
//! Reported per server: echoes per second, latency p50/p99, and the
//! server's CPU time per message (utime+stime from /proc over the measured
//! window, divided by the echoes in it) and its RSS at the end.
//!
//! ```text
//! cargo run --release -p wsengine-bench --bin suite -- [--rounds 3] [--seconds 4]
//!     [--idle 10000] [--only echo,rtt,idle,micro] [--write BENCHMARKS.md]
//! ```
//! `--write` replaces the `suite` section of that file.

use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsengine_bench::load::{Counter, Flight, Window, measure, run_clients, ws_client};
use wsengine_bench::{
    announce, machine_description, median, percentile, pin_to_cpu, raise_fd_limit, rss_kib,
    start_server, stop_server, thread_count, write_section,
};

const IMPLS: [&str; 6] = [
    "wsengine-handler",
    "wsengine",
    "wsengine-threads",
    "tokio-tungstenite",
    "tungstenite",
    "raw-tcp",
];

struct Scenario {
    name: &'static str,
    conns: usize,
    size: usize,
    inflight: usize,
}

const SCENARIOS: [Scenario; 6] = [
    Scenario {
        name: "echo 64 x 32 B",
        conns: 64,
        size: 32,
        inflight: 16,
    },
    Scenario {
        name: "echo 64 x 32 B, 64 in flight",
        conns: 64,
        size: 32,
        inflight: 64,
    },
    Scenario {
        name: "echo 4 x 64 KiB",
        conns: 4,
        size: 64 << 10,
        inflight: 4,
    },
    Scenario {
        name: "echo 1 x 1 MiB",
        conns: 1,
        size: 1 << 20,
        inflight: 1,
    },
    Scenario {
        name: "echo 1 x 1 MiB, 4 in flight",
        conns: 1,
        size: 1 << 20,
        inflight: 4,
    },
    Scenario {
        name: "rtt 1 x 32 B",
        conns: 1,
        size: 32,
        inflight: 1,
    },
];

// ---------------------------------------------------------------- servers

fn serve(which: &str) {
    pin_to_cpu(0);
    raise_fd_limit();
    match which {
        "wsengine-handler" => serve_wsengine_handler(),
        "wsengine-c-handler" => serve_c(&[]),
        "wsengine-c-poll" => serve_c(&["--poll"]),
        "wsengine" => serve_wsengine_poll(),
        "wsengine-threads" => serve_wsengine_threads(),
        "tokio-tungstenite" => serve_tokio(),
        "tungstenite" => serve_tungstenite(),
        "raw-tcp" => serve_raw(),
        other => panic!("unknown server {other}"),
    }
}

fn wsengine_config() -> wsengine::Config {
    wsengine::Config::default()
        .with_max_connections(20_000)
        .with_max_message_size(64 << 20)
}

/// The C example `echo_server` (handler mode, or the poll API with
/// `--poll`), run in this process's place (so its CPU is what is
/// measured): `WSENGINE_C_ECHO` names it (default
/// `target/c/examples-pkgconfig/echo_server`, where `scripts/c-tests.sh`
/// builds it).
fn serve_c(extra: &[&str]) {
    use std::os::unix::process::CommandExt;
    let path = std::env::var("WSENGINE_C_ECHO")
        .unwrap_or_else(|_| "target/c/examples-pkgconfig/echo_server".into());
    let e = std::process::Command::new(&path)
        .arg("127.0.0.1:0")
        .args(extra)
        .exec();
    panic!("cannot run {path}: {e}");
}

fn serve_wsengine_handler() {
    let server = wsengine::Server::serve(
        "127.0.0.1:0",
        wsengine_config(),
        |conn: &Arc<wsengine::Conn>, m: wsengine::Message| {
            let _ = conn.send(m);
        },
    )
    .expect("bind");
    announce(server.local_addr().port());
    loop {
        std::thread::park();
    }
}

fn serve_wsengine_poll() {
    use wsengine::{Server, ServerEvent};
    let server =
        Server::bind("127.0.0.1:0", wsengine_config().with_poll_events(true)).expect("bind");
    announce(server.local_addr().port());
    while let Ok(event) = server.poll(Duration::MAX) {
        if let Some(ServerEvent::Message(conn, m)) = event {
            let _ = conn.send(m);
        }
    }
}

fn serve_wsengine_threads() {
    let server = wsengine::Server::bind("127.0.0.1:0", wsengine_config()).expect("bind");
    announce(server.local_addr().port());
    while let Ok(conn) = server.accept() {
        connection_thread("wsengine-threads", move || {
            while let Ok(m) = conn.recv() {
                if conn.send(m).is_err() {
                    break;
                }
            }
        });
    }
}

/// Run a thread-per-connection server's handler (128 KiB stack, as the
/// engine's threads); a thread that cannot start costs its connection only.
fn connection_thread(server: &str, handler: impl FnOnce() + Send + 'static) {
    let spawned = std::thread::Builder::new()
        .stack_size(128 << 10)
        .spawn(handler);
    if spawned.is_err() {
        eprintln!("{server}: cannot start a thread");
    }
}

fn serve_tokio() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        announce(listener.local_addr().expect("addr").port());
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let (write, read) = ws.split();
                let _ = read
                    .try_filter(|m| std::future::ready(m.is_text() || m.is_binary()))
                    .forward(write)
                    .await;
            });
        }
    });
}

fn serve_tungstenite() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    announce(listener.local_addr().expect("addr").port());
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        connection_thread("tungstenite", move || {
            let _ = stream.set_nodelay(true);
            let Ok(mut ws) = tungstenite::accept(stream) else {
                return;
            };
            while let Ok(m) = ws.read() {
                if (m.is_text() || m.is_binary()) && ws.send(m).is_err() {
                    return;
                }
            }
        });
    }
}

fn serve_raw() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    announce(listener.local_addr().expect("addr").port());
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        connection_thread("raw-tcp", move || raw_echo(stream));
    }
}

/// Echo 4-byte-length-prefixed messages; reply bytes are flushed whenever
/// no more input is buffered (one write per burst, as the others batch).
fn raw_echo(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut input = BufReader::with_capacity(64 << 10, stream);
    let mut output = BufWriter::with_capacity(64 << 10, write_half);
    let mut payload = Vec::new();
    loop {
        let mut len = [0u8; 4];
        if input.read_exact(&mut len).is_err() {
            return;
        }
        payload.resize(u32::from_le_bytes(len) as usize, 0);
        if input.read_exact(&mut payload).is_err()
            || output.write_all(&len).is_err()
            || output.write_all(&payload).is_err()
        {
            return;
        }
        if input.buffer().is_empty() && output.flush().is_err() {
            return;
        }
    }
}

// ------------------------------------------------------------------ load

struct Args {
    rounds: usize,
    seconds: f64,
    warmup: f64,
    idle: usize,
    only: Vec<String>,
    /// Scenarios whose name contains one of these (all if empty).
    scenarios: Vec<String>,
    impls: Vec<String>,
    write: Option<String>,
}

#[derive(Default)]
struct Outcome {
    per_second: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_msg: f64,
    rss_kib: u64,
    load_cores: f64,
}

/// The same loop over raw TCP with 4-byte length prefixes.
async fn raw_client(
    port: u16,
    size: usize,
    inflight: usize,
    w: Window,
    count: Counter,
) -> Vec<u32> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut message = (size as u32).to_le_bytes().to_vec();
    message.resize(4 + size, b'x');
    let mut flight = Flight::new(inflight, w, count);
    let mut out = message.repeat(inflight);
    let mut input: Vec<u8> = Vec::with_capacity(64 << 10);
    'run: loop {
        stream.write_all(&out).await.expect("send");
        out.clear();
        loop {
            if input.capacity() - input.len() < 16 << 10 {
                input.reserve(64 << 10);
            }
            let n = stream.read_buf(&mut input).await.expect("read");
            assert!(n > 0, "the server closed the connection");
            let mut at = 0;
            while input.len() - at >= 4 {
                let len = u32::from_le_bytes(input[at..at + 4].try_into().expect("4")) as usize;
                if input.len() - at < 4 + len {
                    break;
                }
                at += 4 + len;
                if !flight.echoed() {
                    break 'run;
                }
                out.extend_from_slice(&message);
            }
            input.drain(..at);
            if !out.is_empty() {
                break;
            }
        }
    }
    flight.into_latencies()
}

fn run_echo(which: &str, s: &Scenario, a: &Args) -> Outcome {
    let (child, port) = start_server(which, &[]);
    let w = Window::after_warmup(a.warmup, a.seconds);
    let count: Counter = Arc::default();
    let (size, inflight) = (s.size, s.inflight);
    let raw = which == "raw-tcp";
    let m = measure(child.id(), w, &count, || {
        run_clients(s.conns, || {
            let count = Arc::clone(&count);
            // Boxed: the two clients are different futures.
            let client: std::pin::Pin<Box<dyn Future<Output = Vec<u32>> + Send>> = if raw {
                Box::pin(raw_client(port, size, inflight, w, count))
            } else {
                Box::pin(ws_client(port, "/echo".into(), size, inflight, w, count))
            };
            client
        })
    });
    stop_server(child);
    Outcome {
        per_second: m.per_second,
        p50_us: percentile(&m.latencies, 0.50),
        p99_us: percentile(&m.latencies, 0.99),
        cpu_us_per_msg: m.cpu_us_each,
        rss_kib: m.rss_kib,
        load_cores: m.load_cores,
    }
}

struct Idle {
    base_rss_kib: u64,
    rss_kib: u64,
    base_threads: u64,
    threads: u64,
    opened: usize,
    seconds_to_open: f64,
}

/// Open `n` connections (WebSocket handshakes, or bare TCP for raw-tcp),
/// hold them, and read the server's RSS and threads.
fn run_idle(which: &str, n: usize) -> Idle {
    let (child, port) = start_server(which, &[]);
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(300));
    let (base_rss_kib, base_threads) = (rss_kib(pid), thread_count(pid));
    let started = Instant::now();
    let mut held = Vec::with_capacity(n);
    let url = format!("ws://127.0.0.1:{port}/idle");
    for i in 0..n {
        let stream = match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{which}: connection {i} failed: {e}");
                break;
            }
        };
        if which == "raw-tcp" {
            // One empty message and its echo: paces the connects as the
            // handshakes do (a burst of bare connects overflows the
            // listen backlog and waits out SYN retransmissions).
            let mut s = stream;
            let mut echo = [0u8; 4];
            if s.write_all(&0u32.to_le_bytes())
                .and_then(|()| s.read_exact(&mut echo))
                .is_err()
            {
                eprintln!("{which}: connection {i} got no echo");
                break;
            }
            held.push(Err(s));
            continue;
        }
        match tungstenite::client(url.as_str(), stream) {
            Ok((ws, _)) => held.push(Ok(ws)),
            Err(e) => {
                eprintln!("{which}: handshake {i} failed: {e}");
                break;
            }
        }
    }
    let seconds_to_open = started.elapsed().as_secs_f64();
    // Let every connection's threads reach their idle state.
    std::thread::sleep(Duration::from_secs(2));
    let idle = Idle {
        base_rss_kib,
        rss_kib: rss_kib(pid),
        base_threads,
        threads: thread_count(pid),
        opened: held.len(),
        seconds_to_open,
    };
    drop(held);
    stop_server(child);
    idle
}

// ----------------------------------------------------------------- micro

/// Median throughput in GB/s of `f` over `bytes` bytes, from 9 timed runs
/// of enough repetitions to take about 20 ms each.
fn gb_per_s(bytes: usize, mut f: impl FnMut()) -> f64 {
    let mut reps = 1u32;
    loop {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        if t.elapsed() > Duration::from_millis(20) {
            break;
        }
        reps *= 2;
    }
    median(
        (0..9)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..reps {
                    f();
                }
                bytes as f64 * f64::from(reps) / t.elapsed().as_secs_f64() / 1e9
            })
            .collect(),
    )
}

/// Median nanoseconds per call of `f`.
fn ns_per_call(mut f: impl FnMut()) -> f64 {
    let per_gb = gb_per_s(1, &mut f);
    1.0 / per_gb
}

fn micro() -> Vec<(String, String)> {
    use std::hint::black_box;
    use wsengine::protocol::mask::apply_mask;
    use wsengine::protocol::utf8::Utf8Progress;
    use wsengine::protocol::{Decoder, DecoderLimits, FrameHeader, Role};
    let mut rows = Vec::new();
    for size in [64usize << 10, 1 << 20] {
        let mut buf = vec![0x5au8; size];
        let rate = gb_per_s(size, || apply_mask(black_box(&mut buf), [1, 2, 3, 4], 1));
        rows.push((
            format!("mask {} KiB", size >> 10),
            format!("{rate:.1} GB/s"),
        ));
    }
    let ascii = "The quick brown fox jumps over the lazy dog. ".repeat(1 << 15);
    let ascii = &ascii.as_bytes()[..1 << 20];
    let rate = gb_per_s(ascii.len(), || {
        let mut p = Utf8Progress::default();
        assert!(p.advance(black_box(ascii)).is_ok());
    });
    rows.push((
        "UTF-8 validate 1 MiB ASCII".into(),
        format!("{rate:.1} GB/s"),
    ));
    let mixed = "Grüße, Καλημέρα, こんにちは, 👋 ".repeat(1 << 15);
    let mixed = &mixed.as_bytes()[..mixed.floor_char_boundary(1 << 20)];
    let rate = gb_per_s(mixed.len(), || {
        let mut p = Utf8Progress::default();
        assert!(p.advance(black_box(mixed)).is_ok());
    });
    rows.push((
        "UTF-8 validate 1 MiB mixed scripts".into(),
        format!("{rate:.1} GB/s"),
    ));
    let header = FrameHeader::parse(&[0x81, 0xfe, 0x01, 0x00, 1, 2, 3, 4])
        .expect("valid")
        .expect("complete")
        .0;
    let ns = ns_per_call(|| {
        black_box(FrameHeader::parse(black_box(&[0x81, 0xfe, 0x01, 0x00, 1, 2, 3, 4])).ok());
    });
    rows.push((
        "frame header decode (16-bit length, masked)".into(),
        format!("{ns:.1} ns"),
    ));
    let mut out = [0u8; 14];
    let ns = ns_per_call(|| {
        black_box(black_box(&header).encode(&mut out));
    });
    rows.push(("frame header encode".into(), format!("{ns:.1} ns")));
    // A read's worth of masked 32-byte text frames through the decoder.
    let mut wire = Vec::new();
    for _ in 0..512 {
        wsengine::protocol::encoder::write_message(
            &mut wire,
            &wsengine::Message::Text("x".repeat(32)),
            Some([9, 8, 7, 6]),
        );
    }
    let ns = ns_per_call(|| {
        let mut decoder = Decoder::new(Role::Server, DecoderLimits::default());
        let mut data = &wire[..];
        while !data.is_empty() {
            let (used, event) = decoder.decode(data).expect("valid frames");
            black_box(event);
            data = &data[used..];
        }
    }) / 512.0;
    rows.push((
        "decode one masked 32-byte text frame into a message".into(),
        format!("{ns:.0} ns"),
    ));
    rows
}

// ---------------------------------------------------------------- report

fn parse() -> Args {
    let mut a = Args {
        rounds: 3,
        seconds: 4.0,
        warmup: 1.0,
        idle: 10_000,
        only: ["echo", "rtt", "idle", "micro"].map(String::from).to_vec(),
        scenarios: Vec::new(),
        impls: IMPLS.map(String::from).to_vec(),
        write: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the option");
        let list = |v: String| v.split(',').map(String::from).collect::<Vec<_>>();
        match arg.as_str() {
            "--rounds" => a.rounds = value().parse().expect("--rounds N"),
            "--seconds" => a.seconds = value().parse().expect("--seconds S"),
            "--warmup" => a.warmup = value().parse().expect("--warmup S"),
            "--idle" => a.idle = value().parse().expect("--idle N"),
            "--only" => a.only = list(value()),
            "--impls" => a.impls = list(value()),
            "--scenarios" => a.scenarios = value().split(';').map(String::from).collect(),
            "--write" => a.write = Some(value()),
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
    raise_fd_limit();
    let wants = |what: &str| a.only.iter().any(|o| o == what);
    let scenarios: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|s| wants(s.name.split(' ').next().unwrap_or("")))
        .filter(|s| {
            a.scenarios.is_empty() || a.scenarios.iter().any(|f| s.name.contains(f.as_str()))
        })
        .collect();
    // results[scenario][impl] = one outcome per round
    let mut results: Vec<Vec<Vec<Outcome>>> = scenarios
        .iter()
        .map(|_| a.impls.iter().map(|_| Vec::new()).collect())
        .collect();
    for round in 0..a.rounds {
        for (si, s) in scenarios.iter().enumerate() {
            for (ii, which) in a.impls.iter().enumerate() {
                let o = run_echo(which, s, &a);
                eprintln!(
                    "round {} {} {which}: {:.0}/s, p50 {:.0} us, p99 {:.0} us, {:.2} us CPU/msg, RSS {} KiB, load {:.2} cores",
                    round + 1,
                    s.name,
                    o.per_second,
                    o.p50_us,
                    o.p99_us,
                    o.cpu_us_per_msg,
                    o.rss_kib,
                    o.load_cores
                );
                results[si][ii].push(o);
            }
        }
    }
    let mut md = String::new();
    md.push_str(&format!(
        "Machine: {}. Servers pinned to CPU 0, the load (tokio-tungstenite clients on one \
         thread) to CPU 1. Medians of {} interleaved rounds of {} s each (after {} s of warm-up).\n\n",
        machine_description(),
        a.rounds,
        a.seconds,
        a.warmup
    ));
    if !scenarios.is_empty() {
        md.push_str(&echo_table(&scenarios, &a.impls, &results));
    }
    if wants("idle") {
        md.push_str(&format!(
            "\n**Idle connections**: {} opened (WebSocket handshakes; bare TCP for raw-tcp) and held for 2 s.\n\n",
            a.idle
        ));
        md.push_str("| server | opened | in | RSS per connection | threads per connection | RSS at start |\n");
        md.push_str("| --- | --- | --- | --- | --- | --- |\n");
        // wsengine-threads would add the application's own thread per
        // connection (30,000 threads at 10,000 connections, near pid_max):
        // its engine side is the wsengine row.
        for which in a.impls.iter().filter(|i| *i != "wsengine-threads") {
            let i = run_idle(which, a.idle);
            let n = i.opened.max(1) as f64;
            let row = format!(
                "| {which} | {} | {:.1} s | {:.2} KiB | {:.2} | {} KiB |\n",
                i.opened,
                i.seconds_to_open,
                (i.rss_kib.saturating_sub(i.base_rss_kib)) as f64 / n,
                (i.threads.saturating_sub(i.base_threads)) as f64 / n,
                i.base_rss_kib
            );
            eprint!("idle {row}");
            md.push_str(&row);
        }
    }
    if wants("micro") {
        md.push_str(
            "\n**Codec micro-benchmarks** (this process, CPU 1; medians of 9 timed runs):\n\n",
        );
        md.push_str("| operation | result |\n| --- | --- |\n");
        for (what, result) in micro() {
            eprintln!("micro {what}: {result}");
            md.push_str(&format!("| {what} | {result} |\n"));
        }
    }
    print!("{md}");
    if let Some(path) = &a.write {
        write_section(path, "suite", &md);
    }
}

fn echo_table(scenarios: &[&Scenario], impls: &[String], results: &[Vec<Vec<Outcome>>]) -> String {
    let mut md = String::from(
        "| scenario | server | messages/s | p50 | p99 | server CPU per message | CPU vs tokio-tungstenite | CPU vs raw TCP | throughput vs tungstenite | server RSS | load CPU |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let position = |name: &str| impls.iter().position(|i| i == name);
    for (si, s) in scenarios.iter().enumerate() {
        let med = |ii: usize, f: &dyn Fn(&Outcome) -> f64| {
            median(results[si][ii].iter().map(f).collect())
        };
        let cpu = |ii: usize| med(ii, &|o| o.cpu_us_per_msg);
        let rate = |ii: usize| med(ii, &|o| o.per_second);
        let ratio = |x: f64, of: Option<usize>, f: &dyn Fn(usize) -> f64| {
            of.map_or("-".to_string(), |r| format!("{:.2}x", x / f(r)))
        };
        for (ii, which) in impls.iter().enumerate() {
            let (c, r) = (cpu(ii), rate(ii));
            md.push_str(&format!(
                "| {} | {which} | {r:.0} | {:.0} us | {:.0} us | {c:.2} us | {} | {} | {} | {:.1} MiB | {:.2} cores |\n",
                s.name,
                med(ii, &|o| o.p50_us),
                med(ii, &|o| o.p99_us),
                ratio(c, position("tokio-tungstenite"), &cpu),
                ratio(c, position("raw-tcp"), &cpu),
                ratio(r, position("tungstenite"), &rate),
                med(ii, &|o| o.rss_kib as f64) / 1024.0,
                med(ii, &|o| o.load_cores),
            ));
        }
    }
    md
}
