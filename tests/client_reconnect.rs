//! `Client`: reconnection with full jitter after a server restart (200
//! clients), `close` during a wait, closes and refusals that are never
//! retried, `Retry-After`, and what happens to messages sent while
//! disconnected.

mod support;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;
use wsengine::{
    Client, ClientEvent, CloseCode, Config, Error, Message, Proxy, ReconnectPolicy, UpgradeHook,
    Verdict,
};

fn client_config(policy: ReconnectPolicy) -> Config {
    fast_config()
        .with_proxy(Proxy::Direct)
        .with_reconnect(policy)
}

fn url(addr: SocketAddr) -> String {
    format!("ws://127.0.0.1:{}/", addr.port())
}

/// The next event other than a message, within `timeout`.
fn next_notice(client: &Client, timeout: Duration) -> ClientEvent {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.poll(left) {
            Ok(Some(ClientEvent::Message(_))) => continue,
            Ok(Some(event)) => return event,
            Ok(None) => panic!("no event within {timeout:?}"),
            Err(e) => panic!("client ended: {e}"),
        }
    }
}

fn expect_connected(client: &Client) -> bool {
    match next_notice(client, Duration::from_secs(10)) {
        ClientEvent::Connected { reconnected } => reconnected,
        other => panic!("expected Connected, got {other:?}"),
    }
}

#[test]
fn a_server_restart_under_200_clients_spreads_their_return() {
    let (server, listener, _) = echo_server_at("127.0.0.1:0", fast_config());
    let addr = server.local_addr();
    let policy = |seed| {
        ReconnectPolicy::default()
            .with_min_delay(Duration::from_secs(3))
            .with_max_delay(Duration::from_secs(8))
            .with_seed(Some(seed))
    };
    let clients: Vec<Arc<Client>> = (0..200)
        .map(|i| Arc::new(Client::connect(&url(addr), client_config(policy(i))).unwrap()))
        .collect();
    for client in &clients {
        assert!(!expect_connected(client));
    }

    // Restart: every client is told 1001 and waits its own delay.
    server.shutdown();
    drop(server);
    listener.join().unwrap();
    let (server, _listener, accepted) = echo_server_at(&addr.to_string(), fast_config());
    let restarted = Instant::now();

    let delays = Arc::new(Mutex::new(Vec::new()));
    let waiters: Vec<_> = clients
        .iter()
        .map(|client| {
            let (client, delays) = (Arc::clone(client), Arc::clone(&delays));
            std::thread::spawn(move || {
                loop {
                    match next_notice(&client, Duration::from_secs(30)) {
                        ClientEvent::Reconnecting { attempt, delay, .. } => {
                            let window = client_window(attempt);
                            assert!(
                                delay <= window,
                                "attempt {attempt}: {delay:?} over {window:?}"
                            );
                            delays.lock().unwrap().push(delay);
                        }
                        ClientEvent::Connected { reconnected } => {
                            assert!(reconnected);
                            client.send("back").unwrap();
                            return;
                        }
                        other => panic!("{other:?}"),
                    }
                }
            })
        })
        .collect();
    for w in waiters {
        w.join().unwrap();
    }
    fn client_window(attempt: u32) -> Duration {
        ReconnectPolicy::default()
            .with_min_delay(Duration::from_secs(3))
            .with_max_delay(Duration::from_secs(8))
            .window(attempt)
    }
    // The server's accept loop takes each one a moment after its client
    // saw the 101.
    assert!(
        eventually(Duration::from_secs(5), || accepted.lock().unwrap().len()
            == 200),
        "every client came back: {} of 200",
        accepted.lock().unwrap().len()
    );
    let times = accepted.lock().unwrap().clone();
    // No 100 ms window holds more than 10% of them.
    let mut offsets: Vec<u128> = times
        .iter()
        .map(|t| t.saturating_duration_since(restarted).as_millis())
        .collect();
    offsets.sort_unstable();
    let busiest = offsets
        .iter()
        .map(|&start| {
            offsets
                .iter()
                .filter(|&&t| t >= start && t < start + 100)
                .count()
        })
        .max()
        .unwrap();
    eprintln!("busiest 100 ms window: {busiest} of 200 reconnects");
    assert!(
        busiest <= 20,
        "{busiest} reconnects within one 100 ms window: {offsets:?}"
    );
    assert!(delays.lock().unwrap().len() >= 200);
    drop(clients);
    server.shutdown();
}

