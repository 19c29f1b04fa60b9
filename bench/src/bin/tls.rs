//! TLS cost (issue 16): wsengine over rustls against tokio-tungstenite over
//! tokio-rustls, both on rustls with the *ring* provider and the same
//! ECDSA P-256 certificate, with the plaintext servers in the same run for
//! the ratio TLS is judged against.
//!
//! Servers (each its own process, pinned to CPU 0, started in turn,
//! interleaved rounds): `wsengine` and `wsengine-tls` (events mode, one
//! application thread), `tokio-tungstenite` and `tokio-tungstenite-tls` (a
//! task per connection on a multi-thread runtime, `read.forward(write)`).
//! The load runs here, pinned to CPU 1: tokio-tungstenite (+ tokio-rustls)
//! clients on one current-thread runtime.
//!
//! Scenarios:
//! - echo 64 x 32 B (16 in flight per connection) and echo 1 x 1 MiB (1 in
//!   flight): server CPU per message, echoes/s, p50;
//! - handshakes: 16 clients each doing TCP + full TLS 1.3 handshake (no
//!   resumption) + WebSocket upgrade, then dropping the connection, in a
//!   loop: server CPU per handshake (so handshakes per second per core is
//!   its inverse) and handshakes/s;
//! - idle: N connections opened and held; RSS per connection.
//!
//! ```text
//! cargo run --release -p wsengine-bench --bin tls -- [--rounds 3] [--seconds 4] [--idle 1000]
//!     [--only echo,handshake,idle]
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use wsengine_bench::load::{
    Counter, Window, measure, run_clients, ws_client, wss_client, wss_connect,
};
use wsengine_bench::{
    announce, machine_description, median, percentile, pin_to_cpu, raise_fd_limit, rss_kib,
    start_server, stop_server,
};

const IMPLS: [&str; 4] = [
    "wsengine",
    "wsengine-tls",
    "tokio-tungstenite",
    "tokio-tungstenite-tls",
];

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

// ---------------------------------------------------------------- servers

fn serve(which: &str, cert: &str, key: &str) {
    pin_to_cpu(0);
    raise_fd_limit();
    match which {
        "wsengine" => serve_wsengine(None),
        "wsengine-tls" => serve_wsengine(Some(
            wsengine::ServerTls::from_pem_files(cert, key).expect("certificate"),
        )),
        "tokio-tungstenite" => serve_tokio(None),
        "tokio-tungstenite-tls" => serve_tokio(Some(server_config(cert, key))),
        other => panic!("unknown server {other}"),
    }
}

fn serve_wsengine(tls: Option<wsengine::ServerTls>) {
    use wsengine::{Server, ServerEvent};
    let config = wsengine::Config::default()
        .with_max_connections(20_000)
        .with_max_message_size(64 << 20)
        .with_poll_events(true)
        .with_server_tls(tls);
    let server = Server::bind("127.0.0.1:0", config).expect("bind");
    announce(server.local_addr().port());
    while let Ok(event) = server.poll(Duration::MAX) {
        if let Some(ServerEvent::Message(conn, m)) = event {
            let _ = conn.send(m);
        }
    }
}

fn server_config(cert: &str, key: &str) -> Arc<rustls::ServerConfig> {
    use rustls_pki_types::pem::PemObject;
    let chain = rustls_pki_types::CertificateDer::pem_file_iter(cert)
        .expect("cert")
        .collect::<Result<Vec<_>, _>>()
        .expect("cert");
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(key).expect("key");
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

fn serve_tokio(tls: Option<Arc<rustls::ServerConfig>>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        announce(listener.local_addr().expect("addr").port());
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                match acceptor {
                    None => {
                        if let Ok(ws) = tokio_tungstenite::accept_async(stream).await {
                            echo(ws).await;
                        }
                    }
                    Some(acceptor) => {
                        let Ok(stream) = acceptor.accept(stream).await else {
                            return;
                        };
                        if let Ok(ws) = tokio_tungstenite::accept_async(stream).await {
                            echo(ws).await;
                        }
                    }
                }
            });
        }
    });
}

async fn echo<S>(ws: tokio_tungstenite::WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (write, read) = ws.split();
    let _ = read
        .try_filter(|m| std::future::ready(m.is_text() || m.is_binary()))
        .forward(write)
        .await;
}

// ------------------------------------------------------------------ load

/// The client's TLS configuration: trusts the run's CA, no resumption (so
/// every handshake is a full one).
fn client_config(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("ca")).expect("ca");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

struct Scenario {
    name: &'static str,
    conns: usize,
    size: usize,
    inflight: usize,
}

const ECHO: [Scenario; 2] = [
    Scenario {
        name: "echo 64 x 32 B",
        conns: 64,
        size: 32,
        inflight: 16,
    },
    Scenario {
        name: "echo 1 x 1 MiB",
        conns: 1,
        size: 1 << 20,
        inflight: 1,
    },
];

