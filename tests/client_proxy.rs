//! A client behind proxies: HTTP `CONNECT` through Debian's tinyproxy (with
//! Basic credentials), SOCKS5 through Debian's dante (`danted`), both for
//! `ws://` and `wss://`; the errors a refusing proxy gives; what a
//! `socks5h://` request carries; IPv6 literals; an unreachable proxy.
//!
//! tinyproxy and danted are started here on loopback ports, each with its
//! own config and log in a temporary folder, and stopped by PID. Without
//! them the tests that need them print `*** SKIPPED ***`, unless
//! `WSENGINE_REQUIRE_PROXIES=1` (the test command sets it) makes that a
//! failure.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use support::pki::{Ca, Validity};
use support::*;
use wsengine::tls::{ClientTls, ServerTls};
use wsengine::{Config, Error, Message, Proxy, ProxyErrorKind, Server};

/// A folder of its own for each test's proxy config and log.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wsengine-proxy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `tool` is installed; if not, skipping is allowed only outside
/// the test command.
fn have(tool: &str) -> bool {
    let found = ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"]
        .iter()
        .any(|dir| Path::new(dir).join(tool).exists());
    if !found {
        assert!(
            std::env::var_os("WSENGINE_REQUIRE_PROXIES").is_none(),
            "{tool} is not installed (apt-get install tinyproxy dante-server)"
        );
        eprintln!("*** SKIPPED: {tool} is not installed ***");
    }
    found
}