#[test]
fn close_during_the_wait_returns_at_once_and_nothing_connects_after() {
    // Nobody listens: the first attempt is refused, the client waits.
    let spot = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = spot.local_addr().unwrap();
    drop(spot);
    let policy = ReconnectPolicy::default()
        .with_min_delay(Duration::from_millis(300))
        .with_max_delay(Duration::from_millis(300))
        .with_factor(1.0);
    let client = Client::connect(&url(addr), client_config(policy)).unwrap();
    match next_notice(&client, Duration::from_secs(5)) {
        ClientEvent::Reconnecting {
            attempt: 1, cause, ..
        } => {
            assert!(cause.contains(&addr.to_string()), "{cause}")
        }
        other => panic!("{other:?}"),
    }
    let started = Instant::now();
    assert!(client.close(CloseCode::NORMAL, "bye").unwrap());
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "{:?}",
        started.elapsed()
    );
    match next_notice(&client, Duration::from_secs(2)) {
        ClientEvent::Closed { cause, .. } => assert!(cause.contains("application"), "{cause}"),
        other => panic!("{other:?}"),
    }
    // Now something listens there: no attempt comes for twice the maximum delay.
    let listener = TcpListener::bind(addr).unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert!(listener.accept().is_err(), "a connection came after close");
    assert!(matches!(
        client.send("late"),
        Err(Error::ConnectionClosed(_))
    ));
}

#[test]
fn a_policy_violation_close_or_a_401_is_never_retried() {
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&hits);
    let hook = UpgradeHook::new(move |req| {
        seen.fetch_add(1, Ordering::SeqCst);
        if req.query_param("key") == Some("ok") {
            Verdict::accept()
        } else {
            Verdict::refuse(401, "key required")
        }
    });
    let server = Arc::new(server(fast_config().with_upgrade_hook(Some(hook))));
    let s = Arc::clone(&server);
    std::thread::spawn(move || {
        while let Ok(conn) = s.accept() {
            let _ = conn.close(CloseCode::POLICY_VIOLATION, "go away");
        }
    });
    let policy = ReconnectPolicy::default().with_min_delay(Duration::from_millis(50));
    let base = format!("ws://127.0.0.1:{}/", server.local_addr().port());

    let client = Client::connect(&format!("{base}?key=ok"), client_config(policy.clone())).unwrap();
    assert!(!expect_connected(&client));
    match next_notice(&client, Duration::from_secs(5)) {
        ClientEvent::Closed {
            close: Some(info), ..
        } => assert_eq!(info.code, CloseCode::POLICY_VIOLATION),
        other => panic!("{other:?}"),
    }
    let client = Client::connect(&base, client_config(policy)).unwrap();
    match next_notice(&client, Duration::from_secs(5)) {
        ClientEvent::Closed {
            cause, close: None, ..
        } => assert!(cause.contains("401"), "{cause}"),
        other => panic!("{other:?}"),
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(hits.load(Ordering::SeqCst), 2, "one attempt each, no retry");
}

