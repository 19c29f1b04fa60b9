//! Faults of a real network: the server and its clients in two network
//! namespaces joined by a veth pair, and then the link is broken (taken
//! down: the peer vanishes without a FIN) or degraded with `tc netem`
//! (loss, delay, reordering).
//!
//! Needs root and iproute2 (`ip`, `tc`). Without them every test says so
//! loudly and passes, unless `WSENGINE_REQUIRE_NETNS=1` (the test command
//! sets it when it runs as root), which makes a missing namespace a
//! failure. Each test makes its own pair of namespaces and subnet, and
//! they take turns (they count the process's threads and descriptors).

mod support;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use support::eventually;
use wsengine::{
    Client, ClientEvent, CloseCode, Config, Conn, Error, Message, Proxy, ReconnectPolicy, Server,
};

/// Two namespaces and the veth pair between them, deleted on drop.
struct Link {
    server_ns: String,
    client_ns: String,
    /// The client-side veth device (in `client_ns`).
    client_dev: String,
    server_ip: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn ip(args: &[&str]) -> Result<(), String> {
    run("ip", args)
}

fn run(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Link {
    /// A fresh pair of namespaces with a /24 of their own, or why not.
    fn new() -> Result<Link, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root".into());
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}-{n}", std::process::id() % 100_000);
        let subnet = format!("10.{}.{}", 100 + n % 100, std::process::id() % 250);
        let link = Link {
            server_ns: format!("wse-s{tag}"),
            client_ns: format!("wse-c{tag}"),
            client_dev: format!("wc{tag}"),
            server_ip: format!("{subnet}.1"),
        };
        let client_ip = format!("{subnet}.2");
        let server_dev = format!("ws{tag}");
        ip(&["netns", "add", &link.server_ns])?;
        ip(&["netns", "add", &link.client_ns])?;
        ip(&[
            "link",
            "add",
            &server_dev,
            "type",
            "veth",
            "peer",
            "name",
            &link.client_dev,
        ])?;
        ip(&["link", "set", &server_dev, "netns", &link.server_ns])?;
        ip(&["link", "set", &link.client_dev, "netns", &link.client_ns])?;
        for (ns, dev, addr) in [
            (&link.server_ns, &server_dev, &link.server_ip),
            (&link.client_ns, &link.client_dev, &client_ip),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(link)
    }

    /// Run `f` on a thread inside namespace `ns`: sockets it makes live
    /// there (and keep working from any thread afterwards).
    fn inside<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{ns}");
        std::thread::spawn(move || {
            let file = File::open(&path).expect("namespace file");
            // SAFETY: a valid descriptor of a network namespace, for the
            // calling thread only.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("thread in namespace")
    }

    fn bind(&self, config: Config) -> Server {
        let addr = format!("{}:0", self.server_ip);
        Link::inside(&self.server_ns, move || {
            Server::bind(addr, config).expect("bind")
        })
    }

    fn bind_at(&self, port: u16, config: Config) -> wsengine::Result<Server> {
        let addr = format!("{}:{port}", self.server_ip);
        Link::inside(&self.server_ns, move || Server::bind(addr, config))
    }

    fn connect(&self, port: u16, config: Config) -> wsengine::Result<Conn> {
        let url = format!("ws://{}:{port}/", self.server_ip);
        Link::inside(&self.client_ns, move || wsengine::connect(&url, config))
    }

    /// Take the client's end of the link down: nothing more passes, and
    /// nobody sends a FIN or a reset.
    fn cut(&self) {
        ip(&[
            "-n",
            &self.client_ns,
            "link",
            "set",
            &self.client_dev,
            "down",
        ])
        .expect("link down");
    }

    /// Bring the client's end of the link back up (its address and the
    /// subnet's route come back with it).
    fn restore(&self) {
        ip(&["-n", &self.client_ns, "link", "set", &self.client_dev, "up"]).expect("link up");
    }

    /// Make the link lossy, slow and (where the kernel can) reordering:
    /// `tc netem` with `loss`, `delay` and `reorder` when the kernel has
    /// it; else (this development machine's kernel has no `sch_netem`)
    /// `loss` as iptables' random drop both ways on the client's end, and
    /// `rate` as a token bucket on both ends (queueing delay), which
    /// cannot reorder. Returns what was applied, for the test's output.
    fn degrade(&self, loss_percent: u32, delay_ms: u32) -> String {
        let netem = format!(
            "loss {loss_percent}% delay {delay_ms}ms {}ms reorder 25% 50%",
            delay_ms / 2
        );
        if self.try_netem(&netem).is_ok() {
            return format!("netem {netem}");
        }
        let p = format!("{:.2}", f64::from(loss_percent) / 100.0);
        for chain in ["INPUT", "OUTPUT"] {
            ip(&[
                "netns",
                "exec",
                &self.client_ns,
                "iptables",
                "-A",
                chain,
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                &p,
                "-j",
                "DROP",
            ])
            .expect("iptables (Debian's iptables package)");
        }
        ip(&[
            "netns",
            "exec",
            &self.client_ns,
            "tc",
            "qdisc",
            "add",
            "dev",
            &self.client_dev,
            "root",
            "tbf",
            "rate",
            "8mbit",
            "burst",
            "16kb",
            "latency",
            &format!("{delay_ms}ms"),
        ])
        .expect("tbf");
        format!(
            "iptables random drop {loss_percent}% both ways, tbf 8mbit (no sch_netem here: no reordering)"
        )
    }

    fn try_netem(&self, spec: &str) -> Result<(), String> {
        let mut args = vec![
            "netns",
            "exec",
            &self.client_ns,
            "tc",
            "qdisc",
            "add",
            "dev",
            &self.client_dev,
            "root",
            "netem",
        ];
        args.extend(spec.split(' '));
        ip(&args)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.server_ns]);
        let _ = ip(&["netns", "del", &self.client_ns]);
    }
}