/// A proxy process, stopped (by its PID) when dropped.
struct ProxyProcess {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl ProxyProcess {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_listening(port: u16) {
    assert!(
        eventually(Duration::from_secs(10), || TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "the proxy never listened on {port}"
    );
}

/// tinyproxy on a free loopback port, asking for `alice:s3cret` when
/// `auth`.
fn tinyproxy(dir: &Path, auth: bool) -> ProxyProcess {
    let port = free_port();
    let log = dir.join("tinyproxy.log");
    let conf = dir.join("tinyproxy.conf");
    let mut text = format!(
        "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Connect\nMaxClients 50\nAllow 127.0.0.1\n",
        log.display()
    );
    if auth {
        text.push_str("BasicAuth alice s3cret\n");
    }
    std::fs::write(&conf, text).unwrap();
    let child = Command::new("tinyproxy")
        .arg("-d")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tinyproxy");
    wait_listening(port);
    ProxyProcess { child, port, log }
}

/// danted on a free loopback port; `method` is `none` or `username`
/// (system accounts: the tests only use it to be refused).
fn danted(dir: &Path, method: &str) -> ProxyProcess {
    let port = free_port();
    let log = dir.join("danted.log");
    let conf = dir.join("danted.conf");
    let text = format!(
        "logoutput: {}\ninternal: 127.0.0.1 port = {port}\nexternal: 127.0.0.1\n\
         clientmethod: none\nsocksmethod: {method}\n\
         client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 log: connect error }}\n\
         socks pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 log: connect error }}\n",
        log.display()
    );
    std::fs::write(&conf, text).unwrap();
    let child = Command::new("danted")
        .arg("-f")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start danted");
    wait_listening(port);
    ProxyProcess { child, port, log }
}

/// A TLS echo server for `localhost` and the client settings trusting it.
fn tls_echo_server() -> (Arc<Server>, JoinHandle<()>, ClientTls) {
    let ca = Ca::new("proxy test CA");
    let leaf = ca.server(&["localhost", "127.0.0.1"], Validity::Now);
    let tls = ServerTls::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap();
    let (server, handle) = echo_server(fast_config().with_server_tls(Some(tls)));
    let client = ClientTls::default()
        .with_only_ca_pem(ca.pem.as_bytes())
        .unwrap();
    (server, handle, client)
}

fn echo_once(url: &str, config: Config) -> wsengine::Result<()> {
    let conn = wsengine::connect(url, config)?;
    let big = "x".repeat(200_000);
    conn.send(Message::Text("through the tunnel".into()))?;
    conn.send(Message::Text(big.clone()))?;
    assert_eq!(conn.recv()?, Message::Text("through the tunnel".into()));
    assert_eq!(conn.recv()?, Message::Text(big));
    conn.close(wsengine::CloseCode::NORMAL, "done")?;
    Ok(())
}

fn proxy_kind(r: wsengine::Result<()>) -> ProxyErrorKind {
    match r {
        Err(Error::Proxy(e)) => e.kind,
        other => panic!("expected a proxy error, got {other:?}"),
    }
}

#[test]
fn http_connect_tunnels_ws_and_wss_with_credentials() {
    if !have("tinyproxy") {
        return;
    }
    let dir = scratch("http");
    let proxy = tinyproxy(&dir, true);
    let (plain, _h1) = echo_server(fast_config());
    let (secure, _h2, trust) = tls_echo_server();
    let via = Proxy::Url(format!("http://alice:s3cret@127.0.0.1:{}", proxy.port));

    let ws = format!("ws://127.0.0.1:{}/echo", plain.local_addr().port());
    echo_once(&ws, fast_config().with_proxy(via.clone())).expect("ws through tinyproxy");
    // TLS to the server inside the tunnel, the server's name verified.
    let wss = format!("wss://localhost:{}/echo", secure.local_addr().port());
    echo_once(&wss, fast_config().with_proxy(via).with_client_tls(trust))
        .expect("wss through tinyproxy");

    let log = proxy.log();
    assert!(
        log.contains(&format!("CONNECT 127.0.0.1:{}", plain.local_addr().port())),
        "tinyproxy's log shows the ws:// CONNECT:\n{log}"
    );
    assert!(
        log.contains(&format!("CONNECT localhost:{}", secure.local_addr().port())),
        "tinyproxy's log shows the wss:// CONNECT:\n{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_http_proxy_refusal_is_a_proxy_error_with_its_status() {
    if !have("tinyproxy") {
        return;
    }
    let dir = scratch("refused");
    let proxy = tinyproxy(&dir, true);
    let (plain, _h) = echo_server(fast_config());
    let ws = format!("ws://127.0.0.1:{}/echo", plain.local_addr().port());
    for creds in ["", "alice:wrong@"] {
        let via = Proxy::Url(format!("http://{creds}127.0.0.1:{}", proxy.port));
        let r = echo_once(&ws, fast_config().with_proxy(via));
        let Err(Error::Proxy(e)) = &r else {
            panic!("expected a proxy error, got {r:?}");
        };
        // tinyproxy: 407 without credentials, 401 for a wrong password.
        assert!(
            matches!(e.kind, ProxyErrorKind::Refused(407 | 401)),
            "{creds:?}: {e:?}"
        );
        assert_eq!(
            e.status(),
            match e.kind {
                ProxyErrorKind::Refused(s) => Some(s),
                _ => None,
            }
        );
        assert!(
            !e.to_string().contains("wrong"),
            "the password is not repeated: {e}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn socks5_and_socks5h_tunnel_ws_and_wss() {
    if !have("danted") {
        return;
    }
    let dir = scratch("socks");
    let proxy = danted(&dir, "none");
    let (plain, _h1) = echo_server(fast_config());
    let (secure, _h2, trust) = tls_echo_server();
    for scheme in ["socks5", "socks5h"] {
        let via = Proxy::Url(format!("{scheme}://127.0.0.1:{}", proxy.port));
        let ws = format!("ws://localhost:{}/echo", plain.local_addr().port());
        echo_once(&ws, fast_config().with_proxy(via.clone()))
            .unwrap_or_else(|e| panic!("ws through {scheme}: {e}"));
        let wss = format!("wss://localhost:{}/echo", secure.local_addr().port());
        echo_once(
            &wss,
            fast_config().with_proxy(via).with_client_tls(trust.clone()),
        )
        .unwrap_or_else(|e| panic!("wss through {scheme}: {e}"));
    }
    let log = proxy.log();
    assert!(
        log.contains(&format!("127.0.0.1.{}", secure.local_addr().port())),
        "danted's log shows the tunnel:\n{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_socks5_proxy_that_wants_credentials_refuses_missing_and_wrong_ones() {
    if !have("danted") {
        return;
    }
    let dir = scratch("socks-auth");
    let proxy = danted(&dir, "username");
    let (plain, _h) = echo_server(fast_config());
    let ws = format!("ws://127.0.0.1:{}/echo", plain.local_addr().port());
    for creds in ["", "nosuchuser:wrong@"] {
        let via = Proxy::Url(format!("socks5://{creds}127.0.0.1:{}", proxy.port));
        assert_eq!(
            proxy_kind(echo_once(&ws, fast_config().with_proxy(via))),
            ProxyErrorKind::AuthFailed,
            "{creds:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A SOCKS5 proxy written here, to see the bytes a client sends: it asks
/// for `alice:s3cret`, records the CONNECT request and relays to the
/// address it was given (for a name, `localhost` only: resolved to
/// 127.0.0.1).
fn recording_socks5() -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                let mut greeting = [0u8; 2];
                client.read_exact(&mut greeting).unwrap();
                let mut methods = vec![0u8; usize::from(greeting[1])];
                client.read_exact(&mut methods).unwrap();
                if !methods.contains(&2) {
                    client.write_all(&[5, 0xFF]).unwrap();
                    return;
                }
                client.write_all(&[5, 2]).unwrap();
                let mut head = [0u8; 2];
                client.read_exact(&mut head).unwrap();
                let mut user = vec![0u8; usize::from(head[1])];
                client.read_exact(&mut user).unwrap();
                let mut len = [0u8; 1];
                client.read_exact(&mut len).unwrap();
                let mut password = vec![0u8; usize::from(len[0])];
                client.read_exact(&mut password).unwrap();
                let ok = user == b"alice" && password == b"s3cret";
                client.write_all(&[1, u8::from(!ok)]).unwrap();
                if !ok {
                    return;
                }
                let mut request = [0u8; 4];
                client.read_exact(&mut request).unwrap();
                let (host, mut recorded) = match request[3] {
                    1 => {
                        let mut ip = [0u8; 4];
                        client.read_exact(&mut ip).unwrap();
                        (std::net::Ipv4Addr::from(ip).to_string(), ip.to_vec())
                    }
                    3 => {
                        let mut n = [0u8; 1];
                        client.read_exact(&mut n).unwrap();
                        let mut name = vec![0u8; usize::from(n[0])];
                        client.read_exact(&mut name).unwrap();
                        assert_eq!(name, b"localhost");
                        ("127.0.0.1".to_owned(), name)
                    }
                    t => panic!("address type {t}"),
                };
                let mut port = [0u8; 2];
                client.read_exact(&mut port).unwrap();
                recorded.insert(0, request[3]);
                seen.lock().unwrap().push(recorded);
                let server = TcpStream::connect((host.as_str(), u16::from_be_bytes(port))).unwrap();
                client.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).unwrap();
                let (mut up, mut down) = (server.try_clone().unwrap(), client.try_clone().unwrap());
                let relay = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut down, &mut up);
                    let _ = up.shutdown(Shutdown::Write);
                });
                let (mut from, mut to) = (server, client);
                let _ = std::io::copy(&mut from, &mut to);
                let _ = to.shutdown(Shutdown::Write);
                let _ = relay.join();
            });
        }
    });
    (port, requests)
}

