//! What permessage-deflate costs, for a typical JSON payload: CPU per
//! message and compression ratio of wsengine's codec, side by side with
//! flate2 (miniz_oxide) doing the same per-message sync-flush deflate, and
//! the whole engine's CPU per echoed message with compression on and off.
//!
//! ```text
//! cargo run --release -p wsengine-bench --bin deflate_cost [-- --rounds 5 --messages 20000]
//! ```
//! Every figure is the median of the rounds; CPU time is the process's
//! (`CLOCK_PROCESS_CPUTIME_ID`), which a busy shared machine disturbs far
//! less than wall time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use wsengine::protocol::deflate::{Compressor, Decompressor};
use wsengine::{Config, DeflateConfig, Message, Server, connect};

/// Counts live heap bytes, to report what the codec state costs.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter is only arithmetic on the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Heap bytes a compressor and a decompressor hold after one message
/// each, with `config` (its window for both directions).
fn state_bytes(config: &DeflateConfig, bits: u8) -> (isize, isize) {
    let msg = json_message(1);
    let before = LIVE.load(Ordering::Relaxed);
    let mut c = Compressor::new(bits, false, &config.clone().with_threshold(0));
    let mut wire = Vec::with_capacity(4096);
    let with_wire = LIVE.load(Ordering::Relaxed);
    c.compress(msg.as_bytes(), &mut wire);
    let compress = LIVE.load(Ordering::Relaxed) - with_wire;
    let mut d = Decompressor::new(bits, false);
    let mut out = Vec::with_capacity(4096);
    let with_out = LIVE.load(Ordering::Relaxed);
    d.inflate(&wire, &mut out, usize::MAX).expect("inflate");
    d.finish_message(&mut out, usize::MAX).expect("inflate");
    let inflate = LIVE.load(Ordering::Relaxed) - with_out;
    drop((c, d, wire, out));
    assert!(LIVE.load(Ordering::Relaxed) <= before + 64);
    (compress, inflate)
}

/// Process CPU time in seconds.
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime failed");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A game-state/chat style JSON message of about 700 bytes; `i` varies the
/// numbers and names the way consecutive real messages differ.
fn json_message(i: u64) -> String {
    let mut x = i
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = || {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51afd7ed558ccd);
        x % 10_000
    };
    let players: Vec<String> = (0..5)
        .map(|p| {
            format!(
                r#"{{"id":{},"name":"player-{}","pos":{{"x":{}.{},"y":{}.{}}},"hp":{},"team":"{}"}}"#,
                next(),
                next() % 500,
                next() % 1000,
                next() % 100,
                next() % 1000,
                next() % 100,
                next() % 100,
                if p % 2 == 0 { "red" } else { "blue" }
            )
        })
        .collect();
    format!(
        r#"{{"type":"state","tick":{i},"room":"lobby-{}","players":[{}],"chat":{{"from":"player-{}","text":"gg, meet at the bridge in {} seconds"}}}}"#,
        next() % 20,
        players.join(","),
        next() % 500,
        next() % 60
    )
}

struct CodecResult {
    compress_us: f64,
    inflate_us: f64,
    ratio: f64,
}

/// One side's compressor and the other side's decompressor, per message.
trait Codec {
    /// Compress one message into `wire` (without the 00 00 ff ff tail).
    fn compress(&mut self, message: &[u8], wire: &mut Vec<u8>);
    /// Inflate one message's `wire` payload into `out`.
    fn inflate(&mut self, wire: &[u8], out: &mut Vec<u8>);
}

/// wsengine's codec (zlib-rs).
struct Ours(Compressor, Decompressor);

impl Ours {
    fn new(config: &DeflateConfig, bits: u8, reset: bool) -> Self {
        let config = config.clone().with_threshold(0);
        Ours(
            Compressor::new(bits, reset, &config),
            Decompressor::new(bits, reset),
        )
    }
}

impl Codec for Ours {
    fn compress(&mut self, message: &[u8], wire: &mut Vec<u8>) {
        self.0.compress(message, wire);
    }
    fn inflate(&mut self, wire: &[u8], out: &mut Vec<u8>) {
        self.1.inflate(wire, out, usize::MAX).expect("inflate");
        self.1.finish_message(out, usize::MAX).expect("inflate");
    }
}