/// Held by each test for its whole run: the tests count the process's
/// threads and descriptors, which another test's 200 clients would upset.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The link, or a loud skip (a failure when namespaces are required),
/// with this test's turn (see [`SERIAL`]).
fn link_or_skip(test: &str) -> Option<(std::sync::MutexGuard<'static, ()>, Link)> {
    let turn = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match Link::new().map(|link| (turn, link)) {
        Ok(link) => Some(link),
        Err(why) => {
            let required = std::env::var("WSENGINE_REQUIRE_NETNS").as_deref() == Ok("1");
            assert!(
                !required,
                "{test}: network namespaces required but unavailable: {why}"
            );
            eprintln!(
                "\n*** SKIPPED {test}: no network namespaces ({why}); run as root with iproute2 ***\n"
            );
            None
        }
    }
}

fn threads_of_process() -> usize {
    support::thread_count()
}

/// The peer vanishes without a FIN (its link goes down): keepalive drops
/// the connection within ping_interval + ping_timeout, and its thread and
/// descriptor are released.
#[test]
fn keepalive_drops_a_peer_whose_link_went_down() {
    let Some((_turn, link)) = link_or_skip("keepalive_drops_a_peer_whose_link_went_down") else {
        return;
    };
    let (interval, timeout) = (Duration::from_millis(500), Duration::from_millis(700));
    let server = link.bind(
        Config::default()
            .with_ping_interval(Some(interval))
            .with_ping_timeout(Some(timeout)),
    );
    let port = server.local_addr().port();
    let client = link
        .connect(port, Config::default().with_ping_interval(None))
        .expect("connect");
    let conn = server
        .accept_timeout(Duration::from_secs(5))
        .expect("accept");
    conn.send("before").unwrap();
    assert_eq!(
        client.recv_timeout(Duration::from_secs(5)).unwrap(),
        Message::Text("before".into())
    );
    let (threads, fds) = (threads_of_process(), support::fd_count());

    let cut = Instant::now();
    link.cut();
    assert!(
        conn.wait_closed(interval + timeout + Duration::from_secs(3)),
        "still open {:?} after the link went down",
        cut.elapsed()
    );
    let took = cut.elapsed();
    let info = conn.close_info().unwrap();
    assert_eq!(info.code, CloseCode::ABNORMAL, "{info:?}");
    assert!(info.reason.contains("keepalive"), "{info:?}");
    // Pings start after `interval` of silence; the answer is due `timeout` later
    // (the timer may fire up to one interval late).
    assert!(
        took <= 2 * interval + timeout + Duration::from_secs(1),
        "took {took:?}"
    );
    drop(conn);
    assert!(
        eventually(Duration::from_secs(5), || server.connection_count() == 0),
        "the server still counts the connection"
    );
    // The server's side is gone: one reader thread and one socket fewer
    // (the client's side, in this process too, still waits: its link is down).
    assert!(
        eventually(Duration::from_secs(5), || support::fd_count() < fds),
        "descriptors {} (were {fds})",
        support::fd_count()
    );
    assert!(
        eventually(Duration::from_secs(5), || threads_of_process() < threads),
        "threads {} (were {threads})",
        threads_of_process()
    );
    drop(client);
}