#[derive(Default, Clone, Copy)]
struct Outcome {
    per_second: f64,
    p50_us: f64,
    cpu_us: f64,
}

/// The load's outcome over the window, from the bench library's sampler.
fn measured(pid: u32, w: Window, count: &Counter, load: impl FnOnce() -> Vec<u32>) -> Outcome {
    let m = measure(pid, w, count, load);
    Outcome {
        per_second: m.per_second,
        p50_us: percentile(&m.latencies, 0.5),
        cpu_us: m.cpu_us_each,
    }
}

fn run_echo(which: &str, s: &Scenario, a: &Args, pki: &Pki) -> Outcome {
    let (child, port) = start_server(which, &[&pki.cert, &pki.key]);
    let w = Window::after_warmup(a.warmup, a.seconds);
    let count: Counter = Arc::default();
    let tls = which.ends_with("-tls").then(|| Arc::clone(&pki.client));
    let (size, inflight) = (s.size, s.inflight);
    let outcome = measured(child.id(), w, &count, || {
        run_clients(s.conns, || {
            let count = Arc::clone(&count);
            let client: std::pin::Pin<Box<dyn Future<Output = Vec<u32>> + Send>> = match &tls {
                Some(tls) => Box::pin(wss_client(port, Arc::clone(tls), size, inflight, w, count)),
                None => Box::pin(ws_client(port, "/echo".into(), size, inflight, w, count)),
            };
            client
        })
    });
    stop_server(child);
    outcome
}

