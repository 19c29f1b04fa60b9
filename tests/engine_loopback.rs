//! The engine over loopback: echo, handshake answers, protocol errors,
//! close semantics and races, timeouts, keepalive, backpressure.

mod support;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use support::*;
use wsengine::protocol::{CloseCode, CloseFrame, Event, OpCode};
use wsengine::{
    CloseInitiator, Config, Conn, Error, Message, OriginPolicy, OverflowPolicy, Server, connect,
};

const T: Duration = Duration::from_secs(5);

fn url(server: &Server, path: &str) -> String {
    format!("ws://{}{path}", server.local_addr())
}

/// A connected (server-side, client-side) pair.
fn pair(config: Config) -> (Server, Conn, Conn) {
    let server = server(config.clone());
    let client = connect(&url(&server, "/pair?x=1"), config.clone()).unwrap();
    let conn = server.accept_timeout(T).unwrap();
    (server, conn, client)
}

fn closed_info(e: Error) -> wsengine::CloseInfo {
    match e {
        Error::ConnectionClosed(info) => *info,
        other => panic!("expected ConnectionClosed, got {other:?}"),
    }
}

#[test]
fn echo_text_and_binary_both_ways_including_large_messages() {
    echo_both_ways(fast_config());
}

#[test]
fn echo_works_the_same_without_batch_scheduling() {
    echo_both_ways(fast_config().with_batch_scheduling(false));
}

