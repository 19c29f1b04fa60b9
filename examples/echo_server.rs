//! Echo server: every text message comes back as text, binary as binary.
//!
//! ```sh
//! cargo run --release --example echo_server -- [ADDR]   # default 127.0.0.1:9001
//! cargo run --release --example echo_server -- [ADDR] --tls-cert cert.pem --tls-key key.pem \
//!     [--tls-client-ca ca.pem]                            # wss://, mutual TLS with a client CA
//! cargo run --release --example echo_server -- [ADDR] --poll      # the poll API
//! cargo run --release --example echo_server -- [ADDR] --threads   # recv/send, a thread per connection
//! ```
//! By default the echo runs in handler mode (`Server::serve`): on each
//! connection's own reader thread, the fastest way. `--poll` serves every
//! connection from one loop calling `Server::poll`; `--threads` gives each
//! connection a thread of the application's calling `recv` and `send`.
//! Accepts any path and messages up to 64 MiB; runs until killed (Ctrl-C).

use std::sync::Arc;
use std::time::Duration;

use wsengine::tls::{ClientCertificates, ServerTls};
use wsengine::{Config, Conn, Message, Server, ServerEvent};

/// How the application's code runs.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Handler,
    Poll,
    Threads,
}

/// `ADDR`, the mode and the `--tls-*` options.
fn parse_args() -> Result<(String, Mode, Option<ServerTls>), String> {
    let mut addr = "127.0.0.1:9001".to_string();
    let mut mode = Mode::Handler;
    let (mut cert, mut key, mut client_ca) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--poll" => {
                mode = Mode::Poll;
                continue;
            }
            "--threads" => {
                mode = Mode::Threads;
                continue;
            }
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
    Ok((addr, mode, tls))
}

fn main() {
    let (addr, mode, tls) = parse_args().unwrap_or_else(|e| {
        eprintln!("echo_server: {e}");
        eprintln!(
            "usage: echo_server [ADDR] [--poll | --threads] [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]"
        );
        std::process::exit(2);
    });
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let config = Config::default()
        .with_max_message_size(64 << 20)
        .with_server_tls(tls)
        .with_poll_events(mode == Mode::Poll);
    let started = match mode {
        Mode::Handler => Server::serve(&addr, config, |conn: &Arc<Conn>, message: Message| {
            // Fails only once the connection is closing: nothing to do then.
            let _ = conn.send(message);
        }),
        Mode::Poll | Mode::Threads => Server::bind(&addr, config),
    };
    let server = match started {
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
    match mode {
        // The connection threads do everything; this one only waits.
        Mode::Handler => loop {
            std::thread::park();
        },
        Mode::Poll => {
            // One loop serves every connection. A poll-mode send never waits
            // (a full send queue fails it), so a client that does not read
            // its echoes loses them, and delays nobody else.
            while let Ok(event) = server.poll(Duration::MAX) {
                if let Some(ServerEvent::Message(conn, message)) = event {
                    let _ = conn.send(message);
                }
            }
        }
        Mode::Threads => {
            while let Ok(conn) = server.accept() {
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
    }
}
