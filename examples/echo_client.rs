//! A line-based client: each line of standard input is sent as a text
//! message; every message received is printed.
//!
//! ```sh
//! cargo run --release --example echo_client -- ws://127.0.0.1:9001/
//! cargo run --release --example echo_client -- wss://localhost:9001/ --ca ca.pem \
//!     [--cert client.pem --key client.key]
//! ```
//! `--ca` trusts a CA besides the system's; `--cert` and `--key` present a
//! client certificate. End of input closes the connection normally.

use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;

use wsengine::tls::ClientTls;
use wsengine::{Config, Message, connect};

/// `URL` and the TLS options.
fn parse_args() -> Result<(String, ClientTls), String> {
    let mut url = None;
    let (mut ca, mut cert, mut key) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--ca" => &mut ca,
            "--cert" => &mut cert,
            "--key" => &mut key,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ => {
                url = Some(arg);
                continue;
            }
        };
        *slot = Some(args.next().ok_or(format!("{arg} needs a file"))?);
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
    Ok((url.ok_or("a URL is needed")?, tls))
}

fn main() {
    let (url, tls) = parse_args().unwrap_or_else(|e| {
        eprintln!("echo_client: {e}");
        eprintln!("usage: echo_client URL [--ca FILE] [--cert FILE --key FILE]");
        std::process::exit(2);
    });
    let conn = match connect(&url, Config::default().with_client_tls(tls)) {
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
                    Ok(Message::Text(t)) => println!("{t}"),
                    Ok(Message::Binary(b)) => println!("<{} bytes of binary>", b.len()),
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