#[test]
fn replies_keep_their_order_whether_written_at_once_or_by_the_writer() {
    // A reply sent when the application has taken every message is written
    // by the sending thread; replies sent while messages wait are gathered
    // and written together when `recv` finds the queue empty. Bursts,
    // pauses and large replies (which a direct write leaves for the writer
    // to finish) mix all of these.
    let (_server, conn, client) = pair(fast_config());
    let conn = Arc::new(conn);
    let echo = {
        let conn = Arc::clone(&conn);
        std::thread::spawn(move || {
            while let Ok(m) = conn.recv() {
                if conn.send(m).is_err() {
                    break;
                }
            }
        })
    };
    let message = |i: usize| {
        let len = if i % 97 == 0 { 300_000 } else { 8 + i % 50 };
        let mut bytes = vec![(i % 251) as u8; len];
        bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
        bytes
    };
    let mut next = 0;
    for burst in 0..60 {
        let n = 1 + (burst * 7) % 40;
        for i in next..next + n {
            client.send(message(i)).unwrap();
        }
        next += n;
        if burst % 3 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    for i in 0..next {
        assert_eq!(
            client.recv_timeout(T).unwrap().into_bytes(),
            message(i),
            "reply {i}"
        );
    }
    conn.close(CloseCode::NORMAL, "").unwrap();
    echo.join().unwrap();
}

/// Replies a `recv` caller sends while more messages wait are gathered
/// into one write (`Shared::hold_writes`): they keep their order against
/// another thread's sends, and a caller that stops calling `recv` with
/// replies gathered does not keep them: the timer writes them out within
/// `HOLD_MAX` (1 ms).
#[test]
fn gathered_recv_replies_keep_their_order_and_go_out_when_recv_stops() {
    let (_server, conn, client) = pair(fast_config());
    let (conn, client) = (Arc::new(conn), Arc::new(client));
    const N: usize = 2000;
    let other = {
        let conn = Arc::clone(&conn);
        std::thread::spawn(move || {
            for j in 0..N {
                conn.send(format!("t{j}")).unwrap();
            }
        })
    };
    let reader = read_two_series(Arc::clone(&client), N);
    for i in 0..N {
        client.send(format!("m{i}")).unwrap();
    }
    for _ in 0..N {
        let m = conn.recv_timeout(T).unwrap();
        conn.send(format!("r{}", &m.as_text().unwrap()[1..]))
            .unwrap();
    }
    other.join().unwrap();
    reader.join().unwrap();

    // Two messages waiting: the reply to the first is gathered (another
    // waits), then this thread stops calling `recv` until the reply has
    // arrived. Were it kept for the next `recv`, this would wait forever.
    client.send("a").unwrap();
    client.send("b").unwrap();
    assert!(eventually(T, || conn.recv_queue_len() == 2));
    let a = conn.recv().unwrap();
    conn.send(a).unwrap();
    assert_eq!(client.recv_timeout(T).unwrap(), Message::Text("a".into()));
    let b = conn.recv().unwrap();
    conn.send(b).unwrap();
    assert_eq!(client.recv_timeout(T).unwrap(), Message::Text("b".into()));
}

fn echo_both_ways(config: Config) {
    let (_server, conn, client) = pair(config);
    client.send("hello").unwrap();
    assert_eq!(conn.recv_timeout(T).unwrap(), Message::Text("hello".into()));
    conn.send(vec![0u8, 1, 2]).unwrap();
    assert_eq!(
        client.recv_timeout(T).unwrap(),
        Message::Binary(vec![0, 1, 2])
    );
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    client.send(big.clone()).unwrap();
    let got = conn.recv_timeout(T).unwrap();
    assert_eq!(got.as_bytes(), &big[..]);
    conn.send(got).unwrap();
    assert_eq!(client.recv_timeout(T).unwrap().into_bytes(), big);
    // Order is kept across many small messages.
    for i in 0..1000 {
        client.send(i.to_string()).unwrap();
    }
    for i in 0..1000 {
        assert_eq!(conn.recv_timeout(T).unwrap(), Message::Text(i.to_string()));
    }
}

#[test]
fn request_info_is_available_on_both_sides() {
    let config = fast_config().with_subprotocols(vec!["chat".into(), "v2".into()]);
    let server = server(config.clone());
    let client_cfg = fast_config()
        .with_subprotocols(vec!["v2".into(), "chat".into()])
        .with_extra_headers(vec![("X-Token".into(), "abc".into())]);
    let client = connect(&url(&server, "/room/1?name=ann"), client_cfg.clone()).unwrap();
    let conn = server.accept_timeout(T).unwrap();
    let req = conn.request();
    assert_eq!(req.path, "/room/1");
    assert_eq!(req.query.as_deref(), Some("name=ann"));
    assert_eq!(req.header("x-token"), Some("abc"));
    // The server's preference order decides.
    assert_eq!(conn.subprotocol(), Some("chat"));
    assert_eq!(client.subprotocol(), Some("chat"));
    assert_eq!(conn.peer_addr(), client.local_addr());
    assert_eq!(client.peer_addr(), server.local_addr());
}

#[test]
fn handshake_errors_get_http_statuses() {
    let server =
        server(fast_config().with_origins(OriginPolicy::Allow(vec!["https://ok.example".into()])));
    let addr = server.local_addr();
    let resp = raw_exchange(addr, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 405 "), "{resp}");
    let resp = raw_exchange(
        addr,
        upgrade_request("/", "")
            .replacen("GET", "POST", 1)
            .as_bytes(),
    );
    assert!(resp.starts_with("HTTP/1.1 400 "), "{resp}");
    let resp = raw_exchange(
        addr,
        upgrade_request("/", "")
            .replace("Version: 13", "Version: 8")
            .as_bytes(),
    );
    assert!(
        resp.starts_with("HTTP/1.1 426 ") && resp.contains("Sec-WebSocket-Version: 13\r\n"),
        "{resp}"
    );
    let huge = upgrade_request("/", &format!("X-Big: {}\r\n", "a".repeat(10_000)));
    let resp = raw_exchange(addr, huge.as_bytes());
    assert!(resp.starts_with("HTTP/1.1 431 "), "{resp}");
    let resp = raw_exchange(
        addr,
        upgrade_request("/", "Origin: https://evil.example\r\n").as_bytes(),
    );
    assert!(resp.starts_with("HTTP/1.1 403 "), "{resp}");
    let resp = raw_exchange(addr, b"\x16\x03\x01garbage\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 400 "), "{resp}");
    // None of them reached accept.
    assert!(matches!(
        server.accept_timeout(Duration::from_millis(50)),
        Err(Error::Timeout)
    ));
}

#[test]
fn client_reports_handshake_refusals_and_bad_urls() {
    let server =
        server(fast_config().with_origins(OriginPolicy::Allow(vec!["https://ok.example".into()])));
    let cfg =
        fast_config().with_extra_headers(vec![("Origin".into(), "https://evil.example".into())]);
    match connect(&url(&server, "/"), cfg.clone()) {
        Err(Error::Handshake(e)) => assert_eq!(e.status(), 403),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        connect("wss://127.0.0.1:1/", fast_config()),
        Err(Error::Io(_))
    ));
    assert!(matches!(
        connect("http://127.0.0.1:1/", fast_config()),
        Err(Error::Url(_))
    ));
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(matches!(
        connect(&format!("ws://{closed_port}/"), fast_config()),
        Err(Error::Io(_))
    ));
}

