//! Poll mode: one event FIFO for all of a server's connections.

mod support;

use std::time::{Duration, Instant};

use support::*;
use wsengine::protocol::{CloseCode, CloseFrame, Event};
use wsengine::{CloseInitiator, Error, Message, Server, ServerEvent, connect};

const T: Duration = Duration::from_secs(5);

fn poll_server() -> Server {
    server(fast_config().with_poll_events(true))
}

/// Poll until an event arrives (or panic after `T`).
fn next(server: &Server) -> ServerEvent {
    server
        .poll(T)
        .unwrap()
        .expect("an event within the timeout")
}

#[test]
fn open_message_and_closed_arrive_in_order_and_replies_work() {
    let server = poll_server();
    let client = connect(
        &format!("ws://{}/game?id=7", server.local_addr()),
        fast_config(),
    )
    .unwrap();
    let conn = match next(&server) {
        ServerEvent::Open(c) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!(conn.request().query.as_deref(), Some("id=7"));
    client.send("move left").unwrap();
    match next(&server) {
        ServerEvent::Message(c, m) => {
            assert!(std::sync::Arc::ptr_eq(&c, &conn));
            assert_eq!(m, Message::Text("move left".into()));
            c.send(format!("ack {}", m.as_text().unwrap())).unwrap();
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        client.recv_timeout(T).unwrap(),
        Message::Text("ack move left".into())
    );
    client.close(1000u16, "bye").unwrap();
    match next(&server) {
        ServerEvent::Closed(c, info) => {
            assert!(std::sync::Arc::ptr_eq(&c, &conn));
            assert_eq!(
                (info.code, info.reason.as_str(), info.initiator, info.clean),
                (CloseCode::NORMAL, "bye", CloseInitiator::Peer, true)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(client.wait_closed(T));
    assert!(server.poll(Duration::ZERO).unwrap().is_none());
}

#[test]
fn a_frame_of_replies_goes_out_before_the_answer_to_a_close() {
    let server = poll_server();
    let mut peer = RawPeer::connect(server.local_addr(), "/");
    assert!(matches!(next(&server), ServerEvent::Open(_)));
    for i in 0..3 {
        peer.send_text(&format!("m{i}"));
    }
    peer.send_close(Some(CloseFrame {
        code: CloseCode(4000),
        reason: String::new(),
    }));
    std::thread::sleep(Duration::from_millis(100));
    // One "frame" of a game loop: drain everything, then answer.
    let mut drained = Vec::new();
    while let Some(ev) = server.poll(Duration::ZERO).unwrap() {
        drained.push(ev);
    }
    let replies: Vec<_> = drained
        .iter()
        .filter_map(|ev| match ev {
            ServerEvent::Message(c, m) => Some((c.clone(), m.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), 3);
    for (c, m) in replies {
        c.send(m).unwrap();
    }
    // The next frame's poll releases the close answer, after the replies.
    let closed = loop {
        match next(&server) {
            ServerEvent::Closed(_, info) => break info,
            _ => continue,
        }
    };
    assert_eq!(
        (closed.code, closed.initiator),
        (CloseCode(4000), CloseInitiator::Peer)
    );
    for i in 0..3 {
        assert_eq!(
            peer.next_event(T),
            Some(Event::Message(Message::Text(format!("m{i}"))))
        );
    }
    assert_eq!(peer.expect_close(T).map(|f| f.code), Some(CloseCode(4000)));
    assert!(peer.sees_eof(T));
}

#[test]
fn pull_calls_are_refused_in_poll_mode_and_poll_in_pull_mode() {
    let server = poll_server();
    assert!(matches!(
        server.accept_timeout(Duration::from_millis(10)),
        Err(Error::InvalidArgument(_))
    ));
    let _client = connect(&format!("ws://{}/", server.local_addr()), fast_config()).unwrap();
    let conn = next(&server).conn().expect("a connection event").clone();
    assert!(matches!(
        conn.recv_timeout(Duration::from_millis(10)),
        Err(Error::InvalidArgument(_))
    ));
    let pull = support::server(fast_config());
    assert!(matches!(
        pull.poll(Duration::ZERO),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn dropping_event_handles_does_not_close_the_connection() {
    let server = poll_server();
    let client = connect(&format!("ws://{}/", server.local_addr()), fast_config()).unwrap();
    drop(next(&server)); // the Open event and its handle
    std::thread::sleep(Duration::from_millis(100));
    client.send("still open").unwrap();
    match next(&server) {
        ServerEvent::Message(_, m) => assert_eq!(m, Message::Text("still open".into())),
        other => panic!("{other:?}"),
    }
    assert!(client.close_info().is_none());
}

#[test]
fn a_full_event_queue_stops_reading_until_poll_catches_up() {
    let server = server(
        fast_config()
            .with_poll_events(true)
            .with_event_queue_capacity(4),
    );
    let client = connect(&format!("ws://{}/", server.local_addr()), fast_config()).unwrap();
    assert!(matches!(next(&server), ServerEvent::Open(_)));
    for i in 0..50 {
        client.send(i.to_string()).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    for i in 0..50 {
        match next(&server) {
            ServerEvent::Message(_, m) => assert_eq!(m, Message::Text(i.to_string())),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn many_connections_feed_one_poller_and_shutdown_ends_polling() {
    let server = poll_server();
    let clients: Vec<_> = (0..20)
        .map(|_| connect(&format!("ws://{}/", server.local_addr()), fast_config()).unwrap())
        .collect();
    for (i, c) in clients.iter().enumerate() {
        c.send(format!("hello from {i}")).unwrap();
    }
    let (mut opens, mut messages) = (0, 0);
    let deadline = Instant::now() + T;
    while (opens, messages) != (20, 20) && Instant::now() < deadline {
        match server.poll(Duration::from_millis(100)).unwrap() {
            Some(ServerEvent::Open(_)) => opens += 1,
            Some(ServerEvent::Message(..)) => messages += 1,
            Some(other) => panic!("{other:?}"),
            None => {}
        }
    }
    assert_eq!((opens, messages), (20, 20));
    server.shutdown();
    let mut closed = 0;
    loop {
        match server.poll(Duration::ZERO) {
            Ok(Some(ServerEvent::Closed(_, info))) => {
                assert_eq!(info.code, CloseCode::GOING_AWAY);
                closed += 1;
            }
            Ok(other) => panic!("{other:?}"),
            Err(Error::ServerShutdown) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(closed, 20);
    drop(clients);
}

#[test]
fn a_blocked_poll_wakes_on_shutdown() {
    let server = std::sync::Arc::new(poll_server());
    let poller = {
        let server = std::sync::Arc::clone(&server);
        std::thread::spawn(move || server.poll(Duration::MAX))
    };
    std::thread::sleep(Duration::from_millis(50));
    server.shutdown();
    assert!(matches!(poller.join().unwrap(), Err(Error::ServerShutdown)));
}

#[test]
fn a_blocking_poller_replies_before_the_close_answer_and_answers_promptly() {
    let server = std::sync::Arc::new(poll_server());
    let echo = {
        let server = std::sync::Arc::clone(&server);
        std::thread::spawn(move || {
            while let Ok(Some(ev)) = server.poll(Duration::from_secs(3)) {
                match ev {
                    ServerEvent::Message(c, m) => {
                        std::thread::sleep(Duration::from_millis(20)); // some work
                        c.send(m).unwrap();
                    }
                    ServerEvent::Closed(..) => return,
                    _ => {}
                }
            }
        })
    };
    let mut peer = RawPeer::connect(server.local_addr(), "/");
    for i in 0..3 {
        peer.send_text(&format!("m{i}"));
    }
    peer.send_close(Some(CloseFrame {
        code: CloseCode::NORMAL,
        reason: String::new(),
    }));
    for i in 0..3 {
        assert_eq!(
            peer.next_event(T),
            Some(Event::Message(Message::Text(format!("m{i}"))))
        );
    }
    assert_eq!(
        peer.expect_close(T).map(|f| f.code),
        Some(CloseCode::NORMAL)
    );
    echo.join().unwrap();

    // All messages handled, the poller waiting: a close is answered at once,
    // not after the one-second grace.
    let mut peer = RawPeer::connect(server.local_addr(), "/");
    let waiter = {
        let server = std::sync::Arc::clone(&server);
        std::thread::spawn(move || {
            loop {
                if let Ok(Some(ServerEvent::Closed(..))) | Err(_) =
                    server.poll(Duration::from_secs(3))
                {
                    return;
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    peer.send_close(Some(CloseFrame {
        code: CloseCode(4002),
        reason: String::new(),
    }));
    assert_eq!(peer.expect_close(T).map(|f| f.code), Some(CloseCode(4002)));
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    waiter.join().unwrap();
}

/// Replies sent while more events wait are gathered into one write per
/// run of a connection's events (`Shared::hold_writes`): they keep their
/// order against sends from another thread, and a poll thread that stops
/// polling with replies gathered does not keep them: the timer writes
/// them out within `HOLD_MAX` (1 ms).
#[test]
fn gathered_replies_keep_their_order_and_go_out_when_the_loop_stops_polling() {
    let server = poll_server();
    let client = connect(&format!("ws://{}/", server.local_addr()), fast_config()).unwrap();
    let conn = match next(&server) {
        ServerEvent::Open(c) => c,
        other => panic!("{other:?}"),
    };
    const N: usize = 2000;
    let client = std::sync::Arc::new(client);
    // (Poll mode's sends fail on a full queue: these wait instead, and the
    // client reads as they come.)
    let other = {
        let conn = std::sync::Arc::clone(&conn);
        std::thread::spawn(move || {
            for j in 0..N {
                conn.send_timeout(format!("t{j}"), T).unwrap();
            }
        })
    };
    let reader = read_two_series(std::sync::Arc::clone(&client), N);
    for i in 0..N {
        client.send(format!("m{i}")).unwrap();
    }
    let mut answered = 0;
    while answered < N {
        if let ServerEvent::Message(c, m) = next(&server) {
            c.send_timeout(format!("r{}", &m.as_text().unwrap()[1..]), T)
                .unwrap();
            answered += 1;
        }
    }
    other.join().unwrap();
    reader.join().unwrap();

    // Two messages waiting: the reply to the first is gathered (another
    // event waits), then the loop stops polling for a second.
    client.send("a").unwrap();
    client.send("b").unwrap();
    assert!(eventually(T, || conn.recv_queue_len() == 0 && {
        std::thread::sleep(Duration::from_millis(100));
        true
    }));
    match next(&server) {
        ServerEvent::Message(c, m) => c.send(m).unwrap(),
        other => panic!("{other:?}"),
    }
    let sent = Instant::now();
    let echoed = client.recv_timeout(T).unwrap();
    let waited = sent.elapsed();
    assert_eq!(echoed, Message::Text("a".into()));
    assert!(
        waited < Duration::from_millis(500),
        "the gathered reply waited {waited:?} for the next poll"
    );
    match next(&server) {
        ServerEvent::Message(c, m) => c.send(m).unwrap(),
        other => panic!("{other:?}"),
    }
    assert_eq!(client.recv_timeout(T).unwrap(), Message::Text("b".into()));
}
