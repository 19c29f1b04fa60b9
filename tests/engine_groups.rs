//! Broadcast groups over loopback: membership, cleanup on close, audiences,
//! slow subscribers under each overflow policy, compressed recipients.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::*;
use wsengine::protocol::CloseCode;
use wsengine::{
    Audience, Config, Conn, DeflateConfig, Error, Message, OverflowPolicy, Server, connect,
};

const T: Duration = Duration::from_secs(5);

/// `n` clients of `server` and the server's side of each, in order.
fn clients(server: &Server, config: &Config, n: usize) -> Vec<(Conn, Conn)> {
    let url = format!("ws://{}/room", server.local_addr());
    (0..n)
        .map(|_| {
            let client = connect(&url, config.clone()).unwrap();
            let conn = server.accept_timeout(T).unwrap();
            (conn, client)
        })
        .collect()
}

fn text(conn: &Conn) -> String {
    match conn.recv_timeout(T).unwrap() {
        Message::Text(t) => t,
        m => panic!("expected text, got {m:?}"),
    }
}

fn nothing_for(conn: &Conn, wait: Duration) {
    match conn.recv_timeout(wait) {
        Err(Error::Timeout) => {}
        other => panic!("expected nothing, got {other:?}"),
    }
}

/// Wait until `f` holds (membership changes on teardown, which is asynchronous).
fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + T;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn join_leave_and_close_cleanup() {
    let server = server(fast_config());
    let groups = server.groups();
    let pairs = clients(&server, &fast_config(), 3);
    let (a, b, c) = (&pairs[0].0, &pairs[1].0, &pairs[2].0);
    groups.join(a, "red").unwrap();
    groups.join(a, "red").unwrap(); // twice is once
    groups.join(a, "blue").unwrap();
    groups.join(b, "red").unwrap();
    assert_eq!(groups.member_count("red"), 2);
    assert_eq!(groups.groups_of(a), ["red", "blue"]);
    assert!(groups.groups_of(c).is_empty());
    assert!(groups.leave(b, "red"));
    assert!(!groups.leave(b, "red"));
    assert_eq!(groups.member_count("red"), 1);
    // The handle from a connection is the same registry.
    let via_conn = c.groups().expect("a server connection has groups");
    via_conn.join(c, "blue").unwrap();
    assert_eq!(groups.member_count("blue"), 2);
    // Bad names and foreign connections are refused.
    assert!(matches!(groups.join(a, ""), Err(Error::InvalidArgument(_))));
    let long = "x".repeat(wsengine::engine::MAX_GROUP_NAME + 1);
    assert!(matches!(
        groups.join(a, &long),
        Err(Error::InvalidArgument(_))
    ));
    assert!(
        pairs[0].1.groups().is_none(),
        "client connections have no groups"
    );
    assert!(matches!(
        groups.join(&pairs[0].1, "red"),
        Err(Error::InvalidArgument(_))
    ));

    // A connection that closes leaves every group; empty groups go away.
    pairs[0].1.close(1000, "bye").unwrap();
    assert!(a.wait_closed(T));
    eventually("a left red and blue", || groups.member_count("red") == 0);
    assert_eq!(groups.member_count("blue"), 1);
    let mut names = groups.names();
    names.sort();
    assert_eq!(names, ["blue"]);
    assert!(matches!(
        groups.join(a, "red"),
        Err(Error::ConnectionClosed(_))
    ));
    assert_eq!(groups.leave_all(c), 1);
    assert!(groups.names().is_empty());
}

#[test]
fn audiences_group_all_and_all_but_the_sender() {
    let server = server(fast_config());
    let groups = server.groups().clone();
    let pairs = clients(&server, &fast_config(), 3);
    let (a, b) = (&pairs[0].0, &pairs[1].0);
    let client = |i: usize| &pairs[i].1;
    groups.join(a, "room").unwrap();
    groups.join(b, "room").unwrap();

    let r = groups.broadcast(Audience::Group("room"), "to the room");
    assert_eq!((r.queued, r.recipients()), (2, 2));
    assert_eq!(text(client(0)), "to the room");
    assert_eq!(text(client(1)), "to the room");

    let r = groups.broadcast(Audience::GroupExcept("room", a), "from a");
    assert_eq!(r.queued, 1);
    assert_eq!(text(client(1)), "from a");

    let r = groups.broadcast(Audience::AllExcept(b), Message::Binary(vec![7; 100_000]));
    assert_eq!(r.queued, 2);
    for i in [0, 2] {
        assert_eq!(
            client(i).recv_timeout(T).unwrap(),
            Message::Binary(vec![7; 100_000])
        );
    }

    let r = groups.broadcast(Audience::All, "everyone");
    assert_eq!(r.queued, 3);
    for i in 0..3 {
        assert_eq!(text(client(i)), "everyone");
    }
    // Nothing else arrived anywhere (the exceptions held).
    for i in 0..3 {
        nothing_for(client(i), Duration::from_millis(50));
    }
    // Broadcasts (written directly when the connection is idle) and a
    // connection's own sends (through its writer thread) keep their order.
    for n in 0..100 {
        groups.broadcast(Audience::Group("room"), format!("b{n}"));
        a.send(format!("own{n}")).unwrap();
    }
    for n in 0..100 {
        assert_eq!(text(client(0)), format!("b{n}"));
        assert_eq!(text(client(0)), format!("own{n}"));
        assert_eq!(text(client(1)), format!("b{n}"));
    }
}

/// A subscriber that completed the handshake and then never reads.
fn stalled_subscriber(server: &Server) -> (TcpStream, Conn) {
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.write_all(upgrade_request("/room", "").as_bytes())
        .unwrap();
    let conn = server.accept_timeout(T).unwrap();
    (s, conn)
}

