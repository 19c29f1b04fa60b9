//! Echo server: every text message comes back as text, binary as binary.
//!
//! ```sh
//! cargo run --release --example echo_server -- [ADDR]   # default 127.0.0.1:9001
//! ```
//! Accepts any path and messages up to 64 MiB; runs until killed (Ctrl-C).

use std::sync::Arc;

use wsengine::{Config, Server};

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_string());
    let config = Config::default().with_max_message_size(64 << 20);
    let server = match Server::bind(&addr, config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("echo_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!("echo_server listening on ws://{}", server.local_addr());
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
