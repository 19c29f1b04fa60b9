//! The Autobahn TestSuite client: runs every case the fuzzing server offers
//! by echoing its messages, then asks it to write its reports.
//!
//! ```sh
//! cargo run --release --example autobahn_client -- [URL]   # default ws://127.0.0.1:9001
//! ```

use wsengine::{Config, DeflateConfig, Error, connect};

const AGENT: &str = "wsengine";

fn main() {
    let base = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("AUTOBAHN_URL").ok())
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_string());
    let base = base.trim_end_matches('/');
    // Full 32 KiB windows, and an offer that lets the server ask us not to
    // take over context: the suite's compression cases (13.*) accept only
    // offers that allow what each case asks of the client.
    let deflate = DeflateConfig::default()
        .with_server_max_window_bits(15)
        .with_client_max_window_bits(15)
        .with_client_no_context_takeover(true);
    let config = Config::default()
        .with_max_message_size(64 << 20)
        .with_deflate(deflate);

    let count =
        match connect(&format!("{base}/getCaseCount"), config.clone()).and_then(|c| c.recv()) {
            Ok(m) => m
                .as_text()
                .and_then(|t| t.trim().parse::<u32>().ok())
                .unwrap_or(0),
            Err(e) => {
                eprintln!("autobahn_client: getCaseCount failed: {e}");
                std::process::exit(1);
            }
        };
    eprintln!("autobahn_client: {count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={AGENT}");
        match connect(&url, config.clone()) {
            Ok(conn) => loop {
                match conn.recv() {
                    Ok(m) => {
                        if conn.send(m).is_err() {
                            break;
                        }
                    }
                    Err(Error::ConnectionClosed(_)) => break,
                    Err(e) => {
                        eprintln!("case {case}: {e}");
                        break;
                    }
                }
            },
            Err(e) => eprintln!("case {case}: connect failed: {e}"),
        }
    }
    match connect(
        &format!("{base}/updateReports?agent={AGENT}"),
        config.clone(),
    ) {
        Ok(conn) => {
            let _ = conn.recv();
        }
        Err(e) => {
            eprintln!("autobahn_client: updateReports failed: {e}");
            std::process::exit(1);
        }
    }
}