#[test]
fn connection_limit_answers_503_and_keeps_serving() {
    let server = server(fast_config().with_max_connections(2));
    let a = connect(&url(&server, "/"), fast_config()).unwrap();
    let _b = connect(&url(&server, "/"), fast_config()).unwrap();
    match connect(&url(&server, "/"), fast_config()) {
        Err(Error::Handshake(e)) => assert_eq!(e.status(), 503),
        other => panic!("{other:?}"),
    }
    // Freeing a slot lets the next one in. Handshakes finish in any order:
    // find `a`'s end among the two.
    let first = server.accept_timeout(T).unwrap();
    let second = server.accept_timeout(T).unwrap();
    let sa = if first.peer_addr() == a.local_addr() {
        first
    } else {
        second
    };
    assert_eq!(sa.peer_addr(), a.local_addr());
    drop(a);
    assert!(sa.wait_closed(T));
    assert!(eventually(T, || server.connection_count() < 2));
    assert!(connect(&url(&server, "/"), fast_config()).is_ok());
}

#[test]
fn protocol_violations_close_with_the_right_codes() {
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (vec![0x81, 0x02, b'h', b'i'], 1002),             // unmasked
        (vec![0x09, 0x80, 0, 0, 0, 0], 1002),             // fragmented ping
        (vec![0x81, 0x82, 0, 0, 0, 0, 0xc3, 0x28], 1007), // invalid UTF-8
        (vec![0x82, 0xfe, 0x04, 0x01, 0, 0, 0, 0], 1009), // 1025 bytes > 1024 limit
        (vec![0xc1, 0x80, 0, 0, 0, 0], 1002),             // RSV1
    ];
    let server = server(
        fast_config()
            .with_max_message_size(1024)
            .with_max_frame_size(Some(1024)),
    );
    for (bytes, code) in cases {
        let mut peer = RawPeer::connect(server.local_addr(), "/");
        let conn = server.accept_timeout(T).unwrap();
        peer.send_raw(&bytes);
        let frame = peer.expect_close(T).expect("a close frame with a code");
        assert_eq!(frame.code, CloseCode(code), "for {bytes:02x?}");
        assert!(peer.sees_eof(T), "server keeps TCP open after failing");
        let info = closed_info(conn.recv_timeout(T).unwrap_err());
        assert_eq!(
            (info.code, info.initiator, info.clean),
            (CloseCode(code), CloseInitiator::Local, false)
        );
    }
}

