//! A line-based client: each line of standard input is sent as a text
//! message; every message received is printed.
//!
//! ```sh
//! cargo run --release --example echo_client -- ws://127.0.0.1:9001/
//! cargo run --release --example echo_client -- wss://localhost:9001/ --ca ca.pem \
//!     [--cert client.pem --key client.key]
//! cargo run --release --example echo_client -- ws://example.test/ \
//!     --proxy socks5h://127.0.0.1:1080
//! ```
//! `--ca` trusts a CA besides the system's; `--cert` and `--key` present a
//! client certificate; `--proxy URL` goes through that proxy (`http://`,
//! `socks5://`, `socks5h://`, `direct` for none; without it, the
//! `*_proxy` variables decide); `--reconnect` reconnects after a drop
//! (a server restart, a dead link) and keeps lines typed meanwhile (up to
//! 100) for the next connection. End of input closes the connection
//! normally.

use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;

use wsengine::tls::ClientTls;
use wsengine::{Client, ClientEvent, Config, Message, Proxy, ReconnectPolicy, connect};

/// What the command line asks for.
struct Args {
    url: String,
    tls: ClientTls,
    proxy: Proxy,
    reconnect: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut url = None;
    let (mut ca, mut cert, mut key, mut proxy) = (None, None, None, None);
    let mut reconnect = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--reconnect" => {
                reconnect = true;
                continue;
            }
            "--ca" => &mut ca,
            "--cert" => &mut cert,
            "--key" => &mut key,
            "--proxy" => &mut proxy,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ => {
                url = Some(arg);
                continue;
            }
        };
        *slot = Some(args.next().ok_or(format!("{arg} needs a value"))?);
    }
    let mut tls = ClientTls::default();
    if let Some(ca) = ca {
        tls = tls.with_ca_file(ca).map_err(|e| e.to_string())?;
    }
    match (cert, key) {
        (Some(cert), Some(key)) => {
            tls = tls
                .with_client_certificate_files(cert, key)
                .map_err(|e| e.to_string())?;
        }
        (None, None) => {}
        _ => return Err("--cert and --key go together".into()),
    }
    let proxy = match proxy.as_deref() {
        None => Proxy::FromEnvironment,
        Some("direct") => Proxy::Direct,
        Some(url) => Proxy::Url(url.to_owned()),
    };
    Ok(Args {
        url: url.ok_or("a URL is needed")?,
        tls,
        proxy,
        reconnect,
    })
}

fn print(message: Message) {
    match message {
        Message::Text(t) => println!("{t}"),
        Message::Binary(b) => println!("<{} bytes of binary>", b.len()),
    }
}

fn main() {
    let Args {
        url,
        tls,
        proxy,
        reconnect,
    } = parse_args().unwrap_or_else(|e| {
        eprintln!("echo_client: {e}");
        eprintln!(
            "usage: echo_client URL [--ca FILE] [--cert FILE --key FILE] [--proxy URL|direct] [--reconnect]"
        );
        std::process::exit(2);
    });
    let config = Config::default().with_client_tls(tls).with_proxy(proxy);
    if reconnect {
        let policy = ReconnectPolicy::default().with_replay_messages(100);
        return reconnecting(&url, config.with_reconnect(policy));
    }
    let conn = match connect(&url, config) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("echo_client: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("connected to {url}");
    let printer = {
        let conn = Arc::clone(&conn);
        std::thread::spawn(move || {
            loop {
                match conn.recv() {
                    Ok(message) => print(message),
                    Err(e) => {
                        eprintln!("{e}");
                        break;
                    }
                }
            }
        })
    };
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if let Err(e) = conn.send(line) {
            eprintln!("send failed: {e}");
            break;
        }
    }
    let _ = conn.close(1000u16, "bye");
    conn.wait_closed(Duration::from_secs(5));
    let _ = printer.join();
}

/// `--reconnect`: a `Client` whose events are printed by one thread while
/// this one sends the lines of standard input.
fn reconnecting(url: &str, config: Config) {
    let client = match Client::connect(url, config) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("echo_client: {e}");
            std::process::exit(1);
        }
    };
    let printer = {
        let client = Arc::clone(&client);
        std::thread::spawn(move || {
            while let Ok(event) = client.poll(Duration::MAX) {
                match event {
                    Some(ClientEvent::Message(m)) => print(m),
                    Some(ClientEvent::Connected { reconnected }) => {
                        let again = if reconnected { "re" } else { "" };
                        eprintln!("{again}connected to {}", client.url());
                    }
                    Some(ClientEvent::Reconnecting {
                        attempt,
                        delay,
                        cause,
                        ..
                    }) => eprintln!("{cause}; reconnecting in {delay:.1?} (attempt {attempt})"),
                    Some(ClientEvent::Closed { cause, unsent, .. }) => {
                        eprintln!("closed: {cause} ({} lines not sent)", unsent.len());
                        break;
                    }
                    _ => {}
                }
            }
        })
    };
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if let Err(e) = client.send(line) {
            eprintln!("not sent: {e}");
        }
    }
    // Echoes still on their way arrive before the close completes.
    let _ = client.close(1000u16, "bye");
    let _ = printer.join();
}