#[test]
fn socks5h_sends_the_name_and_socks5_an_address_with_credentials() {
    let (port, requests) = recording_socks5();
    let (plain, _h) = echo_server(fast_config());
    let ws = format!("ws://localhost:{}/echo", plain.local_addr().port());
    for scheme in ["socks5h", "socks5"] {
        let via = Proxy::Url(format!("{scheme}://alice:s3cret@127.0.0.1:{port}"));
        echo_once(&ws, fast_config().with_proxy(via)).unwrap_or_else(|e| panic!("{scheme}: {e}"));
    }
    let seen = requests.lock().unwrap().clone();
    assert_eq!(
        seen[0],
        [&[3u8][..], b"localhost"].concat(),
        "socks5h: the name"
    );
    assert_eq!(
        seen[1],
        [1u8, 127, 0, 0, 1],
        "socks5: the address resolved here"
    );

    let via = Proxy::Url(format!("socks5://alice:nope@127.0.0.1:{port}"));
    assert_eq!(
        proxy_kind(echo_once(&ws, fast_config().with_proxy(via))),
        ProxyErrorKind::AuthFailed
    );
    let via = Proxy::Url(format!("socks5://127.0.0.1:{port}"));
    assert_eq!(
        proxy_kind(echo_once(&ws, fast_config().with_proxy(via))),
        ProxyErrorKind::AuthFailed
    );
}

#[test]
fn an_unreachable_proxy_is_an_io_error_naming_it() {
    let port = free_port();
    let via = Proxy::Url(format!("http://127.0.0.1:{port}"));
    match echo_once("ws://example.invalid/", fast_config().with_proxy(via)) {
        Err(Error::Io(e)) => assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}"),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    // A proxy URL that cannot work fails before any connection.
    let bad = fast_config().with_proxy(Proxy::Url("https://proxy:443".into()));
    assert!(matches!(
        wsengine::connect("ws://127.0.0.1:1/", bad),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn direct_connections_to_ipv6_literals() {
    let Ok(server) = Server::bind("[::1]:0", fast_config()) else {
        eprintln!("*** SKIPPED: no IPv6 loopback ***");
        return;
    };
    let port = server.local_addr().port();
    let server = Arc::new(server);
    let s = Arc::clone(&server);
    std::thread::spawn(move || {
        if let Ok(conn) = s.accept() {
            while let Ok(m) = conn.recv() {
                let _ = conn.send(m);
            }
        }
    });
    let url = format!("ws://[::1]:{port}/echo");
    echo_once(&url, fast_config().with_proxy(Proxy::Direct)).expect("ws://[::1]");
    let _: SocketAddr = server.local_addr();
}