/// A peer that stops answering during the close handshake (its link goes
/// down after the upgrade): the close timeout ends it.
#[test]
fn close_timeout_holds_when_the_peer_stops_answering() {
    let Some((_turn, link)) = link_or_skip("close_timeout_holds_when_the_peer_stops_answering")
    else {
        return;
    };
    let close_timeout = Duration::from_millis(800);
    let server = link.bind(Config::default().with_close_timeout(close_timeout));
    let port = server.local_addr().port();
    let client = link.connect(port, Config::default()).expect("connect");
    let conn = server
        .accept_timeout(Duration::from_secs(5))
        .expect("accept");
    link.cut();
    let started = Instant::now();
    assert!(conn.close(CloseCode::NORMAL, "bye").unwrap());
    assert!(conn.wait_closed(close_timeout + Duration::from_secs(3)));
    let took = started.elapsed();
    assert!(
        took >= close_timeout,
        "closed after {took:?}, before the timeout"
    );
    assert!(
        took <= close_timeout + Duration::from_secs(2),
        "took {took:?}"
    );
    let info = conn.close_info().unwrap();
    assert!(!info.clean, "{info:?}");
    drop(client);
}

/// 20% loss, 20 ms +- 10 ms delay and reordering, both ways (see
/// `Link::degrade` for what a kernel without netem gets): every message
/// of an echo exchange arrives intact and in order (TCP recovers; the
/// engine must never lose its place in the stream), or the connection
/// closes with a code and its unsent count says what was not sent.
#[test]
fn messages_survive_loss_delay_and_reordering() {
    let Some((_turn, link)) = link_or_skip("messages_survive_loss_delay_and_reordering") else {
        return;
    };
    let server = link.bind(Config::default());
    let port = server.local_addr().port();
    let echo = std::thread::spawn(move || {
        let conn = server
            .accept_timeout(Duration::from_secs(10))
            .expect("accept");
        while let Ok(m) = conn.recv() {
            if conn.send(m).is_err() {
                break;
            }
        }
        conn.unsent_count()
    });
    let client = link
        .connect(port, Config::default().with_ping_interval(None))
        .expect("connect");
    let applied = link.degrade(20, 20);
    eprintln!("degraded link: {applied}");
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seed = 7u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let mut sent = Vec::new();
    for i in 0..120u32 {
        let len = 1 + (next() % (if i % 10 == 0 { 200_000 } else { 2_000 })) as usize;
        let body: Vec<u8> = (0..len).map(|j| (j as u32 ^ i) as u8).collect();
        client.send(body.clone()).expect("send");
        sent.push(body);
    }
    let mut got = 0;
    while got < sent.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.recv_timeout(left) {
            Ok(Message::Binary(b)) => {
                assert!(b == sent[got], "echo {got} differs ({} bytes)", b.len());
                got += 1;
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(Error::ConnectionClosed(info)) => {
                // Allowed only as a reported failure: a code, and nothing
                // accepted silently dropped.
                assert_ne!(info.code, CloseCode::NORMAL, "{info:?}");
                eprintln!(
                    "closed after {got} echoes: {info:?}, unsent {}",
                    client.unsent_count()
                );
                break;
            }
            Err(e) => panic!("after {got} echoes within 90 s: {e}"),
        }
    }
    assert_eq!(got, sent.len(), "every echo arrived");
    client.close(CloseCode::NORMAL, "done").unwrap();
    assert!(client.wait_closed(Duration::from_secs(30)));
    assert_eq!(client.unsent_count(), 0);
    assert_eq!(
        echo.join().unwrap(),
        0,
        "the server sent every echo it accepted"
    );
}

