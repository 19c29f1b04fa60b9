//! TLS: wss:// clients and servers, trust and client certificates, the
//! failures each check reports, reload, and the ports' behaviour towards a
//! peer speaking the other protocol. Certificates are made here (rcgen).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject;
use support::pki::{Ca, Leaf, Validity};
use support::*;
use wsengine::tls::{ClientCertificates, ClientTls, ServerTls, TlsErrorKind};
use wsengine::{CloseCode, Error, Message, Server};

fn server_tls(leaf: &Leaf) -> ServerTls {
    ServerTls::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes()).expect("server tls")
}

/// A TLS echo server on loopback (see `support::echo_server`).
fn tls_echo_server(tls: ServerTls) -> (Arc<Server>, JoinHandle<()>) {
    echo_server(fast_config().with_server_tls(Some(tls)))
}

fn trusting(ca: &Ca) -> ClientTls {
    ClientTls::default()
        .with_only_ca_pem(ca.pem.as_bytes())
        .expect("client tls")
}

fn wss(addr: SocketAddr, host: &str) -> String {
    format!("wss://{host}:{}/echo", addr.port())
}

fn connect_with(addr: SocketAddr, host: &str, tls: ClientTls) -> wsengine::Result<wsengine::Conn> {
    wsengine::connect(&wss(addr, host), fast_config().with_client_tls(tls))
}

fn tls_kind(r: wsengine::Result<wsengine::Conn>) -> TlsErrorKind {
    match r {
        Err(Error::Tls(e)) => e.kind,
        Err(e) => panic!("expected a TLS error, got {e:?}"),
        Ok(_) => panic!("expected a TLS error, connected"),
    }
}

#[test]
fn echoes_small_large_and_compressed_messages_over_wss_and_closes_cleanly() {
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost", "127.0.0.1"], Validity::Now);
    let (server, _h) = tls_echo_server(server_tls(&leaf));
    let addr = server.local_addr();
    for host in ["localhost", "127.0.0.1"] {
        let conn = connect_with(addr, host, trusting(&ca)).expect("connect");
        assert_eq!(conn.request().peer_certificates[0], leaf.der);
        assert!(conn.request().compression.is_some(), "deflate agreed");
        let big: Vec<u8> = (0..(3 << 20) + 7).map(|i| (i * 7 % 251) as u8).collect();
        let text = "héllo ".repeat(5000);
        for m in [
            Message::Text("hi".into()),
            Message::Binary(big.clone()),
            Message::Text(text.clone()),
            Message::Binary(Vec::new()),
        ] {
            conn.send(m.clone()).unwrap();
            assert!(conn.recv().unwrap() == m, "echo differs");
        }
        conn.close(CloseCode::NORMAL, "bye").unwrap();
        assert!(conn.wait_closed(Duration::from_secs(5)), "torn down");
        let info = conn.close_info().expect("closed");
        assert_eq!(info.code, CloseCode::NORMAL);
        assert!(info.clean, "close handshake completed: {info:?}");
    }
}

#[test]
fn many_messages_in_flight_both_ways_at_once() {
    // A sender thread floods while the receiving thread reads the echoes:
    // the reader's decryption and the writers' encryption share the session.
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost"], Validity::Now);
    let (server, _h) = tls_echo_server(server_tls(&leaf));
    let conn = Arc::new(connect_with(server.local_addr(), "localhost", trusting(&ca)).unwrap());
    const N: usize = 3000;
    let sender = {
        let conn = Arc::clone(&conn);
        std::thread::spawn(move || {
            for i in 0..N {
                let size = [10, 300, 5000, 70_000][i % 4];
                let mut body = vec![(i % 256) as u8; size];
                body[..8].copy_from_slice(&(i as u64).to_le_bytes());
                conn.send(Message::Binary(body)).unwrap();
            }
        })
    };
    for i in 0..N {
        let m = conn.recv_timeout(Duration::from_secs(20)).expect("echo");
        let data = m.as_bytes();
        assert_eq!(data.len(), [10, 300, 5000, 70_000][i % 4]);
        assert_eq!(u64::from_le_bytes(data[..8].try_into().unwrap()), i as u64);
    }
    sender.join().unwrap();
}

#[test]
fn each_failed_check_has_its_own_error() {
    let ca = Ca::new("test CA");
    let stranger = Ca::new("stranger CA");
    let cases = [
        (
            ca.server(&["localhost"], Validity::Now),
            &stranger,
            TlsErrorKind::UnknownIssuer,
        ),
        (
            ca.server(&["localhost"], Validity::Expired),
            &ca,
            TlsErrorKind::Expired,
        ),
        (
            ca.server(&["localhost"], Validity::NotYetValid),
            &ca,
            TlsErrorKind::NotYetValid,
        ),
        (
            ca.server(&["other.test"], Validity::Now),
            &ca,
            TlsErrorKind::NameMismatch,
        ),
    ];
    for (leaf, trusted, kind) in cases {
        let (server, _h) = tls_echo_server(server_tls(&leaf));
        let got = tls_kind(connect_with(
            server.local_addr(),
            "localhost",
            trusting(trusted),
        ));
        assert_eq!(got, kind);
        server.shutdown();
    }
}

