//! Issue 14 ("Fit for the open internet (1 of 2)"): what a hostile or slow
//! peer can make a server hold or wait for, measured from outside over
//! loopback. Each test names the finding it covers; each failed on 80ca658.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;
use wsengine::protocol::deflate::{Compressor, DeflateConfig};
use wsengine::protocol::frame::FrameHeader;
use wsengine::protocol::mask::apply_mask;
use wsengine::protocol::{CloseCode, OpCode};
use wsengine::{Config, Conn, Error, Message, Server, ServerEvent, connect};

const T: Duration = Duration::from_secs(5);

/// An echo server in the `examples/echo_server.rs` shape: a thread per
/// connection doing `recv` then `send`. Its connections are sent on the
/// channel too.
fn echo_server(config: Config) -> (Arc<Server>, std::sync::mpsc::Receiver<Arc<Conn>>) {
    let server = Arc::new(server(config));
    let (tx, rx) = std::sync::mpsc::channel();
    let for_thread = Arc::clone(&server);
    std::thread::spawn(move || {
        while let Ok(conn) = for_thread.accept() {
            let conn = Arc::new(conn);
            let _ = tx.send(Arc::clone(&conn));
            std::thread::spawn(move || {
                while let Ok(m) = conn.recv() {
                    if conn.send(m).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (server, rx)
}

/// A raw client that offers permessage-deflate (no context takeover on
/// its side, so one compressed payload can be sent many times).
fn deflate_client(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    let request = upgrade_request(
        "/",
        "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n",
    );
    s.write_all(request.as_bytes()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "closed during the handshake");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("permessage-deflate"), "{head}");
    s
}

/// A masked binary frame, compressed (RSV1) or not.
fn frame(payload: &[u8], compressed: bool) -> Vec<u8> {
    let mut out = Vec::new();
    FrameHeader {
        fin: true,
        rsv: if compressed { 0b100 } else { 0 },
        opcode: OpCode::Binary,
        mask: Some([9, 8, 7, 6]),
        payload_len: payload.len() as u64,
    }
    .write_to(&mut out);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], [9, 8, 7, 6], 0);
    out
}

/// Write `frames` copies of `bytes` until the server stops reading (a write
/// blocks for `stall`) or all are written.
fn flood(s: &mut TcpStream, bytes: &[u8], frames: usize, stall: Duration) -> usize {
    s.set_write_timeout(Some(stall)).unwrap();
    (0..frames)
        .take_while(|_| s.write_all(bytes).is_ok())
        .count()
}

/// Wait until resident memory has not grown for a while; returns it.
fn settled_rss_kib() -> usize {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = rss_kib();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = rss_kib();
        if now <= last + 256 || Instant::now() > deadline {
            return now.max(last);
        }
        last = now;
    }
}

/// Finding 1: a client offering compression sent messages that inflate
/// to many times their size and never read; the send queue (bounded only
/// in messages) took echo after echo: 3 -> 2,402 MiB. Now every queue is
/// bounded in bytes and the README's formula holds:
/// `M + max(R, M) + max(S, M) + 2 M` plus what the application holds (one
/// message here) and about 0.5 MiB, with M = 4 MiB, R = S = 16 MiB.
#[test]
fn a_compressed_flood_that_never_reads_stays_under_the_stated_bound() {
    const M: usize = 4 << 20;
    let mut config = fast_config().with_max_message_size(M);
    // Replies as large on the wire as in memory (the client got
    // them uncompressed by offering an 8-bit window): the socket fills.
    config.deflate.level = 0;
    let (server, conns) = echo_server(config);
    let mut zip = Compressor::new(15, true, &DeflateConfig::default());
    let mut compressed = Vec::new();
    zip.compress(&vec![0u8; M], &mut compressed);
    assert!(compressed.len() < 64 << 10, "{} bytes", compressed.len());
    let wire = frame(&compressed, true);
    let before = rss_kib();
    let mut client = deflate_client(server.local_addr());
    let conn = conns.recv_timeout(T).unwrap();
    let sent = flood(&mut client, &wire, 3000, Duration::from_secs(2));
    let grown_mib = settled_rss_kib().saturating_sub(before) / 1024;
    eprintln!("{sent} messages sent; grew {grown_mib} MiB");
    let bound_mib = (M + 16 * 1024 * 1024 + 16 * 1024 * 1024 + 2 * M + M) / (1 << 20) + 1;
    // Slack for what the allocator keeps of freed messages (glibc's
    // per-thread arenas): 16 MiB here, where the old queues grew by
    // hundreds of MiB.
    assert!(
        grown_mib <= bound_mib + 16,
        "{sent} messages of {} bytes inflating to {M}: grew {grown_mib} MiB (bound {bound_mib} MiB)",
        wire.len()
    );
    assert!(
        conn.send_queue_bytes() <= 16 << 20,
        "{}",
        conn.send_queue_bytes()
    );
    assert!(sent < 3000, "the server never stopped reading");
}

/// Finding 1, uncompressed: a client writing 64 KiB messages without
/// reading filled the send queue to 1024 messages (64 MiB).
#[test]
fn a_flood_that_never_reads_fills_the_send_queue_only_to_its_bytes() {
    const S: usize = 1 << 20;
    let config = fast_config()
        .with_send_queue_bytes(S)
        .with_recv_queue_bytes(S);
    let (server, conns) = echo_server(config);
    let mut client = RawPeer::connect(server.local_addr(), "/");
    let conn = conns.recv_timeout(T).unwrap();
    let wire = frame(&vec![7u8; 64 << 10], false);
    let sent = flood(&mut client.stream, &wire, 1000, Duration::from_secs(2));
    assert!(sent < 1000, "the server never stopped reading");
    assert!(
        eventually(T, || conn.send_queue_len() > 0),
        "nothing queued"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        conn.send_queue_bytes() <= S,
        "{} bytes in {} queued messages",
        conn.send_queue_bytes(),
        conn.send_queue_len()
    );
    assert!(conn.send_queue_len() <= S / (64 << 10) + 1);
}

/// Finding 2: with the frame limit at its 16 MiB default and the message
/// limit raised, a compressed message of the full size in one frame (what
/// `websockets` and `ws` send) was refused with 1009: incompressible data
/// grows a little when deflated. Scaled down: a 2 MiB limit and a 2 MiB
/// random message, compressed into a frame larger than 2 MiB.
#[test]
fn a_compressed_message_of_the_full_size_in_one_frame_is_accepted() {
    const M: usize = 2 << 20;
    let config = fast_config().with_max_message_size(M);
    let (server, _conns) = echo_server(config.clone());
    let url = format!("ws://{}/", server.local_addr());
    let client = connect(&url, config.clone()).unwrap();
    assert!(client.compression().is_some());
    let mut seed = 0x9e37_79b9_u32;
    let noise: Vec<u8> = (0..M)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as u8
        })
        .collect();
    client.send(noise.clone()).unwrap();
    match client.recv_timeout(Duration::from_secs(30)) {
        Ok(Message::Binary(b)) => assert!(b == noise, "echo differs"),
        other => panic!("expected the echo, got {other:?}"),
    }
}