/// The server restarts on the same address under 200 clients: each gets
/// 1001, reconnects, and echoes again.
#[test]
fn two_hundred_clients_come_back_after_a_server_restart() {
    let Some((_turn, link)) = link_or_skip("two_hundred_clients_come_back_after_a_server_restart")
    else {
        return;
    };
    let config = || Config::default().with_ping_interval(None);
    let server = link.bind(config());
    let port = server.local_addr().port();
    // Echo every connection of `server` on a thread each, until it shuts down.
    let serve = |server: std::sync::Arc<Server>| {
        std::thread::spawn(move || {
            while let Ok(conn) = server.accept() {
                std::thread::spawn(move || {
                    while let Ok(m) = conn.recv() {
                        let _ = conn.send(m);
                    }
                });
            }
        })
    };
    let server = std::sync::Arc::new(server);
    let accepting = {
        let server = std::sync::Arc::clone(&server);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while let Ok(conn) = server.accept() {
                held.push(conn);
            }
            held
        })
    };
    let clients: Vec<Conn> = (0..200)
        .map(|_| link.connect(port, config()).expect("connect"))
        .collect();
    assert!(eventually(Duration::from_secs(10), || server
        .connection_count()
        == 200));
    // Restart: shut down (1001 to everyone), then bind the same address.
    server.shutdown();
    drop(accepting.join().unwrap());
    for c in &clients {
        assert!(c.wait_closed(Duration::from_secs(10)));
        assert_eq!(c.close_info().unwrap().code, CloseCode::GOING_AWAY);
    }
    drop(server);
    let restarted = std::sync::Arc::new(
        link.bind_at(port, config())
            .expect("bind the same port again"),
    );
    let echoing = serve(std::sync::Arc::clone(&restarted));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut back = Vec::new();
    for _ in 0..200 {
        let conn = loop {
            match link.connect(port, config()) {
                Ok(c) => break c,
                Err(e) => {
                    assert!(Instant::now() < deadline, "could not reconnect: {e}");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        };
        back.push(conn);
    }
    for (i, c) in back.iter().enumerate() {
        c.send(format!("again {i}")).unwrap();
    }
    for (i, c) in back.iter().enumerate() {
        assert_eq!(
            c.recv_timeout(Duration::from_secs(10)).unwrap(),
            Message::Text(format!("again {i}"))
        );
    }
    drop(back);
    restarted.shutdown();
    echoing.join().unwrap();
}

/// A reconnecting client whose link goes down: its keepalive notices
/// (1006), attempts fail while the link is down, and when the link
/// returns it reconnects and echoes again.
#[test]
fn a_reconnecting_client_comes_back_when_its_link_does() {
    let Some((_turn, link)) = link_or_skip("a_reconnecting_client_comes_back_when_its_link_does")
    else {
        return;
    };
    let server = link.bind(Config::default().with_ping_interval(None));
    let port = server.local_addr().port();
    let server = std::sync::Arc::new(server);
    let s = std::sync::Arc::clone(&server);
    std::thread::spawn(move || {
        while let Ok(conn) = s.accept() {
            std::thread::spawn(move || {
                while let Ok(m) = conn.recv() {
                    let _ = conn.send(m);
                }
            });
        }
    });
    let config = Config::default()
        .with_proxy(Proxy::Direct)
        .with_ping_interval(Some(Duration::from_millis(300)))
        .with_ping_timeout(Some(Duration::from_millis(500)))
        .with_connect_timeout(Duration::from_millis(500))
        .with_reconnect(
            ReconnectPolicy::default()
                .with_min_delay(Duration::from_millis(100))
                .with_max_delay(Duration::from_millis(400))
                .with_seed(Some(3)),
        );
    let url = format!("ws://{}:{port}/", link.server_ip);
    // Made inside the client's namespace: its thread (and every attempt)
    // stays there.
    let client = Link::inside(&link.client_ns, move || Client::connect(&url, config)).unwrap();
    let next = |client: &Client| match client.poll(Duration::from_secs(10)) {
        Ok(Some(event)) => event,
        other => panic!("no event: {other:?}"),
    };
    assert!(matches!(
        next(&client),
        ClientEvent::Connected { reconnected: false }
    ));
    client.send("one").unwrap();
    assert!(matches!(next(&client), ClientEvent::Message(Message::Text(t)) if t == "one"));

    link.cut();
    let cut = Instant::now();
    match next(&client) {
        ClientEvent::Reconnecting {
            attempt: 1, cause, ..
        } => {
            assert!(
                cause.contains("1006") && cause.contains("keepalive"),
                "{cause}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        cut.elapsed() < Duration::from_secs(3),
        "{:?}",
        cut.elapsed()
    );
    // Attempts fail while the link is down.
    assert!(matches!(
        next(&client),
        ClientEvent::Reconnecting { attempt: 2, .. }
    ));
    link.restore();
    loop {
        match next(&client) {
            ClientEvent::Reconnecting { .. } => continue,
            ClientEvent::Connected { reconnected } => {
                assert!(reconnected);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    client.send("two").unwrap();
    assert!(matches!(next(&client), ClientEvent::Message(Message::Text(t)) if t == "two"));
    client.close(CloseCode::NORMAL, "done").unwrap();
    assert!(matches!(next(&client), ClientEvent::Closed { .. }));
    server.shutdown();
}