#[test]
fn messages_before_a_close_are_delivered_and_the_close_is_echoed() {
    let server = server(fast_config());
    let mut peer = RawPeer::connect(server.local_addr(), "/");
    let conn = server.accept_timeout(T).unwrap();
    for i in 0..3 {
        peer.send_text(&format!("m{i}"));
    }
    peer.send_close(Some(CloseFrame {
        code: CloseCode(4001),
        reason: "done".into(),
    }));
    for i in 0..3 {
        let m = conn.recv_timeout(T).unwrap();
        assert_eq!(m, Message::Text(format!("m{i}")));
        conn.send(m).unwrap(); // a reply, sent after the peer's close arrived
    }
    let info = closed_info(conn.recv_timeout(T).unwrap_err());
    assert_eq!(
        (info.code, info.reason.as_str(), info.initiator, info.clean),
        (CloseCode(4001), "done", CloseInitiator::Peer, true)
    );
    // The replies come before the echoed close, then the server ends TCP.
    for i in 0..3 {
        assert_eq!(
            peer.next_event(T),
            Some(Event::Message(Message::Text(format!("m{i}"))))
        );
    }
    assert_eq!(peer.expect_close(T).map(|f| f.code), Some(CloseCode(4001)));
    assert!(peer.sees_eof(T));
    assert!(conn.wait_closed(T));
}

#[test]
fn pings_are_answered_and_can_be_sent() {
    let (_server, conn, client) = pair(fast_config());
    let mut peer_server = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let t = std::thread::spawn(move || RawPeer::accept(&listener));
        let c = connect(&format!("ws://{addr}/"), fast_config()).unwrap();
        let mut peer = t.join().unwrap();
        peer.send_frame(OpCode::Ping, true, b"are you there");
        assert_eq!(
            peer.next_event(T),
            Some(Event::Pong(b"are you there".to_vec()))
        );
        c.ping(b"tick").unwrap();
        assert_eq!(peer.next_event(T), Some(Event::Ping(b"tick".to_vec())));
        assert!(matches!(c.ping(&[0; 126]), Err(Error::InvalidArgument(_))));
        (peer, c)
    };
    // The engine answers its own pings: the pair stays open and usable.
    conn.ping(b"x").unwrap();
    client.send("after ping").unwrap();
    assert_eq!(
        conn.recv_timeout(T).unwrap(),
        Message::Text("after ping".into())
    );
    drop(peer_server.1);
    assert_eq!(
        peer_server.0.expect_close(T).map(|f| f.code),
        Some(CloseCode::NORMAL)
    );
}