/// flate2 with its default backend (miniz_oxide; 15-bit window only).
struct Peer {
    c: Compress,
    d: Decompress,
    reset: bool,
    tail: Vec<u8>,
}

impl Peer {
    fn new(level: u32, reset: bool) -> Self {
        Peer {
            c: Compress::new(Compression::new(level), false),
            d: Decompress::new(false),
            reset,
            tail: Vec::new(),
        }
    }
}

impl Codec for Peer {
    fn compress(&mut self, message: &[u8], wire: &mut Vec<u8>) {
        wire.reserve(message.len() + 64);
        let before = self.c.total_in();
        self.c
            .compress_vec(message, wire, FlushCompress::Sync)
            .expect("deflate");
        assert_eq!((self.c.total_in() - before) as usize, message.len());
        assert!(wire.ends_with(&[0, 0, 0xff, 0xff]));
        wire.truncate(wire.len() - 4);
        if self.reset {
            self.c.reset();
        }
    }
    fn inflate(&mut self, wire: &[u8], out: &mut Vec<u8>) {
        self.tail.clear();
        self.tail.extend_from_slice(wire);
        self.tail.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut input: &[u8] = &self.tail;
        loop {
            out.reserve(4096);
            let before = self.d.total_in();
            self.d
                .decompress_vec(input, out, FlushDecompress::Sync)
                .expect("inflate");
            input = &input[(self.d.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        if self.reset {
            self.d.reset(false);
        }
    }
}

/// Compress and inflate `messages` one at a time with a fresh codec from
/// `make`, `rounds` times; medians per message.
fn measure<C: Codec>(messages: &[String], rounds: usize, make: impl Fn() -> C) -> CodecResult {
    let (mut comp, mut infl, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    let raw: usize = messages.iter().map(String::len).sum();
    for _ in 0..rounds {
        let mut codec = make();
        let (mut wire, mut out) = (Vec::new(), Vec::new());
        let (mut wire_total, mut t_comp, mut t_infl) = (0usize, 0.0, 0.0);
        for m in messages {
            wire.clear();
            out.clear();
            let t0 = cpu_seconds();
            codec.compress(m.as_bytes(), &mut wire);
            let t1 = cpu_seconds();
            codec.inflate(&wire, &mut out);
            let t2 = cpu_seconds();
            assert_eq!(out, m.as_bytes(), "round trip");
            wire_total += wire.len();
            t_comp += t1 - t0;
            t_infl += t2 - t1;
        }
        comp.push(t_comp / messages.len() as f64 * 1e6);
        infl.push(t_infl / messages.len() as f64 * 1e6);
        ratio.push(wire_total as f64 / raw as f64);
    }
    CodecResult {
        compress_us: median(comp),
        inflate_us: median(infl),
        ratio: median(ratio),
    }
}

/// Echo `count` messages over one loopback connection, 16 in flight, with
/// `deflate` on both ends; returns process CPU microseconds per echo (both
/// ends: the client's compress + inflate and the server's).
fn engine_echo(messages: &[String], deflate: &DeflateConfig) -> f64 {
    let config = Config::default().with_deflate(deflate.clone());
    let server = Server::bind("127.0.0.1:0", config.clone()).expect("bind");
    let url = format!("ws://{}/", server.local_addr());
    let server = Arc::new(server);
    let echo = {
        let server = Arc::clone(&server);
        std::thread::spawn(move || {
            let conn = server.accept().expect("accept");
            while let Ok(m) = conn.recv() {
                if conn.send(m).is_err() {
                    break;
                }
            }
        })
    };
    let client = connect(&url, config.clone()).expect("connect");
    assert_eq!(client.compression().is_some(), deflate.enabled);
    let t0 = cpu_seconds();
    let mut sent = 0;
    let mut received = 0;
    while received < messages.len() {
        while sent < messages.len() && sent - received < 16 {
            client
                .send(Message::Text(messages[sent].clone()))
                .expect("send");
            sent += 1;
        }
        let m = client.recv_timeout(Duration::from_secs(10)).expect("echo");
        assert_eq!(m.as_bytes(), messages[received].as_bytes());
        received += 1;
    }
    let cpu = cpu_seconds() - t0;
    drop(client);
    echo.join().expect("echo thread");
    server.shutdown();
    cpu / messages.len() as f64 * 1e6
}

fn main() {
    let mut rounds = 5;
    let mut count = 20_000u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args
            .next()
            .and_then(|v| v.parse().ok())
            .expect("a number after the option");
        match a.as_str() {
            "--rounds" => rounds = v as usize,
            "--messages" => count = v,
            other => panic!("unknown option {other}"),
        }
    }
    let messages: Vec<String> = (0..count).map(json_message).collect();
    let avg = messages.iter().map(String::len).sum::<usize>() / messages.len();
    println!(
        "permessage-deflate cost: {count} JSON messages of {avg} bytes on average, {rounds} rounds, medians\n"
    );
    println!("| codec | context | level | window | compress µs/msg | inflate µs/msg | wire/raw |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let default = DeflateConfig::default();
    let d = &default;
    let mem8 = default.clone().with_mem_level(8);
    let fast = mem8.clone().with_level(1);
    let m = &messages[..];
    let rows: Vec<(&str, &str, u8, u8, CodecResult)> = vec![
        (
            "wsengine (zlib-rs), defaults",
            "takeover",
            6,
            12,
            measure(m, rounds, || Ours::new(d, 12, false)),
        ),
        (
            "wsengine (zlib-rs), defaults",
            "reset",
            6,
            12,
            measure(m, rounds, || Ours::new(d, 12, true)),
        ),
        (
            "wsengine (zlib-rs), mem level 8",
            "takeover",
            6,
            15,
            measure(m, rounds, || Ours::new(&mem8, 15, false)),
        ),
        (
            "wsengine (zlib-rs), mem level 8",
            "takeover",
            1,
            15,
            measure(m, rounds, || Ours::new(&fast, 15, false)),
        ),
        (
            "flate2 (miniz_oxide)",
            "takeover",
            6,
            15,
            measure(m, rounds, || Peer::new(6, false)),
        ),
        (
            "flate2 (miniz_oxide)",
            "reset",
            6,
            15,
            measure(m, rounds, || Peer::new(6, true)),
        ),
        (
            "flate2 (miniz_oxide)",
            "takeover",
            1,
            15,
            measure(m, rounds, || Peer::new(1, false)),
        ),
    ];
    for (name, context, level, bits, r) in &rows {
        println!(
            "| {name} | {context} | {level} | {bits} | {:.2} | {:.2} | {:.3} |",
            r.compress_us, r.inflate_us, r.ratio
        );
    }
    println!("\nzlib state per connection once it has compressed and inflated a message:");
    println!("| window bits | memory level | compressor KiB | decompressor KiB |");
    println!("| --- | --- | --- | --- |");
    for (bits, mem) in [(9u8, 1u8), (12, 5), (15, 8), (15, 9)] {
        let (c, d) = state_bytes(&default.clone().with_mem_level(mem), bits);
        println!(
            "| {bits} | {mem} | {:.0} | {:.0} |",
            c as f64 / 1024.0,
            d as f64 / 1024.0
        );
    }
    let echo = count.min(20_000) as usize;
    let on: Vec<f64> = (0..rounds)
        .map(|_| engine_echo(&messages[..echo], &default))
        .collect();
    let off: Vec<f64> = (0..rounds)
        .map(|_| engine_echo(&messages[..echo], &DeflateConfig::disabled()))
        .collect();
    let (on, off) = (median(on), median(off));
    println!(
        "\nwsengine echo over loopback, one connection, 16 in flight, CPU of both ends per echo:"
    );
    println!("| compression | µs/echo | ratio |");
    println!("| --- | --- | --- |");
    println!("| off | {off:.2} | 1.00 |");
    println!("| on (defaults) | {on:.2} | {:.2} |", on / off);
}
