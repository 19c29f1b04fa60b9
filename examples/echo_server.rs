//! Echo server: every text message comes back as text, binary as binary.
//!
//! ```sh
//! cargo run --release --example echo_server -- [ADDR]   # default 127.0.0.1:9001
//! cargo run --release --example echo_server -- [ADDR] --tls-cert cert.pem --tls-key key.pem \
//!     [--tls-client-ca ca.pem]                            # wss://, mutual TLS with a client CA
//! ```
//! Accepts any path and messages up to 64 MiB; runs until killed (Ctrl-C).

use std::sync::Arc;

use wsengine::tls::{ClientCertificates, ServerTls};
use wsengine::{Config, Server};

/// `ADDR` and the `--tls-*` options.
fn parse_args() -> Result<(String, Option<ServerTls>), String> {
    let mut addr = "127.0.0.1:9001".to_string();
    let (mut cert, mut key, mut client_ca) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--tls-cert" => &mut cert,
            "--tls-key" => &mut key,
            "--tls-client-ca" => &mut client_ca,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ => {
                addr = arg;
                continue;
            }
        };
        *slot = Some(args.next().ok_or(format!("{arg} needs a file"))?);
    }
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => {
            let tls = ServerTls::from_pem_files(cert, key).map_err(|e| e.to_string())?;
            Some(match client_ca {
                Some(ca) => tls
                    .with_client_ca_file(ca, ClientCertificates::Required)
                    .map_err(|e| e.to_string())?,
                None => tls,
            })
        }
        (None, None) if client_ca.is_none() => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    Ok((addr, tls))
}

fn main() {
    let (addr, tls) = parse_args().unwrap_or_else(|e| {
        eprintln!("echo_server: {e}");
        eprintln!(
            "usage: echo_server [ADDR] [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]"
        );
        std::process::exit(2);
    });
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let config = Config::default()
        .with_max_message_size(64 << 20)
        .with_server_tls(tls);
    let server = match Server::bind(&addr, config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("echo_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "echo_server listening on {scheme}://{}",
        server.local_addr()
    );
    while let Ok(conn) = server.accept() {
        let conn = Arc::new(conn);
        let spawned = std::thread::Builder::new()
            .stack_size(128 << 10)
            .spawn(move || {
                while let Ok(message) = conn.recv() {
                    if conn.send(message).is_err() {
                        break;
                    }
                }
            });
        if let Err(e) = spawned {
            eprintln!("echo_server: cannot start a thread: {e}");
        }
    }
}