#[test]
fn a_503_with_retry_after_2_waits_at_least_2_s() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&attempts);
    let hook = UpgradeHook::new(move |_| {
        let mut seen = seen.lock().unwrap();
        seen.push(Instant::now());
        if seen.len() == 1 {
            Verdict::refuse(503, "busy").with_header("Retry-After", "2")
        } else {
            Verdict::accept()
        }
    });
    let (server, _h, _) =
        echo_server_at("127.0.0.1:0", fast_config().with_upgrade_hook(Some(hook)));
    let policy = ReconnectPolicy::default().with_min_delay(Duration::from_millis(10));
    let client = Client::connect(&url(server.local_addr()), client_config(policy)).unwrap();
    match next_notice(&client, Duration::from_secs(5)) {
        ClientEvent::Reconnecting { delay, cause, .. } => {
            assert!(delay >= Duration::from_secs(2), "{delay:?}");
            assert!(cause.contains("503"), "{cause}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !expect_connected(&client),
        "the first connection that opened"
    );
    let times = attempts.lock().unwrap().clone();
    assert!(
        times[1] - times[0] >= Duration::from_secs(2),
        "{:?}",
        times[1] - times[0]
    );
}

#[test]
fn sends_while_disconnected_fail_with_the_message_or_wait_in_the_replay_buffer() {
    let (server, handle, _) = echo_server_at("127.0.0.1:0", fast_config());
    let addr = server.local_addr();
    let fast = ReconnectPolicy::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_millis(200))
        .with_seed(Some(1));
    let plain = Client::connect(&url(addr), client_config(fast.clone())).unwrap();
    let buffered = Client::connect(
        &url(addr),
        client_config(fast.with_replay_messages(3).with_replay_bytes(1024)),
    )
    .unwrap();
    assert!(!expect_connected(&plain));
    assert!(!expect_connected(&buffered));

    server.shutdown();
    drop(server);
    handle.join().unwrap();
    for client in [&plain, &buffered] {
        assert!(matches!(
            next_notice(client, Duration::from_secs(5)),
            ClientEvent::Reconnecting { .. }
        ));
    }
    match plain.send("lost?") {
        Err(Error::NotConnected(m)) => assert_eq!(m, Message::Text("lost?".into())),
        other => panic!("{other:?}"),
    }
    for i in 0..3 {
        buffered.send(format!("kept {i}")).unwrap();
    }
    assert!(matches!(
        buffered.send("one too many"),
        Err(Error::NotConnected(_))
    ));

    // The server comes back on the same port; the buffer goes first, in order.
    let (server, _h, _) = echo_server_at(&addr.to_string(), fast_config());
    loop {
        match next_notice(&buffered, Duration::from_secs(10)) {
            ClientEvent::Connected { reconnected } => {
                assert!(reconnected);
                break;
            }
            ClientEvent::Reconnecting { .. } => continue,
            other => panic!("{other:?}"),
        }
    }
    buffered.send("after").unwrap();
    let mut got = Vec::new();
    while got.len() < 4 {
        match buffered.poll(Duration::from_secs(5)).unwrap() {
            Some(ClientEvent::Message(Message::Text(t))) => got.push(t),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, ["kept 0", "kept 1", "kept 2", "after"]);

    // Closed while disconnected, the buffer's messages are handed back.
    server.shutdown();
    assert!(matches!(
        next_notice(&buffered, Duration::from_secs(5)),
        ClientEvent::Reconnecting { .. }
    ));
    buffered.send("never sent").unwrap();
    buffered.close(CloseCode::NORMAL, "").unwrap();
    match next_notice(&buffered, Duration::from_secs(5)) {
        ClientEvent::Closed { unsent, .. } => {
            assert_eq!(unsent, [Message::Text("never sent".into())])
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn what_the_application_has_not_read_stays_bounded_in_bytes() {
    let (server, _h, _) = echo_server_at("127.0.0.1:0", fast_config());
    let policy = ReconnectPolicy::default().with_min_delay(Duration::from_millis(50));
    let config = client_config(policy)
        .with_recv_queue_capacity(1000)
        .with_recv_queue_bytes(64 << 10);
    let client = Client::connect(&url(server.local_addr()), config).unwrap();
    assert!(!expect_connected(&client));
    // 50 echoes of 16 KiB that nobody polls for: past the 64 KiB of the
    // connection's receive queue (and the one message the client's thread
    // holds) they wait in the server's send queue, not in the client.
    for i in 0..50u8 {
        client.send(Message::Binary(vec![i; 16 << 10])).unwrap();
    }
    let conn = client.connection().unwrap();
    assert!(
        eventually(Duration::from_secs(5), || conn.recv_queue_len() == 4),
        "receive queue holds {} messages",
        conn.recv_queue_len()
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(conn.recv_queue_len(), 4, "nothing more was taken off it");
    for i in 0..50u8 {
        match client.poll(Duration::from_secs(5)).unwrap() {
            Some(ClientEvent::Message(Message::Binary(b))) => assert_eq!(b, vec![i; 16 << 10]),
            other => panic!("{other:?}"),
        }
    }
}
