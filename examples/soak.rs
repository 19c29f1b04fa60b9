//! A soak: a bounded mixed workload against one wsengine server in this
//! process, on loopback, for a set time; then a check that the server gave
//! back what it took and that every message is accounted for.
//!
//! ```text
//! cargo run --release --example soak -- [--seconds 60 | --minutes N] [--workers 12]
//! ```
//!
//! Workers (threads, each its own random stream) pick one of:
//! - an echo session (compression offered or not): 1-20 messages of random
//!   size, up to the 1 MiB limit now and then; every echo must come back
//!   intact and in order, and the close must be clean;
//! - an abrupt drop: a raw TCP client upgrades, sends a frame and vanishes
//!   without a close frame;
//! - a slow reader: asks the server for a flood of 64 KiB messages, reads a
//!   few slowly, and leaves; the server's sends fail or are counted unsent,
//!   never lost silently;
//! - a subscriber: joins the room, takes broadcasts for a while, leaves.
//!
//! A publisher broadcasts to the room every 20 ms, and the server pings
//! every second. At the end every connection must be gone, the server's
//! threads and descriptors back to where they started, its memory near it
//! (after `malloc_trim`), and the books must balance: echoes equal messages
//! sent in clean sessions; every flood message the server accepted is
//! delivered, counted unsent, or lost with a connection that did not close
//! cleanly. Prints a summary table; exits 1 if a check fails.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use wsengine::{
    Audience, CloseCode, Config, Conn, DeflateConfig, Error, Message, OverflowPolicy, Server,
};

#[derive(Default)]
struct Counts {
    sessions: AtomicU64,
    drops: AtomicU64,
    slow: AtomicU64,
    subscribers: AtomicU64,
    sent: AtomicU64,
    echoed: AtomicU64,
    bytes: AtomicU64,
    broadcasts_sent: AtomicU64,
    broadcasts_got: AtomicU64,
    flood_accepted: AtomicU64,
    flood_refused: AtomicU64,
    flood_got: AtomicU64,
    server_unsent: AtomicU64,
    unclean: AtomicU64,
    failures: AtomicU64,
}

/// xorshift64: each worker's own reproducible stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const LIMIT: usize = 1 << 20;

fn fail(counts: &Counts, what: String) {
    eprintln!("soak: {what}");
    counts.failures.fetch_add(1, Relaxed);
}

/// The server's side of one connection: echo, join the room, or flood.
fn serve(server: &Server, conn: Conn, counts: &Counts) {
    while let Ok(m) = conn.recv() {
        match &m {
            Message::Text(t) if t == "join" => {
                let _ = server.groups().join(&conn, "room");
            }
            Message::Text(t) if t == "flood" => {
                for _ in 0..64 {
                    match conn.send(vec![7u8; 64 << 10]) {
                        Ok(()) => counts.flood_accepted.fetch_add(1, Relaxed),
                        Err(_) => counts.flood_refused.fetch_add(1, Relaxed),
                    };
                }
            }
            _ => {
                if conn.send(m).is_err() {
                    break;
                }
            }
        }
    }
    conn.wait_closed(Duration::from_secs(10));
    counts.server_unsent.fetch_add(conn.unsent_count(), Relaxed);
}

fn client_config(rng: &mut Rng) -> Config {
    let deflate = if rng.below(2) == 0 {
        DeflateConfig::disabled()
    } else {
        DeflateConfig::default()
    };
    Config::default()
        .with_deflate(deflate)
        .with_max_message_size(LIMIT)
        .with_ping_interval(None)
}