#[test]
fn close_is_idempotent_and_validated() {
    let (_server, conn, client) = pair(fast_config());
    assert!(matches!(
        client.close(1005u16, ""),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        client.close(1000u16, &"x".repeat(124)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(client.close(1000u16, "bye").unwrap());
    assert!(!client.close(1000u16, "again").unwrap());
    assert!(matches!(
        client.send("late"),
        Err(Error::ConnectionClosed(_))
    ));
    let info = closed_info(conn.recv_timeout(T).unwrap_err());
    assert_eq!(
        (info.code, info.reason.as_str(), info.initiator),
        (CloseCode::NORMAL, "bye", CloseInitiator::Peer)
    );
    assert!(client.wait_closed(T));
    let info = client.close_info().unwrap();
    assert_eq!(
        (info.code, info.initiator, info.clean),
        (CloseCode::NORMAL, CloseInitiator::Local, true)
    );
    assert!(matches!(
        client.recv_timeout(T),
        Err(Error::ConnectionClosed(_))
    ));
    assert!(!client.close(1000u16, "").unwrap());
}

#[test]
fn close_from_eight_threads_while_others_send_and_recv() {
    for round in 0..5 {
        let (_server, conn, client) = pair(fast_config());
        let conn = Arc::new(conn);
        let client = Arc::new(client);
        let start = Arc::new(Barrier::new(12));
        let wins = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::new();
        for i in 0..8 {
            let (conn, start, wins) = (Arc::clone(&conn), Arc::clone(&start), Arc::clone(&wins));
            threads.push(std::thread::spawn(move || {
                start.wait();
                if conn.close(CloseCode(4000 + i), "race").unwrap() {
                    wins.fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
        for _ in 0..2 {
            let (conn, start) = (Arc::clone(&conn), Arc::clone(&start));
            threads.push(std::thread::spawn(move || {
                start.wait();
                while conn.send("x").is_ok() {}
            }));
        }
        {
            let (conn, start) = (Arc::clone(&conn), Arc::clone(&start));
            threads.push(std::thread::spawn(move || {
                start.wait();
                while conn.recv().is_ok() {}
            }));
        }
        {
            let (client, start) = (Arc::clone(&client), Arc::clone(&start));
            threads.push(std::thread::spawn(move || {
                start.wait();
                while let Ok(m) = client.recv() {
                    if client.send(m).is_err() {
                        break;
                    }
                }
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for t in threads {
            while !t.is_finished() {
                assert!(Instant::now() < deadline, "a thread hung in round {round}");
                std::thread::sleep(Duration::from_millis(5));
            }
            t.join().unwrap();
        }
        assert_eq!(wins.load(Ordering::SeqCst), 1, "exactly one close wins");
        let info = conn.close_info().unwrap();
        assert!((4000..4008).contains(&info.code.0));
        assert!(conn.wait_closed(T) && client.wait_closed(T));
    }
}

#[test]
fn a_peer_that_never_answers_close_is_dropped_after_the_close_timeout() {
    let server = server(fast_config());
    let mut peer = RawPeer::connect(server.local_addr(), "/");
    let conn = server.accept_timeout(T).unwrap();
    let started = Instant::now();
    assert!(conn.close(1000u16, "bye").unwrap());
    assert_eq!(
        peer.expect_close(T).map(|f| f.code),
        Some(CloseCode::NORMAL)
    );
    // The peer says nothing back; the server gives up after close_timeout (500 ms).
    assert!(conn.wait_closed(T));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(peer.sees_eof(T));
    let info = conn.close_info().unwrap();
    assert_eq!(
        (info.code, info.initiator, info.clean),
        (CloseCode::NORMAL, CloseInitiator::Local, false)
    );
}

#[test]
fn keepalive_detects_a_silent_peer() {
    let config = fast_config()
        .with_ping_interval(Some(Duration::from_millis(200)))
        .with_ping_timeout(Some(Duration::from_millis(300)));
    let server = server(config);
    let mut peer = RawPeer::connect(server.local_addr(), "/");
    let conn = server.accept_timeout(T).unwrap();
    // The peer reads the ping but never answers.
    assert_eq!(peer.next_event(T), Some(Event::Ping(Vec::new())));
    assert!(conn.wait_closed(T));
    let info = conn.close_info().unwrap();
    assert_eq!(
        (info.code, info.initiator),
        (CloseCode::ABNORMAL, CloseInitiator::Transport)
    );
    assert!(info.reason.contains("keepalive"), "{info}");
}

#[test]
fn keepalive_keeps_a_responsive_peer() {
    let config = fast_config()
        .with_ping_interval(Some(Duration::from_millis(100)))
        // Generous: a pong delayed by a busy machine must not count as death.
        .with_ping_timeout(Some(Duration::from_secs(2)));
    let (_server, conn, client) = pair(config);
    // Several ping intervals pass with no application traffic.
    std::thread::sleep(Duration::from_millis(800));
    assert!(conn.close_info().is_none() && client.close_info().is_none());
    client.send("still here").unwrap();
    assert_eq!(
        conn.recv_timeout(T).unwrap(),
        Message::Text("still here".into())
    );
}

#[test]
fn idle_timeout_closes_with_1001() {
    let config = fast_config().with_idle_timeout(Some(Duration::from_millis(300)));
    let (_server, conn, client) = pair(config);
    let info = closed_info(client.recv_timeout(T).unwrap_err());
    assert_eq!(
        (info.code, info.reason.as_str()),
        (CloseCode::GOING_AWAY, "idle timeout")
    );
    assert!(conn.wait_closed(T));
}

#[test]
fn handshake_timeout_drops_a_silent_client() {
    let server = server(fast_config().with_handshake_timeout(Duration::from_millis(300)));
    let started = Instant::now();
    let resp = raw_exchange(server.local_addr(), b"GET / HTTP/1.1\r\n");
    assert_eq!(resp, "");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(eventually(T, || server.connection_count() == 0));
}

#[test]
fn a_peer_that_never_reads_meets_each_overflow_policy() {
    for policy in [
        OverflowPolicy::Fail,
        OverflowPolicy::Block(Duration::from_millis(100)),
        OverflowPolicy::Disconnect,
    ] {
        let config = fast_config()
            .with_send_queue_capacity(4)
            .with_overflow_policy(policy);
        let server = server(config);
        let peer = RawPeer::connect(server.local_addr(), "/");
        let conn = server.accept_timeout(T).unwrap();
        let chunk = vec![0u8; 256 << 10];
        // Fill the socket buffers and the queue; the peer never reads.
        let deadline = Instant::now() + Duration::from_secs(10);
        let err = loop {
            assert!(
                Instant::now() < deadline,
                "{policy:?}: the queue never filled"
            );
            if let Err(e) = conn.send(chunk.clone()) {
                break e;
            }
        };
        match policy {
            OverflowPolicy::Fail => {
                assert!(matches!(err, Error::QueueFull(m) if m.len() == chunk.len()))
            }
            OverflowPolicy::Block(_) => {
                assert!(matches!(err, Error::SendTimeout(m) if m.len() == chunk.len()))
            }
            OverflowPolicy::Disconnect => {
                assert_eq!(closed_info(err).code, CloseCode::POLICY_VIOLATION);
                assert!(
                    conn.wait_closed(T),
                    "the slow peer is dropped after the close timeout"
                );
            }
        }
        assert!(conn.send_queue_len() <= 4);
        drop(peer);
    }
}

#[test]
fn the_writer_finishes_a_direct_write_that_filled_the_socket() {
    let server = server(fast_config());
    let mut peer = RawPeer::connect(server.local_addr(), "/");
    let conn = server.accept_timeout(T).unwrap();
    // Nothing received, nothing queued: the send writes on this thread
    // until the socket buffers are full (the peer is not reading yet) and
    // leaves the rest to the writer thread, which must be woken for it:
    // nothing else will happen on this connection.
    let big: Vec<u8> = (0..16 << 20).map(|i| (i % 251) as u8).collect();
    conn.send(big.clone()).unwrap();
    match peer.next_event(Duration::from_secs(10)) {
        Some(Event::Message(Message::Binary(got))) => assert!(got == big, "payload differs"),
        other => panic!(
            "expected the 16 MiB message, got {:?}",
            other.map(|_| "another event")
        ),
    }
}

#[test]
fn send_timeout_hands_the_message_back_when_no_room_came() {
    let config = fast_config().with_send_queue_capacity(2);
    let server = server(config);
    let peer = RawPeer::connect(server.local_addr(), "/");
    let conn = server.accept_timeout(T).unwrap();
    let chunk: Vec<u8> = (0..256 << 10).map(|i| i as u8).collect();
    // The peer never reads: fill the socket buffers and the queue.
    let deadline = Instant::now() + Duration::from_secs(10);
    let handed_back = loop {
        assert!(Instant::now() < deadline, "the queue never filled");
        match conn.send_timeout(chunk.clone(), Duration::from_millis(50)) {
            Ok(()) => {}
            Err(Error::SendTimeout(m)) => break m,
            Err(e) => panic!("unexpected {e}"),
        }
    };
    assert_eq!(handed_back, Message::Binary(chunk.clone()));
    assert!(matches!(
        conn.send_timeout(chunk, Duration::from_millis(50)),
        Err(Error::SendTimeout(_))
    ));
    assert_eq!(
        conn.unsent_count(),
        0,
        "nothing handed back counts as unsent"
    );
    drop(peer);
}

#[test]
fn dropping_a_conn_without_close_still_closes() {
    let server = server(fast_config());
    let mut peer = RawPeer::connect(server.local_addr(), "/");
    let conn = server.accept_timeout(T).unwrap();
    drop(conn);
    assert_eq!(
        peer.expect_close(T).map(|f| f.code),
        Some(CloseCode::NORMAL)
    );
    peer.send_close(Some(CloseFrame {
        code: CloseCode::NORMAL,
        reason: String::new(),
    }));
    assert!(peer.sees_eof(T));
    assert!(eventually(T, || server.connection_count() == 0));
}

#[test]
fn shutdown_closes_everything_with_1001_and_stops_accepting() {
    let server = server(fast_config());
    let client = connect(&url(&server, "/"), fast_config()).unwrap();
    let held = server.accept_timeout(T).unwrap();
    let unaccepted = connect(&url(&server, "/"), fast_config()).unwrap();
    assert!(eventually(T, || server.connection_count() == 2));
    let started = Instant::now();
    server.shutdown();
    assert!(started.elapsed() < Duration::from_secs(3));
    for c in [&client, &unaccepted] {
        let info = closed_info(c.recv_timeout(T).unwrap_err());
        assert_eq!(
            (info.code, info.initiator, info.clean),
            (CloseCode::GOING_AWAY, CloseInitiator::Peer, true)
        );
    }
    assert!(held.is_closed());
    assert_eq!(server.connection_count(), 0);
    assert!(matches!(
        server.accept_timeout(T),
        Err(Error::ServerShutdown)
    ));
    assert!(connect(&url(&server, "/"), fast_config()).is_err());
    server.shutdown(); // idempotent
}

#[test]
fn shutdown_wakes_a_blocked_accept() {
    let server = Arc::new(server(fast_config()));
    let waiter = {
        let server = Arc::clone(&server);
        std::thread::spawn(move || server.accept())
    };
    std::thread::sleep(Duration::from_millis(50));
    server.shutdown();
    assert!(matches!(waiter.join().unwrap(), Err(Error::ServerShutdown)));
}

#[test]
fn receive_timeouts_and_try_variants() {
    let (_server, conn, client) = pair(fast_config());
    assert!(matches!(
        conn.recv_timeout(Duration::from_millis(20)),
        Err(Error::Timeout)
    ));
    assert_eq!(conn.try_recv().unwrap(), None);
    client.try_send("now").unwrap();
    assert!(eventually(T, || conn.recv_queue_len() == 1));
    assert_eq!(conn.try_recv().unwrap(), Some(Message::Text("now".into())));
}

#[test]
fn pipelined_frames_right_after_the_handshake_are_not_lost() {
    let server = server(fast_config());
    let mut s = std::net::TcpStream::connect(server.local_addr()).unwrap();
    let mut bytes = upgrade_request("/", "").into_bytes();
    bytes.extend_from_slice(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']);
    std::io::Write::write_all(&mut s, &bytes).unwrap();
    let conn = server.accept_timeout(T).unwrap();
    assert_eq!(conn.recv_timeout(T).unwrap(), Message::Text("hi".into()));
}

#[test]
fn a_client_whose_server_answers_close_but_keeps_tcp_is_still_clean() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = std::thread::spawn(move || RawPeer::accept(&listener));
    let client = connect(&format!("ws://{addr}/"), fast_config()).unwrap();
    let mut peer = t.join().unwrap();
    assert!(client.close(1000u16, "bye").unwrap());
    assert_eq!(
        peer.expect_close(T).map(|f| f.code),
        Some(CloseCode::NORMAL)
    );
    peer.send_close(Some(CloseFrame {
        code: CloseCode::NORMAL,
        reason: String::new(),
    }));
    // The server never ends TCP; the client gives up after close_timeout.
    assert!(client.wait_closed(T));
    let info = client.close_info().unwrap();
    assert_eq!(
        (info.code, info.initiator, info.clean),
        (CloseCode::NORMAL, CloseInitiator::Local, true)
    );
    assert!(peer.sees_eof(T));
}

#[test]
fn the_receive_queue_is_bounded_in_bytes_too() {
    let config = fast_config()
        .with_recv_queue_capacity(1000)
        .with_recv_queue_bytes(1 << 20);
    let (_server, conn, client) = pair(config);
    // The application does not read; the peer sends 64 x 256 KiB.
    let sender = std::thread::spawn(move || {
        for _ in 0..64 {
            if client.send(vec![9u8; 256 << 10]).is_err() {
                break;
            }
        }
        client
    });
    std::thread::sleep(Duration::from_millis(500));
    // At most 1 MiB is queued (4 messages), however many are in flight.
    assert!(
        conn.recv_queue_len() <= 4,
        "{} messages queued",
        conn.recv_queue_len()
    );
    // Reading drains it and lets the rest through, in order and complete.
    for _ in 0..64 {
        assert_eq!(conn.recv_timeout(T).unwrap().len(), 256 << 10);
    }
    drop(sender.join().unwrap());
}

#[test]
fn a_message_larger_than_the_socket_buffer_keeps_its_place_in_line() {
    // The first message fills the socket buffer; the ones after it keep
    // their place behind it.
    let (_server, conn, client) = pair(fast_config());
    let big: Vec<u8> = (0..(12usize << 20)).map(|i| (i % 251) as u8).collect();
    conn.send(big.clone()).unwrap();
    for i in 0..200 {
        conn.send(format!("after {i}")).unwrap();
    }
    assert_eq!(client.recv_timeout(T).unwrap(), Message::Binary(big));
    for i in 0..200 {
        assert_eq!(
            client.recv_timeout(T).unwrap(),
            Message::Text(format!("after {i}"))
        );
    }
    // And from several threads at once, each thread's own order holds.
    let conn = Arc::new(conn);
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let conn = Arc::clone(&conn);
            std::thread::spawn(move || {
                for i in 0..500 {
                    conn.send(format!("{t}:{i}")).unwrap();
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let mut next = [0usize; 4];
    for _ in 0..2000 {
        let m = client.recv_timeout(T).unwrap();
        let text = m.as_text().unwrap();
        let (t, i) = text.split_once(':').unwrap();
        let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
        assert_eq!(i, next[t], "thread {t} out of order");
        next[t] += 1;
    }
}

#[test]
fn a_pong_goes_out_before_the_reply_to_the_message_after_its_ping() {
    // Autobahn 5.6: a ping between two fragments is answered before the
    // echo of the message, also when the echo is a broadcast (which is
    // written directly when nothing is queued).
    let server = server(fast_config());
    let mut peer = RawPeer::connect(server.local_addr(), "/");
    let conn = server.accept_timeout(T).unwrap();
    for round in 0..50 {
        peer.send_frame(OpCode::Text, false, b"frag");
        peer.send_frame(OpCode::Ping, true, format!("ping {round}").as_bytes());
        peer.send_frame(OpCode::Continuation, true, b"ment");
        let m = conn.recv_timeout(T).unwrap();
        if round % 2 == 0 {
            conn.send(m).unwrap();
        } else {
            // A broadcast is written directly when the connection is idle.
            let report = server.groups().broadcast(wsengine::Audience::All, m);
            assert_eq!(report.queued, 1);
        }
        assert_eq!(
            peer.next_event(T),
            Some(Event::Pong(format!("ping {round}").into_bytes()))
        );
        assert_eq!(
            peer.next_event(T),
            Some(Event::Message(Message::Text("fragment".into())))
        );
    }
}

/// `shutdown` frees the port while the `Server` value still exists, so a
/// program can bind a new server on the same address right away.
#[test]
fn shutdown_frees_the_port() {
    let server = server(fast_config());
    let addr = server.local_addr();
    server.shutdown();
    let again = wsengine::Server::bind(addr, fast_config()).expect("the port is free again");
    drop(again);
    drop(server);
}
