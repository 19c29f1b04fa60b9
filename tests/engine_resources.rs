//! Process-wide resource checks. One test in its own binary, so that no
//! other test's threads, sockets or memory disturb the counts.

mod support;

use std::time::Duration;

use std::io::Write;
use support::*;

use wsengine::protocol::encoder::write_frame;
use wsengine::protocol::{Event, OpCode};
use wsengine::{Error, Message, OverflowPolicy};

const T: Duration = Duration::from_secs(10);

#[test]
fn threads_fds_and_memory_return_to_baseline() {
    // `bind` starts the listener and the process-wide timer thread, so the
    // baseline is taken right after it. (Measuring after a warm-up
    // connection would race with that connection's threads exiting.)
    let server = server(fast_config());
    let (threads0, fds0) = (thread_count(), fd_count());
    let rss_idle0 = rss_kib();

    // 200 connections opened, then dropped abruptly (TCP closed, no close frame).
    let mut peers = Vec::new();
    let mut conns = Vec::new();
    for _ in 0..200 {
        peers.push(RawPeer::connect(server.local_addr(), "/"));
        conns.push(server.accept_timeout(T).unwrap());
    }
    assert_eq!(server.connection_count(), 200);
    // An idle connection holds no preallocated queue slots, no full-size
    // read buffer, no handshake stack pages and no writer thread (bench/suite
    // measures it: about 23 KiB). With the queues preallocated it was 83 KiB.
    let per_conn = rss_kib().saturating_sub(rss_idle0) / 200;
    assert!(per_conn < 56, "{per_conn} KiB of RSS per idle connection");
    assert_eq!(
        thread_count(),
        threads0 + 200,
        "one thread (the reader) per connection that never had to queue a frame"
    );
    // Messages, pings and pongs sent while nothing is queued are written by
    // the thread that sends them: still no writer thread.
    for (conn, peer) in conns.iter().zip(peers.iter_mut()).take(50) {
        conn.send("hi").unwrap();
        conn.ping(b"app").unwrap();
        peer.send_frame(OpCode::Ping, true, b"peer");
        let events: Vec<_> = (0..3).filter_map(|_| peer.next_event(T)).collect();
        assert_eq!(
            events,
            [
                Event::Message(Message::Text("hi".into())),
                Event::Ping(b"app".to_vec()),
                Event::Pong(b"peer".to_vec()),
            ]
        );
    }
    assert_eq!(thread_count(), threads0 + 200, "no writer thread started");
    drop(peers);
    for c in &conns {
        assert!(c.wait_closed(T));
        assert_eq!(c.close_info().unwrap().code.0, 1006);
    }
    drop(conns);
    assert!(eventually(T, || server.connection_count() == 0));
    assert!(
        eventually(T, || thread_count() == threads0 && fd_count() == fds0),
        "threads {} (baseline {threads0}), fds {} (baseline {fds0})",
        thread_count(),
        fd_count()
    );

    // A thread that took a message while another waited holds the
    // connection's writes (its reply is gathered: see `Conn::recv`). If it
    // then stops receiving and drops its handle, the connection is still
    // freed once it ends: the hold does not keep it (or its socket).
    let mut peer = RawPeer::connect(server.local_addr(), "/");
    let conn = server.accept_timeout(T).unwrap();
    peer.send_text("a");
    peer.send_text("b");
    assert!(eventually(T, || conn.recv_queue_len() == 2));
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let m = conn.recv().unwrap();
        conn.send(m).unwrap();
        drop(conn);
        // Alive, and holding, until the checks below are done.
        let _ = done_rx.recv();
    });
    assert_eq!(
        peer.next_event(T),
        Some(Event::Message(Message::Text("a".into())))
    );
    drop(peer);
    assert!(eventually(T, || server.connection_count() == 0));
    assert!(
        eventually(T, || thread_count() == threads0 + 1 && fd_count() == fds0),
        "threads {} (baseline {threads0} + the holder), fds {} (baseline {fds0})",
        thread_count(),
        fd_count()
    );
    done_tx.send(()).unwrap();
    holder.join().unwrap();

    // A peer that never reads: the send queue bounds memory, whatever the
    // application tries to send.
    let config = fast_config()
        .with_send_queue_capacity(8)
        .with_overflow_policy(OverflowPolicy::Fail);
    let server2 = wsengine::Server::bind("127.0.0.1:0", config).unwrap();
    let _peer = RawPeer::connect(server2.local_addr(), "/");
    let conn = server2.accept_timeout(T).unwrap();
    let rss0 = rss_kib();
    let (mut queued, mut refused) = (0, 0);
    for _ in 0..400 {
        match conn.send(vec![7u8; 1 << 20]) {
            Ok(()) => queued += 1,
            Err(Error::QueueFull(_)) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    let grown_mib = rss_kib().saturating_sub(rss0) / 1024;
    assert!(refused > 300, "queued {queued}, refused {refused}");
    assert!(
        grown_mib < 64,
        "RSS grew by {grown_mib} MiB for {queued} queued 1 MiB messages"
    );

    // A peer that floods pings and never reads the pongs: pongs back up into
    // its socket, the control lane fills, and we stop reading from it.
    let server3 = wsengine::Server::bind("127.0.0.1:0", fast_config()).unwrap();
    let mut flooder = RawPeer::connect(server3.local_addr(), "/");
    let conn3 = server3.accept_timeout(T).unwrap();
    let rss0 = rss_kib();
    let mut frame = Vec::new();
    write_frame(
        &mut frame,
        OpCode::Ping,
        true,
        &[b'p'; 125],
        Some([1, 2, 3, 4]),
    );
    let burst: Vec<u8> = frame
        .iter()
        .copied()
        .cycle()
        .take(frame.len() * 1000)
        .collect();
    flooder
        .stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut sent_kib = 0;
    while sent_kib < (512 << 10) && flooder.stream.write_all(&burst).is_ok() {
        sent_kib += burst.len() >> 10;
    }
    let grown_mib = rss_kib().saturating_sub(rss0) / 1024;
    assert!(
        sent_kib < (512 << 10),
        "the server kept reading a peer that never reads its pongs"
    );
    assert!(
        grown_mib < 32,
        "RSS grew by {grown_mib} MiB under a ping flood"
    );
    assert!(
        conn3.close_info().is_none(),
        "pings alone do not close the connection"
    );
}