fn echo_session(url: &str, rng: &mut Rng, counts: &Counts) {
    let conn = match wsengine::connect(url, client_config(rng)) {
        Ok(c) => c,
        Err(e) => return fail(counts, format!("connect: {e}")),
    };
    let n = 1 + rng.below(20);
    let mut sent = Vec::new();
    for i in 0..n {
        let size = match rng.below(100) {
            0 => LIMIT,
            1..=9 => rng.below(256 << 10) as usize,
            _ => rng.below(2048) as usize,
        };
        let body: Vec<u8> = (0..size).map(|j| (j as u64 ^ i) as u8).collect();
        let message = if rng.below(2) == 0 {
            Message::Binary(body)
        } else {
            Message::Text(body.iter().map(|b| char::from(b'a' + b % 26)).collect())
        };
        if let Err(e) = conn.send(message.clone()) {
            return fail(counts, format!("send: {e}"));
        }
        counts.sent.fetch_add(1, Relaxed);
        counts.bytes.fetch_add(message.len() as u64, Relaxed);
        sent.push(message);
    }
    for expected in &sent {
        match conn.recv_timeout(Duration::from_secs(30)) {
            Ok(m) if &m == expected => {
                counts.echoed.fetch_add(1, Relaxed);
            }
            Ok(m) => return fail(counts, format!("echo differs: {} bytes", m.len())),
            Err(e) => return fail(counts, format!("echo: {e}")),
        }
    }
    let _ = conn.close(CloseCode::NORMAL, "done");
    if !conn.wait_closed(Duration::from_secs(10)) || !conn.close_info().is_some_and(|i| i.clean) {
        fail(counts, format!("unclean close: {:?}", conn.close_info()));
    }
    counts.sessions.fetch_add(1, Relaxed);
}

fn abrupt_drop(addr: SocketAddr, counts: &Counts) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return fail(counts, "raw connect".into());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    if s.write_all(request.as_bytes()).is_err() {
        return fail(counts, "raw write".into());
    }
    let mut head = [0u8; 512];
    let _ = s.read(&mut head);
    // A masked "hi", then gone: no close frame, no FIN before the reset.
    let _ = s.write_all(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]);
    counts.drops.fetch_add(1, Relaxed);
}

fn slow_reader(url: &str, rng: &mut Rng, counts: &Counts) {
    let Ok(conn) = wsengine::connect(url, client_config(rng)) else {
        return fail(counts, "connect".into());
    };
    let _ = conn.send("flood");
    for _ in 0..rng.below(8) {
        if let Ok(Message::Binary(_)) = conn.recv_timeout(Duration::from_secs(5)) {
            counts.flood_got.fetch_add(1, Relaxed);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Leave with the rest unread: the server's sends end as unsent.
    drop(conn);
    counts.unclean.fetch_add(1, Relaxed);
    counts.slow.fetch_add(1, Relaxed);
}

fn subscriber(url: &str, rng: &mut Rng, counts: &Counts) {
    let Ok(conn) = wsengine::connect(url, client_config(rng)) else {
        return fail(counts, "connect".into());
    };
    let _ = conn.send("join");
    let until = Instant::now() + Duration::from_millis(200 + rng.below(800));
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match conn.recv_timeout(left) {
            Ok(_) => {
                counts.broadcasts_got.fetch_add(1, Relaxed);
            }
            Err(Error::Timeout) => break,
            Err(_) => break,
        }
    }
    let _ = conn.close(CloseCode::NORMAL, "bye");
    counts.subscribers.fetch_add(1, Relaxed);
}

fn process_counts() -> (usize, usize, usize) {
    let threads = std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count());
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0);
    (threads, fds, rss)
}