/// Full handshakes in a loop from 16 clients; CPU per handshake on the server.
fn run_handshakes(which: &str, a: &Args, pki: &Pki) -> Outcome {
    let (child, port) = start_server(which, &[&pki.cert, &pki.key]);
    let w = Window::after_warmup(a.warmup, a.seconds);
    let count: Counter = Arc::default();
    let tls = which.ends_with("-tls").then(|| Arc::clone(&pki.client));
    let failures = Arc::new(AtomicU64::new(0));
    let outcome = measured(child.id(), w, &count, || {
        run_clients(16, || {
            let (count, tls, failures) = (Arc::clone(&count), tls.clone(), Arc::clone(&failures));
            async move {
                let mut latencies = Vec::new();
                while Instant::now() < w.to {
                    let started = Instant::now();
                    let done = match &tls {
                        Some(tls) => wss_connect(port, Arc::clone(tls)).await.map(drop),
                        None => ws_connect(port).await,
                    };
                    match done {
                        Ok(()) => {}
                        Err(_) => {
                            failures.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            continue;
                        }
                    }
                    let now = Instant::now();
                    if now >= w.from && now < w.to {
                        latencies.push((now - started).as_micros() as u32);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies
            }
        })
    });
    let failed = failures.load(Ordering::Relaxed);
    if failed > 0 {
        eprintln!("{which}: {failed} handshakes failed");
    }
    stop_server(child);
    outcome
}

/// A plain WebSocket handshake, then the connection is dropped.
async fn ws_connect(port: u16) -> Result<(), String> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let url = format!("ws://127.0.0.1:{port}/echo");
    tokio_tungstenite::client_async(url, stream)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Open `n` connections, hold them, and read the server's RSS per connection.
fn run_idle(which: &str, n: usize, pki: &Pki) -> f64 {
    let (child, port) = start_server(which, &[&pki.cert, &pki.key]);
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(300));
    let base = rss_kib(pid);
    let tls = which.ends_with("-tls").then(|| Arc::clone(&pki.client));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let per_conn = runtime.block_on(async {
        let mut plain = Vec::new();
        let mut secure = Vec::new();
        for _ in 0..n {
            match &tls {
                Some(tls) => secure.push(wss_connect(port, Arc::clone(tls)).await.expect("wss")),
                None => {
                    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .expect("connect");
                    let url = format!("ws://127.0.0.1:{port}/idle");
                    plain.push(
                        tokio_tungstenite::client_async(url, stream)
                            .await
                            .expect("ws")
                            .0,
                    );
                }
            }
        }
        // Let every connection reach its idle state.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = rss_kib(pid);
        drop((plain, secure));
        (rss.saturating_sub(base)) as f64 / n as f64
    });
    stop_server(child);
    per_conn
}

// ------------------------------------------------------------------ main

struct Pki {
    cert: String,
    key: String,
    client: Arc<rustls::ClientConfig>,
}

/// A CA and an ECDSA P-256 server certificate for localhost, in a
/// temporary directory for the server processes.
fn make_pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .signed_by(&key, &issuer)
        .expect("leaf");
    let dir = std::env::temp_dir().join(format!("wsengine-bench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (cert, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, leaf.pem()).expect("write");
    std::fs::write(&key_path, key.serialize_pem()).expect("write");
    Pki {
        cert: cert.display().to_string(),
        key: key_path.display().to_string(),
        client: client_config(&ca.pem()),
    }
}

struct Args {
    rounds: usize,
    seconds: f64,
    warmup: f64,
    idle: usize,
    only: Vec<String>,
}

fn parse() -> Args {
    let mut a = Args {
        rounds: 3,
        seconds: 4.0,
        warmup: 1.0,
        idle: 1000,
        only: vec!["echo".into(), "handshake".into(), "idle".into()],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--rounds" => a.rounds = value().parse().expect("--rounds N"),
            "--seconds" => a.seconds = value().parse().expect("--seconds S"),
            "--warmup" => a.warmup = value().parse().expect("--warmup S"),
            "--idle" => a.idle = value().parse().expect("--idle N"),
            "--only" => a.only = value().split(',').map(String::from).collect(),
            other => panic!("unknown option {other}"),
        }
    }
    a
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--serve") {
        serve(&argv[2], &argv[3], &argv[4]);
        return;
    }
    let a = parse();
    pin_to_cpu(1);
    raise_fd_limit();
    let pki = make_pki();
    let wants = |what: &str| a.only.iter().any(|o| o == what);
    println!(
        "Machine: {}. Servers pinned to CPU 0, the load to CPU 1; medians of {} interleaved rounds of {} s.\n",
        machine_description(),
        a.rounds,
        a.seconds
    );
    if wants("echo") {
        println!(
            "| scenario | server | echoes/s | p50 | server CPU per message | vs tokio-tungstenite (same transport) |"
        );
        println!("|---|---|---|---|---|---|");
        for s in &ECHO {
            let mut per: Vec<Vec<Outcome>> = vec![Vec::new(); IMPLS.len()];
            for round in 0..a.rounds {
                for (i, which) in IMPLS.iter().enumerate() {
                    let o = run_echo(which, s, &a, &pki);
                    eprintln!(
                        "round {} {} {which}: {:.0}/s p50 {:.0} us {:.2} us CPU/msg",
                        round + 1,
                        s.name,
                        o.per_second,
                        o.p50_us,
                        o.cpu_us
                    );
                    per[i].push(o);
                }
            }
            let med = |i: usize, f: fn(&Outcome) -> f64| median(per[i].iter().map(f).collect());
            for (i, which) in IMPLS.iter().enumerate() {
                let peer = if which.ends_with("-tls") { 3 } else { 2 };
                println!(
                    "| {} | {which} | {:.0} | {:.0} us | {:.2} us | {:.2}x |",
                    s.name,
                    med(i, |o| o.per_second),
                    med(i, |o| o.p50_us),
                    med(i, |o| o.cpu_us),
                    med(i, |o| o.cpu_us) / med(peer, |o| o.cpu_us)
                );
            }
        }
        println!();
    }
    if wants("handshake") {
        let tls_impls = IMPLS;
        let mut per: Vec<Vec<Outcome>> = vec![Vec::new(); IMPLS.len()];
        for round in 0..a.rounds {
            for (i, which) in tls_impls.iter().enumerate() {
                let o = run_handshakes(which, &a, &pki);
                eprintln!(
                    "round {} handshakes {which}: {:.0}/s, {:.0} us server CPU each",
                    round + 1,
                    o.per_second,
                    o.cpu_us
                );
                per[i].push(o);
            }
        }
        println!(
            "| handshakes (TCP [+ full TLS 1.3] + upgrade), 16 clients | handshakes/s | server CPU per handshake | handshakes per CPU-second | vs tokio-tungstenite (same transport) |"
        );
        println!("|---|---|---|---|---|");
        let cpu = |i: usize| median(per[i].iter().map(|o| o.cpu_us).collect());
        for (i, which) in tls_impls.iter().enumerate() {
            let peer = if which.ends_with("-tls") { 3 } else { 2 };
            println!(
                "| {which} | {:.0} | {:.0} us | {:.0} | {:.2}x |",
                median(per[i].iter().map(|o| o.per_second).collect()),
                cpu(i),
                1e6 / cpu(i),
                cpu(peer) / cpu(i)
            );
        }
        println!();
    }
    if wants("idle") {
        println!(
            "| idle connections ({}) | server RSS per connection |",
            a.idle
        );
        println!("|---|---|");
        for which in IMPLS {
            let mut kib = Vec::new();
            for _ in 0..a.rounds.min(2) {
                kib.push(run_idle(which, a.idle, &pki));
            }
            println!("| {which} | {:.1} KiB |", median(kib));
        }
    }
    let _ = std::fs::remove_dir_all(std::path::Path::new(&pki.cert).parent().expect("dir"));
}