/// Broadcast 1 MiB messages until the stalled subscriber's socket buffers
/// and its send queue (4) are full; the reading subscriber gets every one.
fn slow_subscriber_case(
    policy: OverflowPolicy,
) -> (Vec<wsengine::BroadcastReport>, Conn, (Server, TcpStream)) {
    let config = fast_config()
        .with_send_queue_capacity(4)
        .with_overflow_policy(policy);
    let server = server(config.clone());
    let groups = server.groups().clone();
    // (Without compression: compressing 48 MiB in a debug build is slow.)
    let plain = fast_config().with_deflate(DeflateConfig::disabled());
    let pairs = clients(&server, &plain, 1);
    let (stalled_socket, stalled) = stalled_subscriber(&server);
    let (fast_conn, fast_client) = pairs.into_iter().next().unwrap();
    let payload = vec![1u8; 1 << 20];
    let rounds = 48;
    let fast = std::thread::spawn(move || {
        for i in 0..rounds {
            let m = fast_client
                .recv_timeout(T)
                .unwrap_or_else(|e| panic!("fast subscriber, message {i}: {e:?}"));
            assert_eq!(m.len(), 1 << 20);
        }
        fast_client
    });
    let mut reports = Vec::new();
    for _ in 0..rounds {
        reports.push(groups.broadcast(Audience::All, payload.clone()));
        // Publish at the pace of the fast subscriber, so only the stalled
        // one's queue can fill.
        eventually("the fast subscriber's queue drains", || {
            fast_conn.send_queue_len() == 0
        });
    }
    let fast_client = fast.join().unwrap();
    nothing_for(&fast_client, Duration::from_millis(50));
    (reports, stalled, (server, stalled_socket))
}

#[test]
fn a_stalled_subscriber_under_fail_misses_messages_others_get_all() {
    let (reports, stalled, _keep) = slow_subscriber_case(OverflowPolicy::Fail);
    let dropped: usize = reports.iter().map(|r| r.dropped).sum();
    assert!(dropped > 0, "the stalled queue never filled: {reports:?}");
    assert!(
        reports
            .iter()
            .all(|r| r.recipients() == 2 && r.disconnected == 0)
    );
    assert!(
        !stalled.is_closed(),
        "Fail keeps the slow subscriber connected: {:?}",
        stalled.close_info()
    );
}

#[test]
fn a_stalled_subscriber_under_disconnect_is_closed_with_1008() {
    let (reports, stalled, _keep) = slow_subscriber_case(OverflowPolicy::Disconnect);
    let disconnected: usize = reports.iter().map(|r| r.disconnected).sum();
    assert_eq!(disconnected, 1, "{reports:?}");
    assert!(
        reports.iter().any(|r| r.closed == 1),
        "later rounds skip it"
    );
    let info = stalled.close_info().unwrap();
    assert_eq!(info.code, CloseCode::POLICY_VIOLATION);
}

#[test]
fn a_stalled_subscriber_under_block_delays_only_the_publisher() {
    let (reports, stalled, _keep) =
        slow_subscriber_case(OverflowPolicy::Block(Duration::from_millis(20)));
    let dropped: usize = reports.iter().map(|r| r.dropped).sum();
    assert!(dropped > 0, "{reports:?}");
    assert!(reports.iter().all(|r| r.disconnected == 0));
    assert!(!stalled.is_closed());
}

#[test]
fn compressed_and_plain_recipients_get_the_same_broadcast() {
    let server = server(fast_config());
    let groups = server.groups().clone();
    let plain = clients(
        &server,
        &fast_config().with_deflate(DeflateConfig::disabled()),
        1,
    );
    let deflated = clients(&server, &fast_config(), 1);
    assert!(plain[0].0.compression().is_none());
    assert!(deflated[0].0.compression().is_some());
    let json = r#"{"user":"ana","text":"hello hello hello hello hello hello hello hello"}"#;
    for _ in 0..20 {
        let r = groups.broadcast(Audience::All, json);
        assert_eq!(r.queued, 2);
    }
    for c in [&plain[0].1, &deflated[0].1] {
        for _ in 0..20 {
            assert_eq!(text(c), json);
        }
    }
}

/// Finding 11 of issue 14: a broadcast compressed its frame for each
/// compressing recipient while holding the registry's lock, so a join (or
/// a leave, or a teardown) waited for every recipient's compression.
#[test]
fn joins_do_not_wait_behind_a_broadcast_that_compresses() {
    let config = fast_config();
    let server = server(config.clone());
    let groups = server.groups().clone();
    let pairs = clients(&server, &config, 3);
    assert!(pairs[0].0.compression().is_some(), "compression agreed");
    for (conn, _) in &pairs[..2] {
        groups.join(conn, "room").unwrap();
    }
    // Text that deflate works hard on: pseudo-random letters.
    let mut seed = 0x2545_f491_u32;
    let big: String = (0..2 << 20)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            char::from(b'a' + (seed % 26) as u8)
        })
        .collect();
    let broadcaster = {
        let groups = groups.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let report = groups.broadcast(Audience::Group("room"), big);
            (started.elapsed(), report.queued)
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    let started = Instant::now();
    groups.join(&pairs[2].0, "lobby").unwrap();
    let join_took = started.elapsed();
    let (broadcast_took, queued) = broadcaster.join().unwrap();
    assert_eq!(queued, 2);
    assert!(
        join_took * 4 < broadcast_took,
        "the join waited {join_took:?} behind a broadcast of {broadcast_took:?}"
    );
    for (_, client) in &pairs[..2] {
        assert_eq!(text(client).len(), 2 << 20);
    }
}
