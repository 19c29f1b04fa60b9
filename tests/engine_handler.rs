//! Handler mode (`Server::serve`): the application's calls on each
//! connection's reader thread, replies written once per burst, in order
//! with everything else sent on the connection.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{RawPeer, eventually, fast_config};
use wsengine::protocol::encoder::{write_close, write_frame};
use wsengine::protocol::{CloseFrame, Event, OpCode};
use wsengine::{CloseCode, CloseInfo, Conn, Error, Handler, Message, Server};

const WAIT: Duration = Duration::from_secs(5);

fn echo(conn: &Arc<Conn>, m: Message) {
    let _ = conn.send(m);
}

fn text(s: &str) -> Event {
    Event::Message(Message::Text(s.into()))
}

/// Masked frames as a client sends them, for one write.
fn burst(frames: &[(OpCode, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (opcode, payload) in frames {
        write_frame(&mut out, *opcode, true, payload, Some([1, 2, 3, 4]));
    }
    out
}

#[test]
fn a_burst_is_answered_in_order_with_the_pong_where_the_ping_was() {
    let server = Server::serve("127.0.0.1:0", fast_config(), echo).unwrap();
    let mut peer = RawPeer::connect(server.local_addr(), "/");
    let names: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    let mut frames: Vec<(OpCode, &[u8])> =
        names.iter().map(|n| (OpCode::Text, n.as_bytes())).collect();
    frames.insert(50, (OpCode::Ping, b"p"));
    peer.send_raw(&burst(&frames));
    for (i, name) in names.iter().enumerate() {
        if i == 50 {
            assert_eq!(peer.next_event(WAIT), Some(Event::Pong(b"p".to_vec())));
        }
        assert_eq!(peer.next_event(WAIT), Some(text(name)), "reply {i}");
    }
    // Large messages too (read straight into their buffers).
    let big: Vec<u8> = (0..3 << 20).map(|i| (i % 253) as u8).collect();
    for _ in 0..3 {
        peer.send_frame(OpCode::Binary, true, &big);
    }
    for _ in 0..3 {
        assert_eq!(
            peer.next_event(WAIT),
            Some(Event::Message(Message::Binary(big.clone())))
        );
    }
}

/// Keeps every connection it opens, records how each closed.
#[derive(Default)]
struct Recorder {
    open: Mutex<Vec<Arc<Conn>>>,
    closed: Mutex<Vec<CloseInfo>>,
}

impl Handler for Recorder {
    fn on_open(&self, conn: &Arc<Conn>) {
        self.open.lock().unwrap().push(Arc::clone(conn));
        let _ = conn.send("hello");
    }

    fn on_message(&self, conn: &Arc<Conn>, message: Message) {
        let Message::Text(text) = message else {
            return;
        };
        match text.as_str() {
            "boom" => panic!("the handler fails on purpose"),
            "bye" => {
                conn.send("last").unwrap();
                conn.close(4000, "done").unwrap();
            }
            // (Fails once a close started: "m2" after "bye".)
            other => {
                let _ = conn.send(format!("r{}", &other[1..]));
            }
        }
    }

    fn on_close(&self, _conn: &Arc<Conn>, info: &CloseInfo) {
        self.closed.lock().unwrap().push(info.clone());
    }
}

#[test]
fn replies_keep_their_order_against_sends_from_another_thread() {
    let (recorder, server) = recording_server();
    let mut peer = RawPeer::connect(server.local_addr(), "/");
    assert_eq!(peer.next_event(WAIT), Some(text("hello")));
    let conn = Arc::clone(&recorder.open.lock().unwrap()[0]);
    const N: usize = 2000;
    let other = std::thread::spawn(move || {
        for j in 0..N {
            conn.send(format!("t{j}")).unwrap();
        }
    });
    let names: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    for chunk in names.chunks(50) {
        let frames: Vec<(OpCode, &[u8])> =
            chunk.iter().map(|n| (OpCode::Text, n.as_bytes())).collect();
        peer.send_raw(&burst(&frames));
    }
    let (mut replies, mut others) = (0, 0);
    while replies + others < 2 * N {
        let Some(Event::Message(Message::Text(t))) = peer.next_event(WAIT) else {
            panic!("missing messages: {replies} replies and {others} sends came");
        };
        let (counter, kind) = if t.starts_with('r') {
            (&mut replies, "reply")
        } else {
            (&mut others, "send")
        };
        assert_eq!(t[1..], counter.to_string(), "{kind} out of order");
        *counter += 1;
    }
    other.join().unwrap();
}

/// A handler-mode server running a [`Recorder`] the test keeps a handle on.
fn recording_server() -> (Arc<Recorder>, Server) {
    let recorder = Arc::new(Recorder::default());
    let handler = SharedRecorder(Arc::clone(&recorder));
    let server = Server::serve("127.0.0.1:0", fast_config(), handler).unwrap();
    (recorder, server)
}

/// `Server::serve` takes the handler by value; tests keep a handle on it.
struct SharedRecorder(Arc<Recorder>);

impl Handler for SharedRecorder {
    fn on_open(&self, conn: &Arc<Conn>) {
        self.0.on_open(conn);
    }
    fn on_message(&self, conn: &Arc<Conn>, message: Message) {
        self.0.on_message(conn, message);
    }
    fn on_close(&self, conn: &Arc<Conn>, info: &CloseInfo) {
        self.0.on_close(conn, info);
    }
}

#[test]
fn a_close_from_inside_the_handler_follows_its_replies() {
    let (recorder, server) = recording_server();
    let mut peer = RawPeer::connect(server.local_addr(), "/");
    assert_eq!(peer.next_event(WAIT), Some(text("hello")));
    peer.send_raw(&burst(&[
        (OpCode::Text, b"m1"),
        (OpCode::Text, b"bye"),
        (OpCode::Text, b"m2"),
    ]));
    assert_eq!(peer.next_event(WAIT), Some(text("r1")));
    assert_eq!(peer.next_event(WAIT), Some(text("last")));
    assert_eq!(
        peer.next_event(WAIT),
        Some(Event::Close(Some(CloseFrame {
            code: CloseCode(4000),
            reason: "done".into()
        })))
    );
    peer.send_close(Some(CloseFrame {
        code: CloseCode(4000),
        reason: String::new(),
    }));
    assert!(peer.sees_eof(WAIT));
    assert!(eventually(WAIT, || !recorder
        .closed
        .lock()
        .unwrap()
        .is_empty()));
    let info = recorder.closed.lock().unwrap()[0].clone();
    assert_eq!(info.code, CloseCode(4000));
    assert!(info.clean, "{info:?}");
}

#[test]
fn the_peers_close_is_answered_after_the_replies_to_what_came_before() {
    let server = Server::serve("127.0.0.1:0", fast_config(), echo).unwrap();
    let mut peer = RawPeer::connect(server.local_addr(), "/");
    let mut bytes = burst(&[(OpCode::Text, b"one"), (OpCode::Text, b"two")]);
    let frame = CloseFrame {
        code: CloseCode::NORMAL,
        reason: String::new(),
    };
    write_close(&mut bytes, Some(&frame), Some([5, 6, 7, 8]));
    peer.send_raw(&bytes);
    assert_eq!(peer.next_event(WAIT), Some(text("one")));
    assert_eq!(peer.next_event(WAIT), Some(text("two")));
    assert_eq!(peer.next_event(WAIT), Some(Event::Close(Some(frame))));
    assert!(peer.sees_eof(WAIT));
}

#[test]
fn a_panicking_handler_closes_only_its_connection_with_1011() {
    let (recorder, server) = recording_server();
    let mut doomed = RawPeer::connect(server.local_addr(), "/");
    let mut fine = RawPeer::connect(server.local_addr(), "/");
    assert_eq!(doomed.next_event(WAIT), Some(text("hello")));
    assert_eq!(fine.next_event(WAIT), Some(text("hello")));
    doomed.send_raw(&burst(&[(OpCode::Text, b"m1"), (OpCode::Text, b"boom")]));
    assert_eq!(doomed.next_event(WAIT), Some(text("r1")));
    let close = doomed
        .expect_close(WAIT)
        .expect("a close frame with a code");
    assert_eq!(close.code, CloseCode::INTERNAL_ERROR);
    // Nothing more is handled on it: a message now gets no reply.
    doomed.send_text("m2");
    doomed.send_close(None);
    assert!(doomed.sees_eof(WAIT));
    assert!(eventually(WAIT, || recorder.closed.lock().unwrap().len() == 1));
    assert_eq!(
        recorder.closed.lock().unwrap()[0].code,
        CloseCode::INTERNAL_ERROR
    );
    // The other connection is served as before.
    for i in 0..10 {
        fine.send_text(&format!("m{i}"));
        assert_eq!(fine.next_event(WAIT), Some(text(&format!("r{i}"))));
    }
    assert_eq!(server.connection_count(), 1);
}

#[test]
fn a_handler_server_has_no_accept_or_poll() {
    let server = Server::serve("127.0.0.1:0", fast_config(), echo).unwrap();
    assert!(matches!(
        server.accept_timeout(Duration::ZERO),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        server.poll(Duration::ZERO),
        Err(Error::InvalidArgument(_))
    ));
    let polled = Server::serve("127.0.0.1:0", fast_config().with_poll_events(true), echo);
    assert!(matches!(polled, Err(Error::InvalidArgument(_))));
}

#[test]
fn shutdown_closes_handler_connections_with_1001_and_reports_them() {
    let (recorder, server) = recording_server();
    let mut peer = RawPeer::connect(server.local_addr(), "/");
    assert_eq!(peer.next_event(WAIT), Some(text("hello")));
    let closer = std::thread::spawn(move || server.shutdown());
    let close = peer.expect_close(WAIT).expect("a close frame");
    assert_eq!(close.code, CloseCode::GOING_AWAY);
    peer.send_close(Some(close));
    closer.join().unwrap();
    let closed = recorder.closed.lock().unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].code, CloseCode::GOING_AWAY);
}
