//! Test support: a scripted byte-level WebSocket peer, and helpers.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wsengine::protocol::encoder::{write_close, write_frame};
use wsengine::protocol::handshake::accept_key;
use wsengine::protocol::{CloseFrame, Decoder, DecoderLimits, Event, OpCode, Role};
use wsengine::{Config, Server};

pub mod pki;

/// A config with short timeouts and no keepalive, for fast tests.
pub fn fast_config() -> Config {
    Config::default()
        .with_close_timeout(Duration::from_millis(500))
        .with_handshake_timeout(Duration::from_secs(2))
        .with_ping_interval(None)
}

pub fn server(config: Config) -> Server {
    Server::bind("127.0.0.1:0", config).expect("bind")
}

/// An echo server bound to `addr` (port 0: any free port): each accepted
/// connection echoes on its own thread until it closes. Also returns when
/// each connection was accepted.
pub fn echo_server_at(
    addr: &str,
    config: Config,
) -> (Arc<Server>, JoinHandle<()>, Arc<Mutex<Vec<Instant>>>) {
    let server = Arc::new(Server::bind(addr, config).expect("bind"));
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let (s, seen) = (Arc::clone(&server), Arc::clone(&accepted));
    let handle = std::thread::spawn(move || {
        while let Ok(conn) = s.accept() {
            seen.lock().unwrap().push(Instant::now());
            std::thread::spawn(move || {
                while let Ok(m) = conn.recv() {
                    if conn.send(m).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (server, handle, accepted)
}

/// [`echo_server_at`] on any free loopback port.
pub fn echo_server(config: Config) -> (Arc<Server>, JoinHandle<()>) {
    let (server, handle, _) = echo_server_at("127.0.0.1:0", config);
    (server, handle)
}

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

pub fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Send raw bytes to `addr` and return everything the server sends back
/// until it closes (or 3 s pass).
pub fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A peer that speaks WebSocket frame by frame, as told.
pub struct RawPeer {
    pub stream: TcpStream,
    role: Role,
    decoder: Decoder,
    leftover: Vec<u8>,
}

impl RawPeer {
    /// Connect to a wsengine server as a client and complete the upgrade.
    pub fn connect(addr: SocketAddr, path: &str) -> RawPeer {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(upgrade_request(path, "").as_bytes())
            .unwrap();
        let (head, leftover) = read_head(&mut stream);
        assert!(head.starts_with("HTTP/1.1 101"), "no upgrade: {head}");
        RawPeer::new(stream, Role::Client, leftover)
    }

    /// Accept one connection from a wsengine client and complete the upgrade.
    pub fn accept(listener: &TcpListener) -> RawPeer {
        let (mut stream, _) = listener.accept().unwrap();
        let (head, leftover) = read_head(&mut stream);
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .expect("key")
            .trim()
            .to_string();
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            accept_key(key.as_bytes())
        );
        stream.write_all(resp.as_bytes()).unwrap();
        RawPeer::new(stream, Role::Server, leftover)
    }

    fn new(stream: TcpStream, role: Role, leftover: Vec<u8>) -> RawPeer {
        let limits = DecoderLimits {
            max_message_size: 256 << 20,
            max_frame_size: 256 << 20,
            accept_unmasked_frames: false,
        };
        RawPeer {
            stream,
            role,
            decoder: Decoder::new(role, limits),
            leftover,
        }
    }

    fn mask(&self) -> Option<[u8; 4]> {
        (self.role == Role::Client).then_some([1, 2, 3, 4])
    }

    pub fn send_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) {
        let mut out = Vec::new();
        write_frame(&mut out, opcode, fin, payload, self.mask());
        self.stream.write_all(&out).unwrap();
    }

    pub fn send_text(&mut self, text: &str) {
        self.send_frame(OpCode::Text, true, text.as_bytes());
    }

    pub fn send_close(&mut self, frame: Option<CloseFrame>) {
        let mut out = Vec::new();
        write_close(&mut out, frame.as_ref(), self.mask());
        self.stream.write_all(&out).unwrap();
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// The next event within `timeout`; `None` on timeout or end of stream.
    pub fn next_event(&mut self, timeout: Duration) -> Option<Event> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.leftover.is_empty() {
                let data = std::mem::take(&mut self.leftover);
                let (used, ev) = self.decoder.decode(&data).expect("peer sent a bad frame");
                self.leftover = data[used..].to_vec();
                if let Some(ev) = ev {
                    return Some(ev);
                }
                continue;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            let mut buf = [0u8; 65536];
            match self.stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.leftover.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return None;
                }
                Err(_) => return None,
            }
        }
    }

    /// Skip pings/pongs/messages until a close frame; returns its payload.
    pub fn expect_close(&mut self, timeout: Duration) -> Option<CloseFrame> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.next_event(left)? {
                Event::Close(frame) => return frame,
                _ => continue,
            }
        }
    }

    /// Whether the other side closes TCP within `timeout`.
    pub fn sees_eof(&mut self, timeout: Duration) -> bool {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return false;
                }
                Err(_) => return true,
            }
        }
    }
}

fn read_head(stream: &mut TcpStream) -> (String, Vec<u8>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            return (head, buf[end + 4..].to_vec());
        }
        let n = stream.read(&mut byte).expect("read head");
        assert!(
            n > 0,
            "connection closed during handshake: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&byte[..n]);
    }
}

/// Poll `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

/// Threads in this process.
pub fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Open file descriptors in this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Resident memory of this process in KiB.
pub fn rss_kib() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

/// On a new thread, read `2 * n` text messages from `client`: `n` replies
/// ("r0", "r1", ...) and `n` others ("t0", ...), interleaved any way but
/// each series in order (what a connection's replies must keep against
/// another thread's sends).
pub fn read_two_series(client: Arc<wsengine::Conn>, n: usize) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let (mut replies, mut others) = (0, 0);
        while replies + others < 2 * n {
            let m = client.recv_timeout(Duration::from_secs(5)).unwrap();
            let text = m.as_text().unwrap();
            let counter = if text.starts_with('r') {
                &mut replies
            } else {
                &mut others
            };
            assert_eq!(text[1..], counter.to_string(), "out of order: {text}");
            *counter += 1;
        }
    })
}