/// Finding 3: a poll loop's `send` to a client that does not read blocked
/// for the default 10 s, freezing every other connection. In poll mode a
/// full queue now fails the send at once unless `Block` was asked for.
#[test]
fn a_poll_loop_keeps_answering_while_one_client_floods() {
    let config = fast_config()
        .with_poll_events(true)
        .with_send_queue_bytes(256 << 10);
    let server = Arc::new(server(config));
    let addr = server.local_addr();
    let loop_server = Arc::clone(&server);
    let dropped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let dropped_in_loop = Arc::clone(&dropped);
    let game_loop = std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            match loop_server.poll(Duration::from_millis(50)) {
                Ok(Some(ServerEvent::Message(conn, m))) => match conn.send(m) {
                    Ok(()) => {}
                    Err(Error::QueueFull(_)) => {
                        dropped_in_loop.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(_) => {}
                },
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    let mut flooder = RawPeer::connect(addr, "/");
    let wire = frame(&vec![1u8; 64 << 10], false);
    let flooding = std::thread::spawn(move || {
        flood(&mut flooder.stream, &wire, 400, Duration::from_secs(3));
        flooder
    });
    assert!(
        eventually(T, || dropped.load(std::sync::atomic::Ordering::Relaxed) > 0),
        "the flooder's queue never filled"
    );
    let url = format!("ws://{addr}/");
    let other = connect(&url, fast_config()).unwrap();
    for i in 0..20 {
        other.send(format!("ping {i}")).unwrap();
        match other.recv_timeout(Duration::from_secs(2)) {
            Ok(Message::Text(t)) => assert_eq!(t, format!("ping {i}")),
            got => panic!("echo {i} did not come back promptly: {got:?}"),
        }
    }
    let _flooder = flooding.join().unwrap();
    server.shutdown();
    game_loop.join().unwrap();
}

/// Finding 4: a plain HTTP response had a write timeout per `send`, so a
/// client reading a trickle held a thread (and the whole file in memory)
/// for as long as it liked. Now the response has an absolute deadline (the
/// handshake timeout) and files are streamed in 64 KiB chunks.
#[test]
fn plain_responses_have_a_deadline_and_stream_files() {
    let dir = std::env::temp_dir().join(format!("wsengine-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("big.bin");
    // 64 MiB, sparse: reading it is fast and costs no disk.
    std::fs::File::create(&file)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let config = fast_config()
        .with_handshake_timeout(Duration::from_secs(1))
        .with_file_route("/big", &file);
    let server = server(config);
    let addr = server.local_addr();
    let get = b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n";

    // HEAD: the size, no body.
    let head = raw_exchange(addr, b"HEAD /big HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("Content-Length: 67108864\r\n"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "a HEAD answer has no body");

    // A trickling reader is cut off at the deadline: the server's side of
    // the connection ends about a second after it began.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(get).unwrap();
    let trickle = std::thread::spawn(move || {
        let started = Instant::now();
        let mut buf = [0u8; 1024];
        while started.elapsed() < Duration::from_secs(6) {
            if matches!(slow.read(&mut buf), Ok(0) | Err(_)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    assert!(eventually(T, || server.connection_count() == 1));
    assert!(
        eventually(Duration::from_secs(3), || server.connection_count() == 0),
        "a trickling reader kept its response going past the deadline"
    );
    trickle.join().unwrap();

    // Twenty requests that never read hold chunks, not files.
    let before = rss_kib();
    let stalled: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(get).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    eprintln!("20 stalled downloads of a 64 MiB file: grew {grown_mib} MiB");
    assert!(
        grown_mib < 32,
        "20 stalled downloads grew memory by {grown_mib} MiB"
    );
    drop(stalled);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 5: refusals past the connection limit were written and
/// lingered on the listener thread (a 200 ms write, then reads of 200 ms
/// each): 25 silent sockets past the limit delayed the next client's
/// handshake by 5 s. Now a refusal never waits.
#[test]
fn silent_sockets_past_the_limit_do_not_delay_the_next_client() {
    let config = fast_config().with_max_connections(1);
    let server = server(config);
    let addr = server.local_addr();
    let url = format!("ws://{addr}/");
    let first = connect(&url, fast_config()).unwrap();
    let held = server.accept_timeout(T).unwrap();
    let silent: Vec<TcpStream> = (0..25).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    drop(first);
    drop(held);
    assert!(
        eventually(T, || server.connection_count() == 0),
        "the first connection never ended"
    );
    let quick = fast_config().with_handshake_timeout(Duration::from_secs(2));
    let next = connect(&url, quick.clone());
    assert!(
        next.is_ok(),
        "the next client waited behind refusals: {next:?}"
    );
    drop(silent);
}

/// Finding 5: one host could hold every handshake slot. Past
/// `max_handshakes_per_ip` connections in their handshake, the next gets
/// 503 at once; when they end, new ones are taken again.
#[test]
fn one_address_holds_at_most_its_share_of_handshakes() {
    let config = fast_config().with_max_handshakes_per_ip(3);
    let server = server(config);
    let addr = server.local_addr();
    let silent: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    assert!(eventually(T, || server.connection_count() == 3));
    let answer = raw_exchange(addr, upgrade_request("/", "").as_bytes());
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    drop(silent);
    assert!(eventually(T, || server.connection_count() == 0));
    let answer = raw_exchange(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 426"), "{answer}");
}

/// Finding 7: with nothing configured, any web page could open a socket
/// to the server (cross-site WebSocket hijacking). Now a cross-origin
/// upgrade gets 403; the same origin and no origin are accepted.
#[test]
fn cross_origin_upgrades_get_403_by_default() {
    let server = server(fast_config());
    let addr = server.local_addr();
    let evil = raw_exchange(
        addr,
        upgrade_request("/", "Origin: http://evil.example\r\n").as_bytes(),
    );
    assert!(evil.starts_with("HTTP/1.1 403"), "{evil}");
    assert!(
        evil.contains("X-Content-Type-Options: nosniff\r\n"),
        "{evil}"
    );
    assert!(
        !evil.contains("evil.example"),
        "the body echoes the origin: {evil}"
    );
    // `upgrade_request` says `Host: localhost`.
    let mut same = TcpStream::connect(addr).unwrap();
    same.write_all(upgrade_request("/", "Origin: http://localhost\r\n").as_bytes())
        .unwrap();
    let mut head = [0u8; 12];
    same.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
    let url = format!("ws://{addr}/");
    assert!(connect(&url, fast_config()).is_ok(), "no Origin: accepted");
}

/// Allowed hosts refuse a DNS-rebinding name with 403, plain or upgrade.
#[test]
fn hosts_outside_the_allowed_list_get_403() {
    let config = fast_config()
        .with_allowed_hosts(Some(vec!["127.0.0.1".into()]))
        .with_health_path(Some("/health"));
    let server = server(config);
    let addr = server.local_addr();
    let rebound = raw_exchange(
        addr,
        b"GET /health HTTP/1.1\r\nHost: attacker.example\r\n\r\n",
    );
    assert!(rebound.starts_with("HTTP/1.1 403"), "{rebound}");
    let ok = raw_exchange(
        addr,
        format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    );
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}

/// Finding 6: keepalive arithmetic wrapped with a huge ping timeout (what
/// Python's `ping_timeout=None` mapped to), closing every connection with
/// 1006 about a second after its first ping. Now `None` means no timeout.
#[test]
fn keepalive_without_a_timeout_never_drops_a_quiet_peer() {
    let config = fast_config()
        .with_ping_interval(Some(Duration::from_millis(100)))
        .with_ping_timeout(None);
    let server = server(config);
    // A raw peer that never answers pings.
    let mut peer = RawPeer::connect(server.local_addr(), "/");
    let conn = server.accept_timeout(T).unwrap();
    let mut pings = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        if let Some(wsengine::protocol::Event::Ping(_)) =
            peer.next_event(Duration::from_millis(200))
        {
            pings += 1;
        }
    }
    assert!(pings >= 3, "keepalive kept pinging: {pings} pings");
    assert_eq!(conn.close_info(), None, "dropped: {:?}", conn.close_info());
    conn.close(CloseCode::NORMAL, "").unwrap();
}