fn main() {
    let mut seconds = 60u64;
    let mut workers = 12u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .and_then(|v| v.parse::<u64>().ok())
                .expect("a number")
        };
        match a.as_str() {
            "--seconds" => seconds = value(),
            "--minutes" => seconds = value() * 60,
            "--workers" => workers = value(),
            other => panic!("unknown option {other}"),
        }
    }
    let config = Config::default()
        .with_max_message_size(LIMIT)
        .with_ping_interval(Some(Duration::from_secs(1)))
        .with_ping_timeout(Some(Duration::from_secs(10)))
        .with_send_queue_capacity(16)
        .with_overflow_policy(OverflowPolicy::Block(Duration::from_millis(200)));
    let server = Arc::new(Server::bind("127.0.0.1:0", config).expect("bind"));
    let addr = server.local_addr();
    let url = format!("ws://{addr}/");
    let counts = Arc::new(Counts::default());
    let (threads0, fds0, rss0) = process_counts();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let stop = Arc::new(AtomicBool::new(false));

    let acceptor = {
        let (server, counts) = (Arc::clone(&server), Arc::clone(&counts));
        std::thread::spawn(move || {
            let mut handlers = Vec::new();
            while let Ok(conn) = server.accept() {
                let (server, counts) = (Arc::clone(&server), Arc::clone(&counts));
                handlers.push(std::thread::spawn(move || serve(&server, conn, &counts)));
                handlers.retain(|h| !h.is_finished());
            }
            for h in handlers {
                let _ = h.join();
            }
        })
    };
    let publisher = {
        let (server, counts, stop) = (Arc::clone(&server), Arc::clone(&counts), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Relaxed) {
                let r = server
                    .groups()
                    .broadcast(Audience::Group("room"), format!("news {i}"));
                counts.broadcasts_sent.fetch_add(r.queued as u64, Relaxed);
                i += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let peak = Arc::new(AtomicU64::new(rss0 as u64));
    let sampler = {
        let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Relaxed) {
                peak.fetch_max(process_counts().2 as u64, Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let threads: Vec<_> = (0..workers)
        .map(|w| {
            let (url, counts) = (url.clone(), Arc::clone(&counts));
            std::thread::spawn(move || {
                let mut rng =
                    Rng(0x9e37_79b9_7f4a_7c15 ^ (w + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
                while Instant::now() < deadline {
                    match rng.below(100) {
                        0..=59 => echo_session(&url, &mut rng, &counts),
                        60..=74 => abrupt_drop(addr, &counts),
                        75..=84 => slow_reader(&url, &mut rng, &counts),
                        _ => subscriber(&url, &mut rng, &counts),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    stop.store(true, Relaxed);
    let _ = publisher.join();
    let _ = sampler.join();
    let ran = started.elapsed();

    // Every connection gone, then the server's threads and descriptors back.
    let settle = Instant::now() + Duration::from_secs(20);
    while server.connection_count() > 0 && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(50));
    }
    let open = server.connection_count();
    server.shutdown();
    let _ = acceptor.join();
    // Connection threads parked for reuse leave after 2 s.
    let mut now = process_counts();
    while (now.0 > threads0 || now.1 > fds0) && Instant::now() < settle + Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        now = process_counts();
    }
    // SAFETY: malloc_trim only returns free heap memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
    let (threads1, fds1, rss1) = process_counts();
    let c = &*counts;
    let get = |a: &AtomicU64| a.load(Relaxed);
    let mut checks: HashMap<&str, bool> = HashMap::new();
    checks.insert("no failures", get(&c.failures) == 0);
    checks.insert("every connection closed", open == 0);
    checks.insert("echoes = messages sent", get(&c.echoed) == get(&c.sent));
    checks.insert(
        "flood: accepted = received + unsent + lost with unclean closes",
        get(&c.flood_got) + get(&c.server_unsent) <= get(&c.flood_accepted)
            && (get(&c.flood_accepted) == get(&c.flood_got) + get(&c.server_unsent)
                || get(&c.unclean) > 0),
    );
    checks.insert("threads back to baseline", threads1 <= threads0);
    checks.insert("descriptors back to baseline", fds1 <= fds0);
    checks.insert("RSS within 64 MiB of baseline", rss1 <= rss0 + (64 << 10));

    println!("| soak, {:.0} s, {workers} workers | |", ran.as_secs_f64());
    println!("|---|---|");
    for (name, v) in [
        ("echo sessions (clean close)", get(&c.sessions)),
        ("abrupt drops", get(&c.drops)),
        ("slow readers", get(&c.slow)),
        ("subscribers", get(&c.subscribers)),
        ("messages sent / echoed", get(&c.sent)),
        ("payload bytes sent", get(&c.bytes)),
        ("broadcasts queued / received", get(&c.broadcasts_sent)),
        ("flood messages accepted", get(&c.flood_accepted)),
        ("flood messages refused (queue full)", get(&c.flood_refused)),
        ("flood messages received", get(&c.flood_got)),
        ("server unsent (counted)", get(&c.server_unsent)),
    ] {
        let extra = match name {
            "messages sent / echoed" => format!(" / {}", get(&c.echoed)),
            "broadcasts queued / received" => format!(" / {}", get(&c.broadcasts_got)),
            _ => String::new(),
        };
        println!("| {name} | {v}{extra} |");
    }
    println!(
        "| peak RSS | {} KiB (baseline {rss0} KiB) |",
        peak.load(Relaxed)
    );
    println!(
        "| after: threads, descriptors, RSS | {threads1} ({threads0}), {fds1} ({fds0}), {rss1} KiB ({rss0} KiB) |"
    );
    let mut failed = false;
    let mut names: Vec<_> = checks.into_iter().collect();
    names.sort();
    for (name, ok) in names {
        println!("{} {name}", if ok { "ok  " } else { "FAIL" });
        failed |= !ok;
    }
    std::process::exit(i32::from(failed));
}
