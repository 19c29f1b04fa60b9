//! A line-based client: each line of standard input is sent as a text
//! message; every message received is printed.
//!
//! ```sh
//! cargo run --release --example echo_client -- ws://127.0.0.1:9001/
//! ```
//! End of input closes the connection normally.

use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;

use wsengine::{Config, Message, connect};

fn main() {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: echo_client URL   (e.g. ws://127.0.0.1:9001/)");
        std::process::exit(2);
    };
    let conn = match connect(&url, Config::default()) {
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