#[test]
fn a_name_override_and_the_dangerous_switch_are_explicit() {
    let ca = Ca::new("test CA");
    let (server, _h) = tls_echo_server(server_tls(&ca.server(&["public.test"], Validity::Now)));
    let addr = server.local_addr();
    let named = trusting(&ca).with_server_name("public.test");
    let conn = connect_with(addr, "127.0.0.1", named).expect("verified as public.test");
    conn.send(Message::Text("x".into())).unwrap();
    assert_eq!(conn.recv().unwrap(), Message::Text("x".into()));
    // The OS does not trust the test CA: refused by default...
    let kind = tls_kind(connect_with(addr, "127.0.0.1", ClientTls::default()));
    assert_eq!(kind, TlsErrorKind::UnknownIssuer);
    // ...accepted only by the switch that says it is dangerous.
    let any = ClientTls::default().dangerous_accept_any_certificate();
    assert!(format!("{any:?}").contains("NOTHING VERIFIED"));
    connect_with(addr, "127.0.0.1", any).expect("unverified");
}

#[test]
fn client_certificates_required_optional_and_refused() {
    let ca = Ca::new("test CA");
    let stranger = Ca::new("stranger CA");
    let leaf = ca.server(&["localhost"], Validity::Now);
    let alice = ca.client("alice");
    let mallory = stranger.client("mallory");
    let with_cert = |c: &Leaf| {
        trusting(&ca)
            .with_client_certificate_pem(c.cert_pem.as_bytes(), c.key_pem.as_bytes())
            .unwrap()
    };

    let required = server_tls(&leaf)
        .with_client_ca_pem(ca.pem.as_bytes(), ClientCertificates::Required)
        .unwrap();
    let server = Arc::new(server(fast_config().with_server_tls(Some(required))));
    let addr = server.local_addr();
    let s = Arc::clone(&server);
    let seen = std::thread::spawn(move || {
        let conn = s.accept().unwrap();
        let certs = conn.request().peer_certificates.clone();
        conn.send(Message::Text("welcome".into())).unwrap();
        certs
    });
    // TLS 1.3: the client learns of the refusal after its side of the
    // handshake, when it reads the server's answer to the upgrade.
    let kind = tls_kind(connect_with(addr, "localhost", trusting(&ca)));
    assert_eq!(kind, TlsErrorKind::ClientCertificateRejected);
    let kind = tls_kind(connect_with(addr, "localhost", with_cert(&mallory)));
    assert_eq!(kind, TlsErrorKind::ClientCertificateRejected);
    let conn = connect_with(addr, "localhost", with_cert(&alice)).expect("alice");
    assert_eq!(conn.recv().unwrap(), Message::Text("welcome".into()));
    assert_eq!(seen.join().unwrap(), vec![alice.der.clone()]);
    let info = wsengine::RequestInfo {
        peer_certificates: vec![alice.der.clone()],
        ..conn.request().clone()
    };
    assert_eq!(info.peer_certificate_subject().as_deref(), Some("CN=alice"));
    assert_eq!(
        conn.request().peer_certificate_subject().as_deref(),
        Some("CN=server")
    );
    server.shutdown();

    let optional = server_tls(&leaf)
        .with_client_ca_pem(ca.pem.as_bytes(), ClientCertificates::Optional)
        .unwrap();
    let (server, _h) = tls_echo_server(optional);
    let addr = server.local_addr();
    connect_with(addr, "localhost", trusting(&ca)).expect("no certificate is fine");
    connect_with(addr, "localhost", with_cert(&alice)).expect("a good one too");
    let kind = tls_kind(connect_with(addr, "localhost", with_cert(&mallory)));
    assert_eq!(kind, TlsErrorKind::ClientCertificateRejected);
}

#[test]
fn the_wrong_protocol_on_either_port_fails_at_once() {
    let ca = Ca::new("test CA");
    let (tls_server, _h) = tls_echo_server(server_tls(&ca.server(&["localhost"], Validity::Now)));
    // Plain HTTP to the TLS port: a readable 400, not a hang.
    let started = Instant::now();
    let answer = raw_exchange(tls_server.local_addr(), upgrade_request("/", "").as_bytes());
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("TLS"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(1));

    // TLS to a plain port: the client says the peer does not speak TLS.
    let plain = server(fast_config());
    let started = Instant::now();
    let kind = tls_kind(connect_with(plain.local_addr(), "localhost", trusting(&ca)));
    assert_eq!(kind, TlsErrorKind::NotTls);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn the_handshake_timeout_covers_the_tls_handshake() {
    let ca = Ca::new("test CA");
    let (server, _h) = tls_echo_server(server_tls(&ca.server(&["localhost"], Validity::Now)));
    // Half a ClientHello record header, then nothing.
    let mut stalled = TcpStream::connect(server.local_addr()).unwrap();
    stalled.write_all(&[22, 3, 1]).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut sink = [0u8; 64];
    loop {
        match stalled.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let took = started.elapsed();
    // fast_config: 2 s.
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // Others were not held up meanwhile.
    connect_with(server.local_addr(), "localhost", trusting(&ca)).expect("connect");
}

#[test]
fn reload_serves_the_new_certificate_to_new_handshakes_only() {
    let ca = Ca::new("test CA");
    let first = ca.server(&["localhost"], Validity::Now);
    let second = ca.server(&["localhost"], Validity::Now);
    let dir = std::env::temp_dir().join(format!("wsengine-tls-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &first.cert_pem).unwrap();
    std::fs::write(&key, &first.key_pem).unwrap();
    let tls = ServerTls::from_pem_files(&cert, &key).unwrap();
    let (server, _h) = tls_echo_server(tls.clone());
    let addr = server.local_addr();

    let old = connect_with(addr, "localhost", trusting(&ca)).unwrap();
    assert_eq!(old.request().peer_certificates[0], first.der);

    std::fs::write(&cert, &second.cert_pem).unwrap();
    std::fs::write(&key, &second.key_pem).unwrap();
    tls.reload().expect("reload");
    assert_eq!(tls.certificate_der(), second.der);
    let new = connect_with(addr, "localhost", trusting(&ca)).unwrap();
    assert_eq!(new.request().peer_certificates[0], second.der);
    for conn in [&old, &new] {
        conn.send(Message::Text("still here".into())).unwrap();
        assert_eq!(conn.recv().unwrap(), Message::Text("still here".into()));
    }

    // A broken file: the error says why, and the served certificate stays.
    std::fs::write(&key, "not a key").unwrap();
    let err = tls.reload().expect_err("bad key");
    assert_eq!(err.kind, TlsErrorKind::Config);
    assert!(err.message.contains("private key"), "{err}");
    // A key that belongs to another certificate is refused too.
    std::fs::write(&key, &first.key_pem).unwrap();
    let err = tls.reload().expect_err("mismatched key");
    assert_eq!(err.kind, TlsErrorKind::Config);
    let after = connect_with(addr, "localhost", trusting(&ca)).unwrap();
    assert_eq!(after.request().peer_certificates[0], second.der);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn settings_that_cannot_work_fail_before_connecting() {
    let err = ServerTls::from_pem(b"", b"").expect_err("empty");
    assert_eq!(err.kind, TlsErrorKind::Config);
    let err = ServerTls::from_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem")
        .expect_err("missing");
    assert!(err.message.contains("/nonexistent/cert.pem"), "{err}");
    let err = ClientTls::default().with_ca_pem(b"junk").expect_err("junk");
    assert_eq!(err.kind, TlsErrorKind::Config);
    // A TLS failure met inside an I/O call (as the engine's reads meet
    // them) comes out as `Error::Tls` with its kind, not as `Error::Io`.
    let inner = wsengine::TlsError {
        kind: TlsErrorKind::NameMismatch,
        message: "for another name".into(),
    };
    let io = std::io::Error::new(std::io::ErrorKind::InvalidData, inner.clone());
    match Error::from(io) {
        Error::Tls(e) => assert_eq!(e, inner),
        other => panic!("{other:?}"),
    }
}

#[test]
fn routes_and_health_are_served_over_https() {
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost"], Validity::Now);
    let config = fast_config()
        .with_server_tls(Some(server_tls(&leaf)))
        .with_health_path(Some("/health"))
        .with_route("/hello", "text/plain", "hi there");
    let server = server(config);
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let client = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    for (path, expect) in [("/hello", "hi there"), ("/health", "\"connections\"")] {
        let name = "localhost".try_into().unwrap();
        let session = rustls::ClientConnection::new(Arc::clone(&client), name).unwrap();
        let tcp = TcpStream::connect(server.local_addr()).unwrap();
        let mut tls = rustls::StreamOwned::new(session, tcp);
        write!(tls, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        let mut answer = Vec::new();
        let _ = tls.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains(expect), "{answer}");
    }
}

#[test]
fn the_upgrade_hook_sees_the_client_certificate() {
    let ca = Ca::new("test CA");
    let alice = ca.client("alice");
    let expected = alice.der.clone();
    let tls = server_tls(&ca.server(&["localhost"], Validity::Now))
        .with_client_ca_pem(ca.pem.as_bytes(), ClientCertificates::Optional)
        .unwrap();
    let hook = wsengine::UpgradeHook::new(move |req: &wsengine::RequestInfo| {
        if req.peer_certificates.first() == Some(&expected) {
            wsengine::Verdict::accept()
        } else {
            wsengine::Verdict::refuse(403, "a client certificate is required here")
        }
    });
    let server = server(
        fast_config()
            .with_server_tls(Some(tls))
            .with_upgrade_hook(Some(hook)),
    );
    let addr = server.local_addr();
    match connect_with(addr, "localhost", trusting(&ca)) {
        Err(Error::Handshake(e)) => assert_eq!(e.status(), 403),
        other => panic!("{other:?}"),
    }
    let with_cert = trusting(&ca)
        .with_client_certificate_pem(alice.cert_pem.as_bytes(), alice.key_pem.as_bytes())
        .unwrap();
    connect_with(addr, "localhost", with_cert).expect("alice is let in");
}

/// A raw rustls client (no wsengine on this side) for what the engine's
/// own client would not do: key updates in the middle of a connection.
fn raw_tls_client(
    addr: std::net::SocketAddr,
    ca: &Ca,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let session =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    rustls::StreamOwned::new(session, tcp)
}

#[test]
fn key_updates_mid_connection_and_close_notify_after_the_websocket_close() {
    use wsengine::protocol::encoder::{write_close, write_frame};
    use wsengine::protocol::{CloseFrame, Decoder, DecoderLimits, Event, OpCode, Role};
    let ca = Ca::new("test CA");
    let (server, _h) = tls_echo_server(server_tls(&ca.server(&["localhost"], Validity::Now)));
    let mut tls = raw_tls_client(server.local_addr(), &ca);
    tls.write_all(upgrade_request("/", "").as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tls.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    let mut decoder = Decoder::new(Role::Client, DecoderLimits::default());
    let mut next_event = |tls: &mut rustls::StreamOwned<_, TcpStream>| loop {
        let mut buf = [0u8; 4096];
        let n = tls.read(&mut buf).expect("read");
        assert!(n > 0, "the server ended the stream");
        let (used, event) = decoder.decode(&buf[..n]).expect("frame");
        assert_eq!(used, n, "one frame per read here");
        if let Some(e) = event {
            return e;
        }
    };
    for i in 0..5 {
        // A KeyUpdate asking the server to update its keys too: the
        // server's reader answers it (a record of its own, made while
        // reading), and messages keep flowing both ways on the new keys.
        tls.conn.refresh_traffic_keys().unwrap();
        let mut frame = Vec::new();
        let text = format!("after key update {i}");
        write_frame(
            &mut frame,
            OpCode::Text,
            true,
            text.as_bytes(),
            Some([1, 2, 3, 4]),
        );
        tls.write_all(&frame).unwrap();
        match next_event(&mut tls) {
            Event::Message(m) => assert_eq!(m, Message::Text(text)),
            other => panic!("{other:?}"),
        }
    }
    let mut close = Vec::new();
    let frame = CloseFrame {
        code: CloseCode::NORMAL,
        reason: "done".into(),
    };
    write_close(&mut close, Some(&frame), Some([5, 6, 7, 8]));
    tls.write_all(&close).unwrap();
    assert!(matches!(next_event(&mut tls), Event::Close(_)));
    // After the WebSocket close, the TLS close: close_notify, then EOF
    // (a bare TCP close would be an UnexpectedEof error here).
    let mut rest = Vec::new();
    tls.read_to_end(&mut rest).expect("a clean TLS close");
    assert!(rest.is_empty());
}

#[test]
fn a_peer_that_stops_reading_cannot_hold_a_writer_past_the_close_timeout() {
    // The writer waits for a full socket with the session's lock released
    // (poll), so the close timeout's shutdown wakes it and every thread ends.
    let ca = Ca::new("test CA");
    let tls = server_tls(&ca.server(&["localhost"], Validity::Now));
    let server = server(fast_config().with_server_tls(Some(tls)));
    let mut client = raw_tls_client(server.local_addr(), &ca);
    client
        .write_all(upgrade_request("/", "").as_bytes())
        .unwrap();
    client.flush().unwrap();
    let conn = Arc::new(server.accept().unwrap());
    let sender = {
        let conn = Arc::clone(&conn);
        std::thread::spawn(move || {
            let big = vec![7u8; 1 << 20];
            // Fills the socket, the client's buffers and the send queue.
            while conn.send(Message::Binary(big.clone())).is_ok() {}
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let _ = conn.close(CloseCode::NORMAL, "bye");
    assert!(conn.wait_closed(Duration::from_secs(10)), "torn down");
    // fast_config: a 500 ms close timeout.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    sender.join().unwrap();
    assert!(
        conn.unsent_count() > 0,
        "what was queued is reported as not sent"
    );
    drop(client);
}
